#!/bin/bash
# SPDX-License-Identifier: MIT
# Man pages render without warnings (groff -ww, mandoc -Tlint), and the
# options of --help and of every command's help agree with
# dashscope-credential(1), both ways.
. "$(dirname "$0")/lib.sh"

MAN="$abs_top_srcdir/man"
PAGES="$MAN/dashscope-credential.1 $MAN/dashscope-credential.conf.5 $MAN/pam_dashscope.8
	$MAN/dashscope-credential-broker.8"

test_man_pages_render_without_groff_warnings() {
	local p out
	command -v groff >/dev/null || { echo "# groff missing"; return 1; }
	for p in $PAGES; do
		out=$(groff -man -ww -z "$p" 2>&1)
		[ -z "$out" ] || { diag "$out"; return 1; }
	done
}
# as man(1) sets them for a terminal of 60, 70, 80 columns (its width when
# there is no terminal), 100 and 120: long paths must not leave a line
# that cannot be adjusted or broken (below 78 columns the pages are set
# ragged right)
test_man_pages_render_on_terminals_without_warnings() {
	local p out w
	command -v groff >/dev/null || { echo "# groff missing"; return 1; }
	for p in $PAGES; do
		for w in 60 70 80 100 120; do
			out=$(groff -man -Tutf8 -ww -z -rLL=$((w - 2))n "$p" 2>&1)
			[ -z "$out" ] || { diag "$w columns: $out"; return 1; }
		done
	done
}
test_man_pages_pass_mandoc_lint() {
	local p out
	command -v mandoc >/dev/null || { echo "# mandoc missing"; return 1; }
	for p in $PAGES; do
		out=$(mandoc -Tlint -W warning "$p" 2>&1)
		[ -z "$out" ] || { diag "$out"; return 1; }
	done
}

help_options() {
	local c
	{
		"$DS" --help
		for c in add list remove token env exec regions doctor get store erase capability broker status setup proxy rotate; do
			"$DS" "$c" --help
		done
	} | grep -oE -- '--[a-z][a-z-]*' | sort -u
}
man_options() {
	# options as the page writes them: \-\-name (examples aside: they
	# also show other programs' options, such as qwen --auth-type)
	sed '/^\.EX/,/^\.EE/d' "$MAN/dashscope-credential.1" |
		grep -oE -- '\\-\\-[a-z][a-z\\-]*' | sed 's/\\//g' | sort -u
}
test_every_help_option_is_in_the_man_page() {
	local missing
	missing=$(comm -23 <(help_options) <(man_options))
	[ -z "$missing" ] || { diag "not in dashscope-credential.1: $missing"; return 1; }
}
test_every_man_page_option_is_in_help() {
	local extra
	extra=$(comm -13 <(help_options) <(man_options))
	[ -z "$extra" ] || { diag "not in --help: $extra"; return 1; }
}
test_every_command_is_in_the_man_page() {
	local c
	for c in add list remove token env exec regions doctor get store erase capability broker status setup proxy rotate; do
		grep -qE "^\.(B|TP|BR|BI).*\b$c\b" "$MAN/dashscope-credential.1" || { diag "$c not documented"; return 1; }
	done
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	t "$f"
done
finish
