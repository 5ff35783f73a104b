#!/bin/bash
# SPDX-License-Identifier: MIT
# The broker's systemd units: `systemd-analyze verify` is clean and
# `systemd-analyze security --offline=true` rates the service OK (exposure
# at most 2.0; the figure is in dashscope-credential-broker(8)). Skipped
# when systemd-analyze is missing.
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || skip_all "systemd-analyze is missing"
UNITS="$TMPROOT/units"
mkdir -p "$UNITS"
cp "$abs_top_srcdir/systemd/dashscope-credential-broker.socket" "$UNITS/"
# the installed path does not exist here: point ExecStart at the build
sed "s|%BINDIR%/dashscope-credential|$DS_REAL|" \
	"$abs_top_srcdir/systemd/dashscope-credential-broker.service.in" \
	>"$UNITS/dashscope-credential-broker.service"

test_only_the_broker_loads_libsystemd() {
	# sd_listen_fds is loaded by the broker when it starts, never linked
	local out
	out=$(LD_DEBUG=libs "$DS_REAL" regions 2>&1 >/dev/null | grep -o 'calling init: [^ ]*')
	printf '%s\n' "$out" | grep -q libjansson && ! printf '%s\n' "$out" | grep -q libsystemd ||
		{ diag "$(printf '%s ' $out)"; return 1; }
}
test_units_verify_clean() {
	local out
	out=$(cd "$UNITS" && systemd-analyze verify --man=no ./dashscope-credential-broker.socket \
		./dashscope-credential-broker.service 2>&1)
	[ -z "$out" ] || { diag "$out"; return 1; }
}
test_service_exposure_is_ok_and_at_most_2() {
	local out level
	out=$(cd "$UNITS" && systemd-analyze security --offline=true \
		./dashscope-credential-broker.service 2>&1)
	level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) OK.*/\1/p')
	[ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' ||
		{ diag "$(printf '%s\n' "$out" | tail -n 3)"; return 1; }
	echo "# exposure $level"
}
test_built_service_runs_the_installed_binary() {
	grep -qx 'ExecStart=/.*/dashscope-credential broker' \
		"$abs_top_builddir/systemd/dashscope-credential-broker.service" ||
		{ diag "$(grep ExecStart "$abs_top_builddir/systemd/dashscope-credential-broker.service")"; return 1; }
}
test_socket_is_world_connectable_at_the_spec_path() {
	grep -qx 'ListenStream=/run/dashscope-credential/broker.sock' "$UNITS/dashscope-credential-broker.socket" &&
		grep -qx 'SocketMode=0666' "$UNITS/dashscope-credential-broker.socket"
}
test_service_runs_as_the_service_user_without_privileges() {
	local s="$UNITS/dashscope-credential-broker.service" k
	for k in User=dashscope-credential NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
		PrivateTmp=yes PrivateDevices=yes CapabilityBoundingSet= \
		'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' SystemCallFilter=@system-service; do
		grep -qxF -- "$k" "$s" || { diag "missing $k"; return 1; }
	done
	! grep -q '^PrivateUsers=yes' "$s"
}

test_service_sets_limit_nofile_and_memory_max() {
	local s="$UNITS/dashscope-credential-broker.service"
	grep -qx 'LimitNOFILE=[0-9]*' "$s" && grep -qx 'MemoryMax=[0-9]*[KMG]' "$s" ||
		{ diag "$(grep -E '^(LimitNOFILE|MemoryMax)=' "$s")"; return 1; }
	# the broker's 1024 connections in all stay 64 below the limit
	[ "$(sed -n 's/^LimitNOFILE=//p' "$s")" -ge $((1024 + 64)) ]
}

for f in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	t "$f"
done
finish
