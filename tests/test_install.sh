#!/bin/bash
# SPDX-License-Identifier: MIT
# A source install (SPEC section 14): `./configure && make && make install`
# puts every file under the prefix, the broker's system units too, and
# makes the broker's state directory, so that `sudo dashscope-credential
# add --system` works right after it. One build of a copy of this tree
# (make distdir), configured with a fresh --prefix, serves every case: a
# throw-away user installs into the prefix and must write nothing outside
# it; then root installs into the same prefix made afresh and stores a
# system key. Needs root (useradd, the service user); skipped otherwise.
. "$(dirname "$0")/lib.sh"

# the copy's build must not inherit this make's variables (make check)
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
if [ "$(id -u)" != 0 ]; then
	skip_all "needs root (installs as a throw-away user, then as root)"
fi
for tool in useradd userdel setpriv find make; do
	command -v "$tool" >/dev/null || skip_all "$tool is missing"
done
[ -f "$abs_top_builddir/Makefile" ] || skip_all "needs a configured tree (make distdir)"

BUILDER=dsi-build$$
# the prefix's parent: the builder and the service user must reach it, as
# they would /usr/local
W=$(mktemp -d /tmp/ds-prefix-XXXXXX)
chmod 755 "$W"
PREFIX=$W/prefix SRC=$W/src
STATEDIR=$PREFIX/var/lib/dashscope-credential
# an administrator's umask, whatever the caller's
umask 022
teardown() {
	userdel "$BUILDER" 2>/dev/null
	# the service user stays unless this test made it (make install did)
	svc_remove_if_made "$([ -f "$W/made-svc" ] && echo 1)"
	rm -rf "$W"
	cleanup
}
trap teardown EXIT

useradd --user-group --no-create-home --home-dir "$W/home" --shell /usr/sbin/nologin "$BUILDER" ||
	bail_out "could not create the user $BUILDER"
# as_builder CMD...: CMD as the throw-away user, in a clean environment
as_builder() {
	setpriv --reuid="$BUILDER" --regid="$BUILDER" --init-groups \
		env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$W/home" LANG=C.UTF-8 "$@"
}
as_root() { env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$TMPROOT" LANG=C.UTF-8 "$@"; }

make -C "$abs_top_builddir" distdir distdir="$SRC" >"$W/distdir.log" 2>&1 ||
	bail_out "make distdir failed: $(tail -n 20 "$W/distdir.log")"
mkdir "$W/home"
# The copy's configure starts from the answers this tree's configure found
# on this machine (the cache variables in its config.log, less those that
# name programs, paths or the caller's environment): the same probes of
# the same system need not run twice. Only for the same compiler.
: >"$W/config.cache"
if grep -qx 'CC = gcc' "$abs_top_builddir/Makefile" && [ -f "$abs_top_builddir/config.log" ]; then
	sed -n '/^## Cache variables. ##/,/^## Output variables. ##/p' "$abs_top_builddir/config.log" |
		grep -E '^(ac_cv|lt_cv|am_cv|pkg_cv)_' |
		grep -vE '^(ac_cv_env_|ac_cv_path_|ac_cv_prog_|lt_cv_path_)' >"$W/config.cache"
fi
chown -R "$BUILDER:" "$SRC" "$W/home" "$W/config.cache"
# -O1 without debug information and no dependency tracking (a build made
# once): what is installed where does not depend on either, and the build
# takes half the time
as_builder sh -c 'cd "$1" && ./configure --prefix="$2" --cache-file="$3" --disable-dependency-tracking CFLAGS="-O1" &&
	make -j2' sh "$SRC" "$PREFIX" "$W/config.cache" >"$W/build.log" 2>&1 ||
	bail_out "configure && make failed: $(tail -n 30 "$W/build.log")"

# A user's install: the prefix is theirs and fresh; nothing else is.
mkdir "$PREFIX"
chown "$BUILDER:" "$PREFIX"
touch "$W/stamp"
# find -newer compares whole seconds on some file systems: the install
# starts in a second after the stamp's
clock_past() { [ "$(date +%s)" -gt "$1" ]; }
wait_for clock_past "$(stat -c %Y "$W/stamp")" || bail_out "the clock stands still"

test_install_as_a_user_into_a_fresh_prefix_succeeds() {
	as_builder make -C "$SRC" install >"$W/user-install.log" 2>&1 ||
		{ tail -n 20 "$W/user-install.log" | sed 's/^/#   /'; return 1; }
}

test_install_as_a_user_writes_nothing_outside_the_prefix() {
	local leaks
	# every file the user owns and changed since the install began, but
	# for the prefix and the build tree (make install may finish a build)
	leaks=$(find / \( -path /proc -o -path /sys -o -path "$PREFIX" -o -path "$SRC" \) -prune -o \
		-user "$BUILDER" -newer "$W/stamp" -print 2>/dev/null)
	[ -z "$leaks" ] || { diag "written outside $PREFIX: $(echo $leaks)"; return 1; }
}

test_install_puts_the_system_and_user_units_under_the_prefix() {
	local f bad=0
	for f in lib/systemd/system/dashscope-credential-broker.socket \
		lib/systemd/system/dashscope-credential-broker.service \
		lib/systemd/user/dashscope-credential-proxy.socket \
		lib/systemd/user/dashscope-credential-proxy.service \
		lib/sysusers.d/dashscope-credential.conf bin/dashscope-credential; do
		[ -f "$PREFIX/$f" ] || { diag "no $PREFIX/$f"; bad=1; }
	done
	grep -qx "ExecStart=$PREFIX/bin/dashscope-credential broker" \
		"$PREFIX/lib/systemd/system/dashscope-credential-broker.service" ||
		{ diag "the service does not run $PREFIX/bin/dashscope-credential"; bad=1; }
	return $bad
}

test_install_makes_the_state_directory_0700() {
	[ -d "$STATEDIR" ] || { diag "no $STATEDIR"; return 1; }
	[ "$(stat -c %a "$STATEDIR")" = 700 ] || { diag "$STATEDIR: mode $(stat -c %a "$STATEDIR")"; return 1; }
}

t test_install_as_a_user_into_a_fresh_prefix_succeeds
t test_install_as_a_user_writes_nothing_outside_the_prefix
t test_install_puts_the_system_and_user_units_under_the_prefix
t test_install_makes_the_state_directory_0700

# Root's install onto this system, into the same prefix made afresh (the
# program knows its state directory from configure).
rm -rf "$PREFIX"
# alone while make install may make the user, shared from then on
svc_lock -x || bail_out "could not lock the service user"
getent passwd "$SVC" >/dev/null || touch "$W/made-svc"

test_install_as_root_gives_the_state_directory_to_the_service_user() {
	as_root make -C "$SRC" install >"$W/root-install.log" 2>&1 ||
		{ tail -n 20 "$W/root-install.log" | sed 's/^/#   /'; return 1; }
	svc_lock -s
	getent passwd "$SVC" >/dev/null || { diag "make install did not create the user $SVC"; return 1; }
	[ "$(stat -c '%U %a' "$STATEDIR")" = "$SVC 700" ] ||
		{ diag "$STATEDIR: $(stat -c '%U %a' "$STATEDIR")"; return 1; }
}

KEY="sk-test-ok-install$RANDOM$RANDOM"
test_add_system_works_right_after_a_root_install() {
	printf '%s\n' "$KEY" | as_root "$PREFIX/bin/dashscope-credential" add --system org --region singapore \
		>"$OUT" 2>"$ERR" || { diag "add --system: $(head -c 400 "$ERR")"; return 1; }
	expect_no_leak "$KEY" || return 1
	[ "$(stat -c '%U %a' "$STATEDIR/keys")" = "$SVC 600" ] ||
		{ diag "$STATEDIR/keys: $(stat -c '%U %a' "$STATEDIR/keys" 2>&1)"; return 1; }
	as_root "$PREFIX/bin/dashscope-credential" list --system >"$OUT" 2>"$ERR" ||
		{ diag "list --system: $(head -c 400 "$ERR")"; return 1; }
	grep -qw org "$OUT" || { diag "list --system: $(head -c 300 "$OUT")"; return 1; }
}

test_uninstall_keeps_the_system_keys() {
	as_root make -C "$SRC" uninstall >"$W/uninstall.log" 2>&1 ||
		{ tail -n 20 "$W/uninstall.log" | sed 's/^/#   /'; return 1; }
	[ ! -e "$PREFIX/bin/dashscope-credential" ] || { diag "the program is still installed"; return 1; }
	[ -f "$STATEDIR/keys" ] || { diag "make uninstall deleted $STATEDIR/keys"; return 1; }
}

t test_install_as_root_gives_the_state_directory_to_the_service_user
t test_add_system_works_right_after_a_root_install
t test_uninstall_keeps_the_system_keys
finish
