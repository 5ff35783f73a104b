#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The measuring half of bench/broker: runs `dashscope-credential token` as
the bench user through the broker (cached: the same lifetime each time;
cold: a lifetime no call used before, so every call mints) and on the
user's own file store, one at a time and 100 at once, and prints the
Markdown section for bench/RESULTS.md. Mints are counted from the
broker's audit lines."""
import argparse
import os
import statistics
import subprocess
import threading
import time

ap = argparse.ArgumentParser()
for name in ("quick", "ds", "user", "home", "sock", "endpoint", "client-conf", "empty-conf", "audit"):
    ap.add_argument("--" + name, required=True)
a = ap.parse_args()
N = 20 if a.quick == "1" else 60
CONC = 100
ROUNDS = 1 if a.quick == "1" else 3  # concurrent rounds, pooled: the machine is noisy


def command(store, lifetime):
    conf = a.client_conf if store == "broker" else a.empty_conf
    env = ["env", "-i", "PATH=/usr/bin:/bin", "HOME=" + a.home,
           "DASHSCOPE_CREDENTIAL_SYSTEM_CONFIG=" + conf,
           "DASHSCOPE_CREDENTIAL_BROKER=" + a.sock,
           "DASHSCOPE_CREDENTIAL_ENDPOINT=" + a.endpoint]
    if store == "file":
        env.append("DASHSCOPE_CREDENTIAL_STORE=file")
    return ["setpriv", "--reuid=" + a.user, "--regid=" + a.user, "--init-groups", "--"] + env + \
        [a.ds, "token", "-p", "org", "-l", str(lifetime)]


def one(store, lifetime):
    t = time.perf_counter()
    r = subprocess.run(command(store, lifetime), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ms = (time.perf_counter() - t) * 1000
    if r.returncode != 0 or not r.stdout.startswith(b"st-"):
        raise SystemExit("token failed (%s): %s" % (store, r.stderr.decode(errors="replace")))
    return ms


def mints():
    with open(a.audit) as f:
        return sum(1 for line in f if "result=minted" in line)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def sequential(store, lifetimes):
    before = mints()
    times = [one(store, lt) for lt in lifetimes]
    return times, mints() - before


def concurrent(store, lifetimes):
    """One round of CONC callers per lifetime; returns all latencies and
    the mints per round."""
    times, lock = [], threading.Lock()
    before = mints()
    for lifetime in lifetimes:
        barrier = threading.Barrier(CONC)

        def run():
            barrier.wait()
            ms = one(store, lifetime)
            with lock:
                times.append(ms)
        threads = [threading.Thread(target=run) for _ in range(CONC)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return times, (mints() - before) / float(len(lifetimes))


RAW = r"""
import socket, sys, threading, time
sock, n, lifetime = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out, lock, bar = [], threading.Lock(), threading.Barrier(n)
def ask(req):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(req)
    d = b""
    while True:
        x = s.recv(65536)
        if not x:
            break
        d += x
    s.close()
    if not d.startswith(b"status=ok"):
        raise SystemExit(d[:200])
def one():
    bar.wait()
    t = time.perf_counter()
    ask(b"action=list\n\n")
    ask(b"action=get\nprofile=org\nlifetime=" + lifetime.encode() + b"\n\n")
    with lock:
        out.append((time.perf_counter() - t) * 1000)
ts = [threading.Thread(target=one) for _ in range(n)]
[t.start() for t in ts]
[t.join() for t in ts]
print(" ".join("%.3f" % v for v in out))
"""


def raw_concurrent(lifetimes):
    """The broker alone: CONC protocol clients in one process (no program
    start), each doing what `token` does (list, then get)."""
    times = []
    before = mints()
    for lifetime in lifetimes:
        r = subprocess.run(["setpriv", "--reuid=" + a.user, "--regid=" + a.user, "--init-groups", "--",
                            "/usr/bin/python3", "-c", RAW, a.sock, str(CONC), str(lifetime)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise SystemExit("raw clients failed: %s" % r.stderr.decode(errors="replace"))
        times += [float(v) for v in r.stdout.split()]
    return times, (mints() - before) / float(len(lifetimes))


rows = []
one("broker", 600)  # warm-up: page cache, first mint
one("file", 600)
t, m = sequential("file", [60] * N)
rows.append(("`token`, own file store", N, t, "%d (every call)" % N))
t, m = sequential("broker", [600] * N)
rows.append(("`token` via broker, cached", N, t, str(m)))
t, m = sequential("broker", range(100, 100 + N))
rows.append(("`token` via broker, cold (new lifetime each call)", N, t, str(m)))
cold = list(range(1200, 1200 + ROUNDS))
t, m = concurrent("file", [60] * ROUNDS)
rows.append(("100 concurrent `token`, own file store", CONC * ROUNDS, t, "%d a round (every call)" % CONC))
t, m = concurrent("broker", cold)
rows.append(("100 concurrent `token` via broker, one user, cold", CONC * ROUNDS, t, "%g a round" % m))
t, m = concurrent("broker", cold)
rows.append(("100 concurrent `token` via broker, one user, cached", CONC * ROUNDS, t, "%g a round" % m))
raw_cold = list(range(1300, 1300 + ROUNDS))
t, m = raw_concurrent(raw_cold)
rows.append(("100 concurrent protocol clients (list + get, no program start), cold", CONC * ROUNDS, t,
             "%g a round" % m))
t, m = raw_concurrent(raw_cold)
rows.append(("100 concurrent protocol clients (list + get, no program start), cached", CONC * ROUNDS, t,
             "%g a round" % m))

out = ["## Broker", "",
       "Written by `sudo bench/broker`%s: wall-clock latency of one `dashscope-credential token`"
       % (" --quick" if a.quick == "1" else ""),
       "run as an ordinary user (through `setpriv`, which both columns pay), the broker running as",
       "its service user under `systemd-socket-activate`, minting against the plain-HTTP loopback",
       "endpoint of `bench/token_server.py`. Mints are counted from the broker's audit lines.",
       "Concurrent rows pool %d rounds of %d callers; with 100 programs starting at once on" % (ROUNDS, CONC),
       "this machine, their latency is mostly the wait for a CPU (the protocol rows show the",
       "broker's own share).",
       "",
       "date: %s, %d cores" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count()),
       "",
       "| case | calls | median ms | p99 ms | mints caused |",
       "|---|---:|---:|---:|---:|"]
for name, n, times, m in rows:
    out.append("| %s | %d | %.1f | %.1f | %s |" % (name, n, statistics.median(times), pct(times, 99), m))
print("\n".join(out))
