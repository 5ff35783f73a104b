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


def concurrent(store, lifetime):
    before = mints()
    times, lock, barrier = [], threading.Lock(), threading.Barrier(CONC)

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
    return times, mints() - before


rows = []
one("broker", 600)  # warm-up: page cache, first mint
one("file", 600)
t, m = sequential("file", [60] * N)
rows.append(("`token`, own file store", N, t, "%d (every call)" % N))
t, m = sequential("broker", [600] * N)
rows.append(("`token` via broker, cached", N, t, str(m)))
t, m = sequential("broker", range(100, 100 + N))
rows.append(("`token` via broker, cold (new lifetime each call)", N, t, str(m)))
t, m = concurrent("file", 60)
rows.append(("100 concurrent, own file store", CONC, t, "%d (every call)" % CONC))
t, m = concurrent("broker", 1200)
rows.append(("100 concurrent via broker, one user, cold", CONC, t, str(m)))
t, m = concurrent("broker", 1200)
rows.append(("100 concurrent via broker, one user, cached", CONC, t, str(m)))

out = ["## Broker", "",
       "Written by `sudo bench/broker`%s: wall-clock latency of one `dashscope-credential token`"
       % (" --quick" if a.quick == "1" else ""),
       "run as an ordinary user (through `setpriv`, which both columns pay), the broker running as",
       "its service user under `systemd-socket-activate`, minting against the plain-HTTP loopback",
       "endpoint of `bench/token_server.py`. Mints are counted from the broker's audit lines.",
       "",
       "date: %s, %d cores" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count()),
       "",
       "| case | calls | median ms | p99 ms | mints caused |",
       "|---|---:|---:|---:|---:|"]
for name, n, times, m in rows:
    out.append("| %s | %d | %.1f | %.1f | %s |" % (name, n, statistics.median(times), pct(times, 99), m))
print("\n".join(out))
