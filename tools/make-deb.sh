#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the Debian packages (debian/, SPEC section 14) from a copy of the
# source tree, so the build neither touches this tree nor writes ../*.deb:
#   tools/make-deb.sh [--lintian] [OUTDIR]
# The copy holds the files git tracks plus new files it does not ignore
# (uncommitted changes included); without git, the tree as it is. The
# .deb, .changes and .buildinfo files end up in OUTDIR (default: deb/ in
# the source tree). --lintian then runs lintian on them and fails on any
# error or warning. Needs dpkg-dev, debhelper and the Build-Depends of
# debian/control (install-deps.sh installs them); not root.
set -eu
lint=no
if [ "${1:-}" = --lintian ]; then
	lint=yes
	shift
fi
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ds-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/dashscope-credential"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
		(cd "$src" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) |
		tar -xf - -C "$work/dashscope-credential"
else
	(cd "$src" && tar --exclude=./deb -cf - .) | tar -xf - -C "$work/dashscope-credential"
fi
# a clean make environment: a caller's make (make check) must not pass
# its variables into the package's own build and test run
(cd "$work/dashscope-credential" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
	dpkg-buildpackage -us -uc -b)
rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
mv "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
echo "make-deb: packages in $out:"
ls "$out"
if [ "$lint" = yes ]; then
	# --fail-on needs lintian >= 2.105 (Debian 12 has 2.116)
	lintian --fail-on error,warning --display-info "$out"/*.changes
fi
