#!/bin/sh
# SPDX-License-Identifier: MIT
# include-views.sh SRCDIR BUILDDIR: makes BUILDDIR/helper-views/LIBRARY/,
# one per line of SRCDIR/helper/layers, holding a link to each folder that
# library may include from and to config.h. A library compiled with
# -I helper-views/LIBRARY (and no other -I) cannot include against the
# arrows: the folder is simply not there.
set -eu
src=$1 build=$2
views=$build/helper-views
rm -rf "$views.new"
mkdir -p "$views.new"
grep -v '^#' "$src/helper/layers" | while read -r lib _sources sees; do
	[ -n "$lib" ] || continue
	mkdir "$views.new/$lib"
	ln -s "$build/config.h" "$views.new/$lib/config.h"
	for dir in $sees; do
		case $dir in
		pam) target=$src/pam ;;
		*) target=$src/helper/$dir ;;
		esac
		[ -d "$target" ] || { echo "include-views.sh: helper/layers names $dir, which is no folder" >&2; exit 1; }
		ln -s "$target" "$views.new/$lib/$dir"
	done
done
rm -rf "$views"
mv "$views.new" "$views"
