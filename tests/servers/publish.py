# SPDX-License-Identifier: MIT
"""What a test server does once it listens: publish its ports for the test
(a JSON object, written whole and renamed into place, so the test never
reads half of it), then live as long as the test that started it, and at
most 15 minutes even if that test dies without cleaning up."""
import json
import os
import time


def publish_and_wait(directory, name, ports):
    tmp = os.path.join(directory, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(ports, f)
    os.rename(tmp, os.path.join(directory, name))
    parent = os.getppid()
    deadline = time.time() + 900
    while os.getppid() == parent and time.time() < deadline:
        time.sleep(0.5)
