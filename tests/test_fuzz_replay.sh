# SPDX-License-Identifier: MIT
# Replays every fuzz target's stored corpus (tests/fuzz/corpus/<target>/)
# through the same harness libFuzzer runs, so the seeds, every hostile
# input among them and every crash found and fixed stay checked without
# clang. A harness aborts on a broken invariant; that fails the test.
. "$(dirname "$0")/lib.sh"

# the corpus directories name the targets; each must have its replay program
FUZZ_TARGETS=$(cd "$abs_top_srcdir/tests/fuzz/corpus" && ls)

replay() {
	local target=$1 bin="$abs_top_builddir/tests/fuzz/replay_$1"
	local corpus="$abs_top_srcdir/tests/fuzz/corpus/$1"

	${DS_TEST_WRAPPER:-} "$bin" "$corpus" >"$OUT" 2>"$ERR"
	RC=$?
	expect_rc 0 || return 1
	# every stored input was read: the count must match the directory
	expect_out_has "replayed $(ls "$corpus" | wc -l) inputs"
}

for target in $FUZZ_TARGETS; do
	eval "test_corpus_of_${target}_replays_clean() { replay $target; }"
	t "test_corpus_of_${target}_replays_clean"
done
finish
