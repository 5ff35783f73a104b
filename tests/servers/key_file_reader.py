#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reads DASHSCOPE_API_KEY_FILE_PATH the way the DashScope SDK does
(dashscope/common/api_key.py: open, read, strip, on every call), as the
command of `exec --key-file`: checks the modes and that DASHSCOPE_API_KEY
is gone, then polls until the file has held three keys.

Usage: key_file_reader.py
Prints the file's path, then the keys it saw; exits 5 (a status of its
own, so the caller can tell it ran to the end)."""
import os
import stat
import sys
import time

assert "DASHSCOPE_API_KEY" not in os.environ, "DASHSCOPE_API_KEY is set"
path = os.environ["DASHSCOPE_API_KEY_FILE_PATH"]
assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, "file mode"
assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700, "dir mode"
print(path)
keys = []
# until the file has held three keys (2 s each), polled as an SDK would;
# the cap only ends a run whose file never changes
end = time.monotonic() + 60
while len(keys) < 3 and time.monotonic() < end:
    with open(path) as f:
        k = f.read().strip()
    assert k.startswith("st-"), "bad key %r" % k
    if not keys or keys[-1] != k:
        keys.append(k)
    time.sleep(0.05)
print(" ".join(keys))
sys.exit(5)
