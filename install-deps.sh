#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what building and testing dashscope-credential needs on
# Debian/Ubuntu (uses sudo when not root).
set -eu
packages="autoconf automake libtool pkg-config make gcc
  libsecret-1-dev libcurl4-openssl-dev libssl-dev libjansson-dev check libpam0g-dev
  libpam-wrapper libpamtest0-dev
  libmicrohttpd-dev libsystemd-dev systemd
  gnome-keyring libsecret-tools dbus dbus-x11 openssl python3 util-linux
  dash zsh fish tcsh mandoc groff-base valgrind clang-format cppcheck
  clang libclang-rt-dev
  bash-completion curl hyperfine time strace openssh-server openssh-client nginx-light wrk haproxy libh2o-evloop-dev libevent-dev
  dpkg-dev debhelper lintian man-db devscripts"
# clang and libclang-rt-dev: `make fuzz-run` (on Debian 12 libFuzzer's
# runtime is only a Recommends of clang's, which --no-install-recommends
# leaves out)
# devscripts: hardening-check, for tests/test_hardening.sh
# libh2o-evloop-dev: bench/proxy with BENCH_H2O=1 (the h2o floor)
# libevent-dev: bench/evhttp_door.c (what evhttp's parser lets through)
run() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
run apt-get update
# npm (for tests/e2e/install-clients.sh, which fetches Node 22 and the
# clients) from Debian only when none is installed: a Node.js from another
# source (nodesource's) ships its own and conflicts with Debian's npm
command -v npm >/dev/null || packages="$packages npm"
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive run apt-get install -y --no-install-recommends $packages
