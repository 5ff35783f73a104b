#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the real clients the end-to-end test drives (Claude Code and
# Qwen Code, pinned in package.json) from the npm registry into
# tests/e2e/node_modules. make check never downloads: without them
# tests/test_clients.sh reports itself skipped.
set -eu
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "install-clients: npm is not installed" >&2; exit 1; }
npm install --no-audit --no-fund --no-package-lock --loglevel=error
