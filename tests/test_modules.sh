#!/bin/bash
# SPDX-License-Identifier: MIT
# Modules need nothing from the program (issue 23): every symbol a module
# (.libs/dscred-*.so) takes from elsewhere is defined by a library it
# names itself (DT_NEEDED: libc, libcurl, ...), each module exports its
# one table, and the program exports nothing of its own, so no module can
# lean on it. Skipped when binutils' nm/readelf or ldd are missing.
. "$(dirname "$0")/lib.sh"

for tool in nm readelf ldd; do
	command -v "$tool" >/dev/null || skip_all "$tool is missing"
done
MODULES=$(ls "$abs_top_builddir"/.libs/dscred-*.so 2>/dev/null)
[ -n "$MODULES" ] || skip_all "no module is built"

# The paths of the libraries FILE names in DT_NEEDED, as the loader finds
# them; a name it cannot find is printed as "missing:NAME".
needed_paths() {
	local names
	names=$(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
	ldd "$1" | awk -v names="$names" '
		BEGIN { n = split(names, a, "\n"); for (i = 1; i <= n; i++) want[a[i]] = 1 }
		$2 == "=>" && ($1 in want) && $3 ~ /^\// { print $3; delete want[$1] }
		END { for (w in want) print "missing:" w }'
}

# Under check-sanitizers a module calls the sanitizer runtime, which
# clang links into the program alone: those calls are the build's, not
# ours.
SAN_RUNTIME='^$'
[ -n "${DS_SANITIZERS:-}" ] && SAN_RUNTIME='^__(asan|ubsan|lsan|sanitizer)_'

# What FILE takes from elsewhere: its undefined symbols but the weak ones
# (w, v: they may stay unresolved), the version cut off.
undefined_of() {
	nm -D --undefined-only "$1" | awk '$1 == "U" { sub(/@.*/, "", $2); print $2 }' |
		grep -vE "$SAN_RUNTIME" | sort -u
}

# What the files given define for others, versions cut off.
defined_in() {
	local f
	for f; do nm -D --defined-only "$f"; done |
		awk 'NF >= 3 && $2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u
}

test_each_module_needs_nothing_from_the_program() {
	local m libs foreign bad=0
	for m in $MODULES; do
		libs=$(needed_paths "$m")
		if printf '%s\n' "$libs" | grep -q '^missing:'; then
			diag "$(basename "$m"): $(printf '%s\n' "$libs" | grep '^missing:' | tr '\n' ' ')"
			bad=1
			continue
		fi
		# shellcheck disable=SC2086 # one path a word
		foreign=$(comm -23 <(undefined_of "$m") <(defined_in $libs))
		[ -z "$foreign" ] && continue
		diag "$(basename "$m") needs what none of its libraries defines: $(printf '%s ' $foreign)"
		bad=1
	done
	return $bad
}

test_each_module_exports_only_its_table() {
	local m extra bad=0
	for m in $MODULES; do
		extra=$(nm -D --defined-only "$m" | awk 'NF >= 3 && $2 != "A" { print $3 }' |
			grep -v '^dscred_[a-z_]*$')
		[ "$(nm -D --defined-only "$m" | grep -c ' dscred_')" = 1 ] ||
			{ diag "$(basename "$m") exports no table, or more than one"; bad=1; }
		[ -z "$extra" ] || { diag "$(basename "$m") exports $(printf '%s ' $extra)"; bad=1; }
	done
	return $bad
}

# A program linked without -export-dynamic exports only what the linker
# must: its own markers (_IO_stdin_used, __bss_start, _edata, _end, ...)
# and variables of libraries copied into it (stderr, optind: copy
# relocations, which carry their library's symbol version, name@VERSION).
# Anything else is one of ours, there for a module to call.
test_program_exports_nothing_of_its_own() {
	local ours
	# a sanitizer runtime linked into the program exports its interceptors
	[ -n "${DS_SANITIZERS:-}" ] && return 77
	[ "$(head -c 4 "$DS_REAL")" = $'\x7fELF' ] || { diag "$DS_REAL is not an ELF file"; return 1; }
	ours=$(nm -D --defined-only "$DS_REAL" | awk 'NF >= 3 { print $3 }' | grep -v '@' |
		grep -vxE '_IO_stdin_used|__bss_start|_edata|_end|__data_start|data_start|_init|_fini|_start|__dso_handle')
	[ -z "$ours" ] && return 0
	diag "the program exports $(printf '%s\n' "$ours" | wc -l) symbols: $(printf '%s ' $ours | head -c 300)"
	return 1
}

t test_each_module_needs_nothing_from_the_program
t test_each_module_exports_only_its_table
t test_program_exports_nothing_of_its_own
finish
