#!/bin/bash
# SPDX-License-Identifier: MIT
# The completions of completions/ in the real shells: bash through
# bash-completion and COMP_WORDS/COMP_CWORD, zsh through compinit (the
# function is registered for the command) with compadd captured, fish
# through `complete -C`. Profile names come from the built binary.
. "$(dirname "$0")/lib.sh"

COMPL="$abs_top_srcdir/completions"
fresh_user
add_key work sk-test-ok-compl-1 --region sg || bail_out "could not store a test key"
add_key cn.backup sk-test-ok-compl-2 --region beijing || bail_out "could not store a test key"
# the scripts run dashscope-credential as typed: the built one
mkdir -p "$TMPROOT/path"
ln -s "$DS" "$TMPROOT/path/dashscope-credential"
export PATH="$TMPROOT/path:$PATH"

COMMANDS="add broker capability doctor env erase exec get list proxy regions remove rotate setup status store token"
REGIONS=$("$DS" regions --json | python3 -c 'import json,sys; print(" ".join(sorted(sum(([r["id"]] + r["aliases"] for r in json.load(sys.stdin)), []))))')

# expect_words GOT WANT: both are word lists, compared as sorted sets.
expect_words() {
	local got want
	got=$(tr ' \t' '\n\n' <<<"$1" | grep -v '^$' | sort -u | tr '\n' ' ')
	want=$(tr ' ' '\n' <<<"$2" | grep -v '^$' | sort -u | tr '\n' ' ')
	[ "$got" = "$want" ] && return 0
	diag "got:  $got"
	diag "want: $want"
	return 1
}

# ---- bash ----
bash_complete() {
	bash --norc --noprofile -c '
		[ -r /usr/share/bash-completion/bash_completion ] && . /usr/share/bash-completion/bash_completion
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		complete -p dashscope-credential >/dev/null || exit 3
		_dashscope_credential dashscope-credential "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"' _ "$COMPL/bash/dashscope-credential" dashscope-credential "$@"
}
test_bash_completes_commands() { expect_words "$(bash_complete "")" "$COMMANDS"; }
test_bash_completes_profile_names_after_p() { expect_words "$(bash_complete -p "")" "cn.backup work"; }
test_bash_completes_profile_names_for_remove() { expect_words "$(bash_complete remove w)" "work"; }
test_bash_completes_regions_and_aliases() {
	expect_words "$(bash_complete token --region "")" "$REGIONS" &&
		expect_words "$(bash_complete -r sin)" "singapore"
}
test_bash_completes_shells() { expect_words "$(bash_complete env --shell "")" "sh fish csh dotenv json pam"; }
test_bash_completes_the_last_for_item() {
	expect_words "$(bash_complete env --for openai,an)" "openai,anthropic"
}
test_bash_completes_command_options() {
	expect_words "$(bash_complete doctor --o)" "--online" &&
		expect_words "$(bash_complete setup "")" "claude-code qwen-code codex" &&
		expect_words "$(bash_complete -p work st)" "status store"
}
test_bash_completes_broker_and_system_options() {
	expect_words "$(bash_complete list --s)" "--system" &&
		expect_words "$(bash_complete broker --l)" "--listen --log-stderr --lifetime"
}
test_bash_completes_the_command_exec_runs() {
	bash_complete exec --for openai bas | grep -qx bash
}

# ---- zsh ----
zsh_complete() {
	zsh -f -c '
		fpath=("$1" $fpath); shift
		autoload -Uz compinit && compinit -u -d "$TMPROOT/zcompdump"
		[[ ${_comps[dashscope-credential]} == _dashscope-credential ]] || exit 3
		# outside a completion widget compadd cannot run: capture what the
		# function would offer, honouring -P and -a
		compadd() {
			local p= arr=0 a
			while (( $# )); do
				case $1 in
				(-P) p=$2; shift 2 ;;
				(-S|-J|-X|-d) shift 2 ;;
				(-a) arr=1; shift ;;
				(--) shift; break ;;
				(-*) shift ;;
				(*) break ;;
				esac
			done
			if (( arr )); then for a; do print -rl -- ${(P)a}; done
			else for a; do print -r -- "$p$a"; done; fi
		}
		_command_names() { print -r -- "<command>"; }
		_files() { print -r -- "<file>"; }
		words=(dashscope-credential "$@"); CURRENT=${#words}
		_dashscope-credential | while read -r w; do [[ $w == ${words[CURRENT]}* || $w == "<"* ]] && print -r -- $w; done
	' _ "$COMPL/zsh" "$@"
}
test_zsh_registers_the_function_with_compinit() {
	TMPROOT=$TMPROOT zsh_complete "" >/dev/null
}
test_zsh_completes_commands() { expect_words "$(TMPROOT=$TMPROOT zsh_complete "")" "$COMMANDS"; }
test_zsh_completes_profile_names_after_p() { expect_words "$(TMPROOT=$TMPROOT zsh_complete -p "")" "cn.backup work"; }
test_zsh_completes_regions_and_aliases() { expect_words "$(TMPROOT=$TMPROOT zsh_complete -r "")" "$REGIONS"; }
test_zsh_completes_shells() { expect_words "$(TMPROOT=$TMPROOT zsh_complete env --shell "")" "sh fish csh dotenv json pam"; }
test_zsh_completes_the_last_for_item() { expect_words "$(TMPROOT=$TMPROOT zsh_complete env --for openai,an)" "openai,anthropic"; }
test_zsh_completes_setup_tools_and_options() {
	expect_words "$(TMPROOT=$TMPROOT zsh_complete setup "")" "claude-code qwen-code codex" &&
		expect_words "$(TMPROOT=$TMPROOT zsh_complete doctor --o)" "--online"
}
test_zsh_completes_broker_and_system_options() {
	expect_words "$(TMPROOT=$TMPROOT zsh_complete remove --s)" "--system" &&
		expect_words "$(TMPROOT=$TMPROOT zsh_complete broker --i)" "--idle-timeout"
}
test_zsh_hands_exec_commands_to_zsh() { expect_words "$(TMPROOT=$TMPROOT zsh_complete exec "")" "<command>"; }

# ---- fish ----
fish_complete() {
	fish --no-config -c 'source $argv[1]; complete -C $argv[2]' "$COMPL/fish/dashscope-credential.fish" "dashscope-credential $*" |
		cut -f1
}
test_fish_completes_commands() { expect_words "$(fish_complete "")" "$COMMANDS"; }
test_fish_completes_profile_names_after_p() { expect_words "$(fish_complete "-p ")" "cn.backup work"; }
test_fish_completes_regions_and_aliases() { expect_words "$(fish_complete "--region ")" "$REGIONS"; }
test_fish_completes_shells() { expect_words "$(fish_complete "env --shell ")" "sh fish csh dotenv json pam"; }
test_fish_completes_the_last_for_item() { expect_words "$(fish_complete "env --for openai,an")" "openai,anthropic"; }
test_fish_completes_setup_tools_and_command_options() {
	expect_words "$(fish_complete "setup ")" "claude-code qwen-code codex" &&
		expect_words "$(fish_complete "doctor --o")" "--online" &&
		expect_words "$(fish_complete "-p work st")" "status store"
}

test_fish_completes_broker_and_system_options() {
	expect_words "$(fish_complete "add --sy")" "--system" &&
		expect_words "$(fish_complete "broker --l")" "--listen --log-stderr --lifetime"
}

shell_suite() {
	local sh=$1 f
	for f in $(declare -F | awk -v p="test_${sh}_" '$3 ~ "^"p {print $3}'); do
		if command -v "$sh" >/dev/null; then t "$f"; else skip "$f" "$sh is not installed"; fi
	done
}
test_completions_offer_every_command_of_help() {
	local c
	for c in $("$DS" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}'); do
		grep -qw -- "$c" <<<"$COMMANDS" || { diag "$c is not completed"; return 1; }
	done
}
t test_completions_offer_every_command_of_help
shell_suite bash
shell_suite zsh
shell_suite fish
finish
