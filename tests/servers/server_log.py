#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Questions to the log of tests/token_server.py (requests.log: one JSON
object a line), for the proxy tests.

Usage: server_log.py LOG QUESTION ARGS
  chat-keys PATH        the key of each request to PATH, in order (Bearer,
                        else x-api-key)
  minted                each key the token endpoint handed out, in order
  requests PATH ID      how many requests to PATH had id=ID in their query
  field WHAT:ID FIELD   FIELD of the last entry whose WHAT is ID
  first-t WHAT ID       the time of the first entry whose WHAT is ID
A question with no answer prints nothing and exits 1."""
import json
import sys


def entries(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def main(log, question, *args):
    ev = entries(log)
    if question == "chat-keys":
        for e in ev:
            if e.get("path") == args[0]:
                print(e["key"] or e["x_api_key"])
    elif question == "minted":
        for e in ev:
            if "minted" in e:
                print(e["minted"])
    elif question == "requests":
        n = 0
        for e in ev:
            q = dict(p.split("=", 1) for p in e.get("query", "").split("&") if "=" in p)
            n += e.get("path") == args[0] and q.get("id") == args[1]
        print(n)
    elif question == "field":
        what, rid = args[0].split(":", 1)
        found = [e[args[1]] for e in ev if e.get(what) == rid]
        if not found:
            return 1
        print(found[-1])
    elif question == "first-t":
        found = [e["t"] for e in ev if e.get(args[0]) == args[1]]
        if not found:
            return 1
        print(found[0])
    else:
        sys.exit("server_log.py: unknown question " + question)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
