#!/bin/bash
# SPDX-License-Identifier: MIT
# The arrows of helper/layers hold (doc/architecture.md): every #include
# names a folder its library may include from, base includes only base,
# core never includes cmd, proxy or broker, a module's private header
# (NAME_int.h) stays in its folder, and the build's include views really
# make a wrong-way include fail to compile.
. "$(dirname "$0")/lib.sh"

LAYERS="$abs_top_srcdir/helper/layers"
VIEWS="$abs_top_builddir/helper-views"

# sees FOLDER: every folder that a library built from FOLDER may include.
sees() {
	awk -v src="$1" '!/^#/ && $2 == src { for (i = 3; i <= NF; i++) print $i }' "$LAYERS" | sort -u
}

# includes_of FILE: the project folders FILE includes from.
includes_of() {
	sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"/]*\)\/[^"]*".*/\1/p' "$1" | sort -u
}

test_every_include_follows_helper_layers() {
	local f dir folder bad=""
	local -A may
	cd "$abs_top_srcdir" || return 1
	# "FILE FOLDER" for each project folder a file includes from (one grep
	# for all files, as includes_of reads each)
	while read -r f folder; do
		dir=${f%/*}
		dir=${dir#helper}
		dir=${dir#/}
		[ -n "$dir" ] || dir=.
		[ "$dir" = "$f" ] && dir=.
		case $f in pam/*) dir=pam ;; esac
		[ -n "${may[$dir]+set}" ] || may[$dir]=" $(sees "$dir" | tr '\n' ' ') "
		[[ ${may[$dir]} == *" $folder "* ]] || bad="$bad $f->$folder"
	done < <(grep -H -o '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"/]*/[^"]*"' \
		helper/main.c helper/*/*.[ch] pam/*.[ch] | sed 's|^\([^:]*\):[^"]*"\([^"/]*\)/.*|\1 \2|' | sort -u)
	[ -z "$bad" ] && return 0
	diag "includes against helper/layers:$bad"
	return 1
}

# The direction rules, stated here so that helper/layers cannot drift
# from them unnoticed.
test_base_sees_only_base() {
	[ "$(sees base | tr '\n' ' ')" = "base " ] || { diag "base sees: $(sees base | tr '\n' ' ')"; return 1; }
}
test_core_sees_no_cmd_proxy_or_broker() {
	local bad
	bad=$(sees core | grep -x -e cmd -e proxy -e broker -e pam | tr '\n' ' ')
	[ -z "$bad" ] || { diag "core sees: $bad"; return 1; }
}
test_modules_see_only_base_and_their_own_folder() {
	local m own bad=""
	for m in net-module:net proxy-module:proxy secret-module:store; do
		own=${m#*:}
		bad="$bad$(awk -v lib="${m%%:*}" '$1 == lib { for (i = 3; i <= NF; i++) print $i }' "$LAYERS" |
			grep -vx -e base -e "$own" | sed "s|^|${m%%:*}->|" | tr '\n' ' ')"
	done
	[ -z "$bad" ] || { diag "$bad"; return 1; }
}
test_no_folder_sees_cmd_but_cmd_and_main() {
	local bad
	bad=$(awk '!/^#/ && NF > 2 && $1 != "cmd" && $1 != "main" && $1 != "tests" {
		for (i = 3; i <= NF; i++) if ($i == "cmd") print $1 }' "$LAYERS" | tr '\n' ' ')
	[ -z "$bad" ] || { diag "$bad"; return 1; }
}
test_arrows_have_no_cycle() {
	# folder A -> B when a library built from A sees B; tsort finds cycles
	awk '!/^#/ && NF > 2 && $1 != "tests" { for (i = 3; i <= NF; i++) if ($i != $2) print $2, $i }' \
		"$LAYERS" | sed 's/^\. /main /' | tsort >/dev/null 2>"$ERR" && return 0
	diag "$(tr '\n' ' ' <"$ERR")"
	return 1
}

# (the unit suites in tests/ may open a folder's private header to test it)
test_private_headers_stay_in_their_folder() {
	local f h bad=""
	cd "$abs_top_srcdir" || return 1
	for f in helper/main.c helper/*/*.[ch] pam/*.[ch]; do
		for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*_int\.h\)".*/\1/p' "$f"); do
			case $f in helper/"${h%%/*}"/*) ;; *) bad="$bad $f->$h" ;; esac
		done
	done
	[ -z "$bad" ] || { diag "private headers used outside their folder:$bad"; return 1; }
}

# compiles LIBRARY SOURCE: whether SOURCE compiles with LIBRARY's view.
compiles() {
	printf '%s\n' "$2" >"$TMPROOT/probe.c"
	${CC:-cc} -fsyntax-only -D_GNU_SOURCE -I"$VIEWS/$1" "$TMPROOT/probe.c" 2>"$ERR"
}
test_a_wrong_way_include_does_not_compile() {
	[ -d "$VIEWS/core" ] || { diag "no include views in $VIEWS"; return 1; }
	compiles cmd '#include "cmd/tools.h"' || { diag "cmd cannot include its own header: $(head -c 300 "$ERR")"; return 1; }
	! compiles core '#include "cmd/tools.h"' || { diag "core compiled with cmd/tools.h"; return 1; }
	! compiles base '#include "conf/conf.h"' || { diag "base compiled with conf/conf.h"; return 1; }
}

t test_every_include_follows_helper_layers
t test_base_sees_only_base
t test_core_sees_no_cmd_proxy_or_broker
t test_modules_see_only_base_and_their_own_folder
t test_no_folder_sees_cmd_but_cmd_and_main
t test_arrows_have_no_cycle
t test_private_headers_stay_in_their_folder
t test_a_wrong_way_include_does_not_compile
finish
