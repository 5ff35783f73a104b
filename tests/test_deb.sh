#!/bin/bash
# SPDX-License-Identifier: MIT
# The Debian packages (SPEC section 14), for real: builds them from a copy
# of the tree (tools/make-deb.sh), runs lintian (no error, no warning),
# installs them with apt-get into THIS system, checks what they installed,
# enables and disables the PAM profile, upgrades the program's package
# with the broker's socket enabled, removes and purges both and checks that
# nothing of theirs is left. What the maintainer scripts ask of systemd is
# checked through stubs (systemd_stubbed below): systemd is not PID 1 here.
# Because it changes the system it runs only as
# root and only when asked: CI=true or DS_TEST_DEB=1 (.ci/run sets it; on
# a developer machine use a throw-away VM or container). `make check` runs
# it under those conditions, `make check-deb` always. DS_DEB_DIR=DIR tests the
# packages already built in DIR (e.g. by `make deb`) instead of building.
. "$(dirname "$0")/lib.sh"

# The package build runs the unit suites with make: it must not inherit
# this make's variables (TEST_LOGS would make it run every test, this one
# included), and a package build never runs this test again.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
if [ -n "${DS_TEST_DEB_ACTIVE:-}" ]; then
	skip_all "already inside a package build of this test"
fi
export DS_TEST_DEB_ACTIVE=1
if [ "$(id -u)" != 0 ] || { [ "${CI:-}" != true ] && [ "${DS_TEST_DEB:-}" != 1 ]; }; then
	skip_all "installs packages into the system: runs only as root with CI=true or DS_TEST_DEB=1"
fi
for tool in dpkg-buildpackage dh lintian apt-get pam-auth-update; do
	command -v "$tool" >/dev/null || skip_all "$tool is not installed (install-deps.sh)"
done
PKGS="dashscope-credential libpam-dashscope"
for p in $PKGS; do
	if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$'; then
		skip_all "$p is already installed here; this test installs and purges it"
	fi
done

MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
DEBS=${DS_DEB_DIR:-$TMPROOT/deb}
FILES="$TMPROOT/files"
SESSION=/etc/pam.d/common-session
installed=no
# The package's service user stays after a purge, as Debian's system users
# do, and so the test leaves it too: other tests (test_broker.sh) may be
# using an account of that name.

# Whatever happens, the system is left without the packages and with a PAM
# stack without pam_dashscope (even when a broken prerm did not remove it).
finally() {
	[ "$installed" = yes ] && dpkg --purge $PKGS >/dev/null 2>&1
	if grep -q pam_dashscope /etc/pam.d/common-* || grep -qx dashscope /var/lib/pam/seen; then
		DEBIAN_FRONTEND=noninteractive pam-auth-update --package --remove dashscope
	fi
	cleanup
}
trap finally EXIT

# systemd is not PID 1 here (a container, a build chroot), so the broker's
# package life (SPEC section 14) is checked by what the maintainer scripts
# ask, not by what systemd does: dpkg and apt run under systemd_stubbed,
# with stubs first in PATH. deb-systemd-invoke and systemctl record their
# arguments and do nothing; deb-systemd-helper records and then runs the
# real one, which only keeps symlinks and state files and works without
# systemd. The scripts talk to systemd only when /run/systemd/system
# exists: systemd_stubbed gives dpkg a mount namespace of its own where it
# does, so nothing else on this machine sees a systemd that is not there.
# Each line of $SDLOG: package, script, tool, arguments.
STUBS=$TMPROOT/stubs SDLOG=$TMPROOT/systemd.log
mkdir -p "$STUBS"
for tool in deb-systemd-invoke systemctl deb-systemd-helper; do
	{
		echo '#!/bin/sh'
		echo "echo \"\${DPKG_MAINTSCRIPT_PACKAGE:--} \${DPKG_MAINTSCRIPT_NAME:--} $tool \$*\" >>'$SDLOG'"
		[ "$tool" = deb-systemd-helper ] && echo 'exec /usr/bin/deb-systemd-helper "$@"'
		echo 'exit 0'
	} >"$STUBS/$tool"
	chmod 755 "$STUBS/$tool"
done
systemd_stubbed() {
	: >"$SDLOG"
	if [ -d /run/systemd/system ]; then
		PATH="$STUBS:$PATH" "$@"
	else
		# shellcheck disable=SC2016 # expanded by that shell
		unshare --mount --propagation private sh -c 'mkdir -p /run/systemd &&
			mount -t tmpfs -o mode=755 ds-test-systemd /run/systemd &&
			mkdir /run/systemd/system && exec "$@"' sh env PATH="$STUBS:$PATH" "$@"
	fi
}
# apt runs dpkg with a PATH of its own (DPkg::Path): the stubs go first
APT_STUBBED=(-o "DPkg::Path=$STUBS:/usr/sbin:/usr/bin:/sbin:/bin")
# asked ACTION UNIT: whether a maintainer script asked systemd (through
# deb-systemd-invoke or systemctl) for ACTION on UNIT, as the log says
asked() {
	grep -qE "^[^ ]+ [^ ]+ (deb-systemd-invoke|systemctl)( --[a-z-]+)* ($1)( [^ ]+)* $2( |\$)" "$SDLOG"
}
show_sdlog() { sed 's/^/#   systemd: /' "$SDLOG"; }
BROKER_SOCKET=dashscope-credential-broker.socket
BROKER_SERVICE=dashscope-credential-broker.service

test_packages_build_and_lintian_reports_no_error_or_warning() {
	if [ -n "${DS_DEB_DIR:-}" ]; then
		lintian --fail-on error,warning "$DEBS"/*.changes
	else
		"$abs_top_srcdir/tools/make-deb.sh" --lintian "$DEBS" >"$TMPROOT/build.log" 2>&1 ||
			{ tail -n 40 "$TMPROOT/build.log" | sed 's/^/#   /'; return 1; }
		grep -E '^[EWI]: ' "$TMPROOT/build.log" | sed 's/^/#   /'
		true
	fi
}
t test_packages_build_and_lintian_reports_no_error_or_warning
ls "$DEBS"/dashscope-credential_*.deb "$DEBS"/libpam-dashscope_*.deb >/dev/null 2>&1 ||
	{ echo "# no packages to test"; finish; }

test_apt_get_installs_both_packages() {
	local debs=("$DEBS"/dashscope-credential_*.deb "$DEBS"/libpam-dashscope_*.deb) more
	# nothing may be downloaded: install-deps.sh already installed every
	# library the packages depend on, so apt must install these two only
	more=$(apt-get install -s "${debs[@]}" 2>&1 | awk '/^Inst / && $2 != "dashscope-credential" && $2 != "libpam-dashscope" {print $2}')
	[ -z "$more" ] || { diag "apt-get would download: $more"; return 1; }
	DEBIAN_FRONTEND=noninteractive systemd_stubbed apt-get "${APT_STUBBED[@]}" install -y "${debs[@]}" \
		>"$TMPROOT/apt.log" 2>&1 || { tail -n 20 "$TMPROOT/apt.log" | sed 's/^/#   /'; return 1; }
	cp "$SDLOG" "$TMPROOT/systemd-install.log"
}
t test_apt_get_installs_both_packages
installed=yes
dpkg-query -W -f='${db:Status-Status}\n' $PKGS 2>/dev/null | grep -qvx installed && finish

# The administrator enables the socket after adding keys: a fresh install
# starts nothing and enables nothing, the broker's units included.
test_fresh_install_asks_systemd_to_start_and_enable_nothing() {
	cp "$TMPROOT/systemd-install.log" "$SDLOG"
	# the stubs were reached: the scripts did talk to (stubbed) systemd
	grep -q "deb-systemd-helper .*$BROKER_SOCKET" "$SDLOG" || { diag "no call for $BROKER_SOCKET"; show_sdlog; return 1; }
	if grep -E ' (deb-systemd-invoke|systemctl)( --[a-z-]+)* (start|restart|try-restart|reload-or-restart|enable) | deb-systemd-helper( --[a-z-]+)* enable ' "$SDLOG" |
		sed 's/^/#   asked: /' | grep .; then
		return 1
	fi
	! ls /etc/systemd/system/*.wants/dashscope-credential* 2>/dev/null || { diag "a broker unit is enabled"; return 1; }
}
t test_fresh_install_asks_systemd_to_start_and_enable_nothing
for p in $PKGS; do dpkg -L "$p"; done | sort -u >"$FILES"

# the installed program, with nothing of this tree or of the caller
ds() { env -i HOME="$TMPROOT/home" PATH=/usr/bin:/bin DASHSCOPE_CREDENTIAL_STORE="${STORE:-file}" "$@"; }
mkdir -p "$TMPROOT/home"

test_installed_program_prints_regions() {
	ds dashscope-credential regions >"$OUT" 2>"$ERR" || { diag "$(head -c 300 "$ERR")"; return 1; }
	[ "$(command -v dashscope-credential)" = /usr/bin/dashscope-credential ] || true
	expect_out_has_word singapore
}
expect_out_has_word() { grep -qw -- "$1" "$OUT" || { diag "no '$1' in: $(head -c 300 "$OUT")"; return 1; }; }

test_installed_program_mints_against_the_loopback_server() {
	[ -n "$SERVER_PID" ] || { diag "could not start the test server"; return 1; }
	local key="sk-test-ok-$RANDOM$RANDOM" e
	e=(DASHSCOPE_CREDENTIAL_ENDPOINT="https://127.0.0.1:$PORT_MAIN" DASHSCOPE_CREDENTIAL_CA_FILE="$CA")
	printf '%s\n' "$key" | ds "${e[@]}" dashscope-credential add p --region singapore >/dev/null 2>"$ERR" ||
		{ diag "add: $(head -c 300 "$ERR")"; return 1; }
	ds "${e[@]}" dashscope-credential token -p p >"$OUT" 2>"$ERR" || { diag "token: $(head -c 300 "$ERR")"; return 1; }
	grep -q '^st-' "$OUT" || { diag "not a temporary key: $(head -c 100 "$OUT")"; return 1; }
	expect_no_leak "$key"
}

test_man_finds_every_page() {
	local f page sec n=0
	grep -qx /usr/share/man/man1/dashscope-credential.1.gz "$FILES" || { diag "no dashscope-credential(1)"; return 1; }
	grep -qx /usr/share/man/man8/pam_dashscope.8.gz "$FILES" || { diag "no pam_dashscope(8)"; return 1; }
	for f in $(grep -E '^/usr/share/man/man[1-9]/.*\.gz$' "$FILES"); do
		page=${f##*/} page=${page%.gz} sec=${page##*.} page=${page%.*}
		[ "$(man -w "$sec" "$page" 2>&1)" = "$f" ] || { diag "man -w $sec $page: $(man -w "$sec" "$page" 2>&1)"; return 1; }
		# the width man uses without a terminal, whatever this one is
		MANWIDTH=80 man "$sec" "$page" 2>&1 >/dev/null | grep . && { diag "man $sec $page complains"; return 1; }
		n=$((n + 1))
	done
	[ "$(man -w dashscope-credential)" = /usr/share/man/man1/dashscope-credential.1.gz ] || return 1
	diag "$n pages"
}

test_pam_module_is_in_the_multiarch_security_dir_and_loads() {
	local mod=/usr/lib/$MA/security/pam_dashscope.so
	[ -f "$mod" ] || { diag "no $mod"; return 1; }
	grep -qx "$mod" "$FILES" || { diag "$mod is not libpam-dashscope's"; return 1; }
	if [ -x "$abs_top_builddir/tests/pam_dlopen" ]; then
		"$abs_top_builddir/tests/pam_dlopen" "$mod" >"$OUT" 2>&1 || { sed 's/^/#   /' "$OUT"; return 1; }
	fi
}

test_program_loads_its_secret_service_module() {
	local so=/usr/lib/$MA/dashscope-credential/dscred-secret-service.so
	[ -f "$so" ] || so=/usr/lib/dashscope-credential/dscred-secret-service.so
	[ -f "$so" ] || { diag "the Secret Service module is not installed"; return 1; }
	if command -v gnome-keyring-daemon >/dev/null && command -v dbus-run-session >/dev/null; then
		# the daemon may own its bus name only after --unlock returns:
		# wait for it, or `list` would start a second, locked one
		STORE=secret-service ds dbus-run-session -- sh -c '
			eval "$(printf %s pw | gnome-keyring-daemon --unlock --components=secrets)"
			export GNOME_KEYRING_CONTROL
			# (a wait for a condition, as lib.sh wait_for: this runs in the
			# session, not in the test shell)
			for i in $(seq 1200); do
				dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
					org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
					grep -q "boolean true" && break
				sleep 0.05
			done
			exec dashscope-credential list' >"$OUT" 2>"$ERR" ||
			{ diag "list with the Secret Service: $(grep -v '^dbus-daemon' "$ERR" | head -c 300)"; return 1; }
	else
		# without a provider it must get as far as looking for one
		STORE=secret-service ds dashscope-credential list >"$OUT" 2>"$ERR"
		! grep -q 'cannot be loaded\|another version' "$ERR" || { diag "$(cat "$ERR")"; return 1; }
	fi
}

test_pam_profile_is_registered_but_off_by_default() {
	grep -qx 'Default: no' /usr/share/pam-configs/dashscope || return 1
	grep -qx dashscope /var/lib/pam/seen || { diag "pam-auth-update has not seen the profile"; return 1; }
	DEBIAN_FRONTEND=noninteractive pam-auth-update --package || return 1
	! grep -q pam_dashscope "$SESSION" || { diag "$SESSION has pam_dashscope"; return 1; }
}

test_pam_profile_can_be_enabled_and_disabled() {
	DEBIAN_FRONTEND=noninteractive pam-auth-update --enable dashscope || return 1
	grep -qE '^session[[:space:]]+optional[[:space:]]+pam_dashscope\.so' "$SESSION" ||
		{ diag "--enable did not add the line to $SESSION"; return 1; }
	# interactive sessions only: cron and friends do not wait for the helper
	! grep -q pam_dashscope /etc/pam.d/common-session-noninteractive || return 1
	DEBIAN_FRONTEND=noninteractive pam-auth-update --disable dashscope || return 1
	! grep -q pam_dashscope "$SESSION"
}

# Parts other issues add (broker, proxy units, completions) are checked
# when the package carries them.
has() { grep -qE "$1" "$FILES"; }

test_broker_units_ship_disabled_with_their_service_user() {
	has '/systemd/system/dashscope-credential-broker\.service$' || { diag "no broker service unit"; return 1; }
	! ls /etc/systemd/system/*.wants/dashscope-credential* 2>/dev/null || { diag "a broker unit is enabled"; return 1; }
	# offline: syntax, and that ExecStart names the installed binary
	if command -v systemd-analyze >/dev/null; then
		systemd-analyze verify $(grep -E '/systemd/system/dashscope-credential-broker\.(socket|service)$' "$FILES") \
			>"$OUT" 2>&1 || { diag "systemd-analyze verify: $(head -c 400 "$OUT")"; return 1; }
	fi
	local pw
	pw=$(getent passwd dashscope-credential) || { diag "no user dashscope-credential"; return 1; }
	case $pw in *:/usr/sbin/nologin | *:/sbin/nologin | *:/bin/false) ;; *) diag "login shell: $pw"; return 1 ;; esac
}

test_proxy_user_units_ship_not_enabled_for_everyone() {
	has '/systemd/user/dashscope-credential-proxy\.service$' || { diag "no proxy service unit"; return 1; }
	! ls /etc/systemd/user/*.wants/dashscope-credential* 2>/dev/null || { diag "a proxy unit is enabled globally"; return 1; }
	if command -v systemd-analyze >/dev/null; then
		mkdir -p -m 700 "$TMPROOT/run"
		XDG_RUNTIME_DIR=$TMPROOT/run systemd-analyze --user verify $(grep -E '/systemd/user/dashscope-credential-proxy\.(socket|service)$' "$FILES") \
			>"$OUT" 2>&1 || { diag "systemd-analyze verify: $(head -c 400 "$OUT")"; return 1; }
	fi
}

test_completions_are_where_each_shell_looks() {
	local bad=0
	has '^/usr/share/bash-completion/completions/dashscope-credential$' || { diag "no bash completion"; bad=1; }
	has '^/usr/share/zsh/vendor-completions/_dashscope-credential$' || { diag "no zsh completion"; bad=1; }
	has '^/usr/share/fish/vendor_completions\.d/dashscope-credential\.fish$' || { diag "no fish completion"; bad=1; }
	# the shells find them by themselves: bash-completion's loader, fish's
	# vendor directory
	bash -c '. /usr/share/bash-completion/bash_completion
		_completion_loader dashscope-credential
		f=$(complete -p dashscope-credential | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
		COMP_LINE="dashscope-credential regi" COMP_POINT=25 COMP_WORDS=(dashscope-credential regi) COMP_CWORD=1
		"$f" dashscope-credential regi dashscope-credential
		printf "%s\n" "${COMPREPLY[@]}"' 2>/dev/null | grep -qx regions ||
		{ diag "bash does not complete 'regi' to 'regions'"; bad=1; }
	if command -v fish >/dev/null; then
		HOME=$TMPROOT/home fish -c 'complete -C "dashscope-credential regi"' 2>/dev/null | grep -q '^regions' ||
			{ diag "fish does not complete 'regi' to 'regions'"; bad=1; }
	fi
	return $bad
}

t test_installed_program_prints_regions
start_server >/dev/null 2>&1 # here, so the exit trap stops it
t test_installed_program_mints_against_the_loopback_server
t test_man_finds_every_page
t test_program_loads_its_secret_service_module
t test_pam_module_is_in_the_multiarch_security_dir_and_loads
t test_pam_profile_is_registered_but_off_by_default
t test_pam_profile_can_be_enabled_and_disabled
# opt PATTERN TEST: TEST when the package has a file matching PATTERN
opt() {
	if has "$1"; then t "$2"; else skip "$2" "the package does not carry it (yet)"; fi
}
opt '/systemd/system/dashscope-credential-broker\.socket$' test_broker_units_ship_disabled_with_their_service_user
opt '/systemd/user/dashscope-credential-proxy\.socket$' test_proxy_user_units_ship_not_enabled_for_everyone
opt '/completions?/' test_completions_are_where_each_shell_looks

# An upgrade (the same version installed again: dpkg runs the same
# upgrade path, `configure` with the old version) with the socket enabled,
# as the administrator leaves it: the socket must stay enabled and never be
# stopped without being started again (it keeps listening and starts the
# new broker on the next connection), and a running broker is restarted
# (try-restart: only if it runs; deb-systemd-invoke restart would not start
# a stopped static service either).
socket_last_action() {
	grep -E " (deb-systemd-invoke|systemctl)( --[a-z-]+)* [a-z-]+ (.* )?$BROKER_SOCKET( |\$)" "$SDLOG" |
		tail -n 1 | awk '{ for (i = 4; i <= NF; i++) if ($i !~ /^--/) { print $i; exit } }'
}
test_upgrade_restarts_a_running_broker_and_keeps_the_socket_enabled() {
	local wants=/etc/systemd/system/sockets.target.wants/$BROKER_SOCKET
	# as the administrator does; systemctl enable works without systemd
	systemctl enable "$BROKER_SOCKET" >/dev/null 2>&1
	[ -L "$wants" ] || { diag "could not enable $BROKER_SOCKET before upgrading"; return 1; }
	systemd_stubbed dpkg -i "$DEBS"/dashscope-credential_*.deb >"$TMPROOT/upgrade.log" 2>&1 ||
		{ sed 's/^/#   /' "$TMPROOT/upgrade.log"; return 1; }
	grep -q 'Unpacking dashscope-credential .* over ' "$TMPROOT/upgrade.log" ||
		{ diag "dpkg did not upgrade"; sed 's/^/#   /' "$TMPROOT/upgrade.log"; return 1; }
	local bad=0 last
	asked 'try-restart|restart' "$BROKER_SERVICE" || { diag "the broker is not restarted"; bad=1; }
	asked 'start' "$BROKER_SERVICE" && { diag "the broker is started even if it was not running"; bad=1; }
	last=$(socket_last_action)
	[ "$last" != stop ] || { diag "the socket is stopped and not started again"; bad=1; }
	asked 'disable|mask' "$BROKER_SOCKET" && { diag "the socket is disabled"; bad=1; }
	[ -L "$wants" ] || { diag "the socket is no longer enabled"; bad=1; }
	[ "$bad" = 0 ] || show_sdlog
	return $bad
}
t test_upgrade_restarts_a_running_broker_and_keeps_the_socket_enabled

# Remove with the profile enabled: prerm must take it out of the stack and
# stop the broker (socket and service, the socket still enabled); then
# purge, with the broker's state as `add --system` leaves it.
DEBIAN_FRONTEND=noninteractive pam-auth-update --enable dashscope >/dev/null 2>&1
if getent passwd dashscope-credential >/dev/null; then
	install -d -m 700 -o dashscope-credential -g dashscope-credential /var/lib/dashscope-credential
	install -m 600 -o dashscope-credential -g dashscope-credential /dev/null /var/lib/dashscope-credential/keys
fi
test_remove_stops_the_broker_socket_and_service() {
	grep -q pam_dashscope "$SESSION" || { diag "could not enable the profile before removing"; return 1; }
	systemd_stubbed dpkg --remove $PKGS >"$TMPROOT/remove.log" 2>&1 ||
		{ sed 's/^/#   /' "$TMPROOT/remove.log"; return 1; }
	local bad=0
	asked stop "$BROKER_SOCKET" || { diag "the socket is not stopped"; bad=1; }
	asked stop "$BROKER_SERVICE" || { diag "the broker is not stopped"; bad=1; }
	[ "$(socket_last_action)" = stop ] || { diag "the socket is started again"; bad=1; }
	! grep -q pam_dashscope "$SESSION" || { diag "$SESSION still has pam_dashscope"; bad=1; }
	[ "$bad" = 0 ] || show_sdlog
	return $bad
}
t test_remove_stops_the_broker_socket_and_service

test_purge_removes_both_packages() {
	systemd_stubbed dpkg --purge $PKGS >"$TMPROOT/purge.log" 2>&1 ||
		{ sed 's/^/#   /' "$TMPROOT/purge.log"; return 1; }
	local p
	for p in $PKGS; do
		! dpkg-query -W "$p" >/dev/null 2>&1 || { diag "dpkg still knows $p: $(dpkg-query -W -f='${Status}' "$p")"; return 1; }
	done
}
t test_purge_removes_both_packages
installed=no

test_purge_leaves_nothing_behind() {
	local path bad=0
	while read -r path; do
		[ -e "$path" ] || [ -L "$path" ] || continue
		[ "$path" = /. ] && continue
		# a directory that stays must belong to another package, maybe
		# under its other name on a merged-/usr system (/lib = /usr/lib)
		if [ -d "$path" ] && { dpkg-query -S "$path" || dpkg-query -S "${path#/usr}"; } >/dev/null 2>&1; then
			continue
		fi
		diag "left behind: $path"
		bad=1
	done <"$FILES"
	for path in /etc/dashscope-credential /var/lib/dashscope-credential /run/dashscope-credential \
		/usr/share/pam-configs/dashscope; do
		[ ! -e "$path" ] || { diag "left behind: $path"; bad=1; }
	done
	! grep -q pam_dashscope /etc/pam.d/common-* || { diag "the PAM stack still has pam_dashscope"; bad=1; }
	! grep -qx dashscope /var/lib/pam/seen || { diag "/var/lib/pam/seen still lists dashscope"; bad=1; }
	! ls /etc/systemd/system/*/dashscope-credential* /etc/systemd/user/*/dashscope-credential* \
		/var/lib/systemd/deb-systemd-helper-enabled/dashscope-credential* \
		/var/lib/systemd/deb-systemd-user-helper-enabled/dashscope-credential* 2>/dev/null ||
		{ diag "a unit is still enabled"; bad=1; }
	return $bad
}
t test_purge_leaves_nothing_behind
finish
