#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the hyperfine JSON files and RSS table left by bench/run in DIR
into the Markdown report (stdout). Ratios are medians of ours over the
reference command measured in the same hyperfine invocation.

Usage: report.py DIR
"""
import json
import os
import statistics
import sys

W = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    path = os.path.join(W, name + ".json")
    if not os.path.exists(path):
        return None
    return json.load(open(path))["results"]


def ms(x):
    return "%.2f" % (x * 1000)


def label(cmd):
    cmd = cmd.replace(W + "/", "")
    for long, short in ((os.environ.get("DS", "dashscope-credential"), "dashscope-credential"),):
        cmd = cmd.replace(long, short)
    if "Authorization: Bearer $k" in cmd:
        return "k=$(secret-tool lookup ...); curl -X POST -H \"Authorization: Bearer $k\" ..."
    if cmd.startswith("curl "):
        return "curl -X POST -H @auth-header ..."
    return cmd.replace(" >/dev/null 2>&1", "").replace(" >/dev/null", "")


def table(name, title, reference=0):
    res = load(name)
    if not res:
        return ""
    ref = res[reference]["median"]
    out = ["### " + title, "",
           "| command | median ms | mean ± sd ms | ratio to first |", "|---|---:|---:|---:|"]
    for r in res:
        out.append("| `%s` | %s | %s ± %s | %.2f |" % (
            label(r["command"]), ms(r["median"]), ms(r["mean"]), ms(r["stddev"]),
            r["median"] / ref))
    return "\n".join(out) + "\n"


def ratio(name):
    res = load(name)
    return res[1]["median"] / res[0]["median"] if res else float("nan")


def delta_ms(name):
    res = load(name)
    if not res:
        return "n/a"
    return "%.2f (+%.1f ms)" % (res[1]["median"] / res[0]["median"],
                               (res[1]["median"] - res[0]["median"]) * 1000)


def load_login():
    path = os.path.join(W, "login.json")
    return json.load(open(path)) if os.path.exists(path) else None


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return (xs[n // 2] + xs[(n - 1) // 2]) / 2


def login_delta(d, kind):
    a, b = median(d["without"]), median(d[kind])
    return "%.2f (%+.1f ms)" % (b / a, (b - a) * 1000)


def login_section(d):
    out = ["## A real login through pam_dashscope", "",
           "`ssh user@127.0.0.1 true` through a private sshd (bench/login), %d logins of each"
           % d["logins"],
           "kind, alternating, after three warm-up rounds. \"module, /bin/true\" runs the",
           "module with `helper=/bin/true`: the module's own cost without the helper's.",
           "A login's spread (sd) here is far above the module's cost, so these deltas",
           "are mostly noise; the time measured inside the module is below.", "",
           "| PAM session stack | median ms | sd ms | ratio | delta | median of paired deltas |",
           "|---|---:|---:|---:|---:|---:|"]
    base = median(d["without"])
    for kind, title in (("without", "without the module"), ("with", "with pam_dashscope"),
                        ("empty_helper", "module, /bin/true as helper")):
        xs = d.get(kind)
        if not xs:
            continue
        paired = median([y - x for x, y in zip(d["without"], xs)])
        out.append("| %s | %.1f | %.1f | %.2f | %+.1f ms | %+.1f ms |" % (
            title, median(xs) * 1000, statistics.pstdev(xs) * 1000, median(xs) / base,
            (median(xs) - base) * 1000, paired * 1000))
    if d.get("in_module"):
        out += ["", "Time spent inside `pam_sm_open_session`, from the module's own `debug` line",
                "(CLOCK_MONOTONIC from entry to return), during the same logins: it is what the",
                "module adds to a login, without the noise of ssh's key exchange above.", "",
                "| module run | median ms | min ms | max ms |", "|---|---:|---:|---:|"]
        for kind, title in (("in_module", "with the helper"),
                            ("in_module_empty_helper", "with /bin/true as helper")):
            xs = d.get(kind)
            if xs:
                out.append("| %s | %.1f | %.1f | %.1f |" % (title, median(xs) * 1000,
                                                           min(xs) * 1000, max(xs) * 1000))
    return "\n".join(out) + "\n"


def main():
    print("# Benchmark results\n")
    print("Written by `bench/run`; do not edit by hand. Times are wall-clock")
    print("medians from hyperfine (each command run by dash, whose own start-up")
    print("hyperfine subtracts); ratios compare commands measured in the same")
    print("hyperfine invocation, because this machine is shared and noisy.\n")
    print(open(os.path.join(W, "meta")).read())
    print("## Headline\n")
    print("| comparison | median ratio | goal |")
    print("|---|---:|---:|")
    print("| `token`, file store / bare `curl -X POST` | %.2f | ≤ 1.3 |" % ratio("file-token"))
    print("| `token`, Secret Service / `secret-tool lookup` + `curl` pipeline | %.2f | ≤ 1.0 |"
          % ratio("ss-token"))
    print("| `get`, file store / bare `curl` | %.2f | |" % ratio("file-get"))
    print("| `get`, Secret Service / pipeline | %.2f | |" % ratio("ss-get"))
    print("| `env`, file store / bare `curl` | %.2f | |" % ratio("file-env"))
    print("| `env`, Secret Service / pipeline | %.2f | |" % ratio("ss-env"))
    print("| `list` (1 profile) / `secret-tool search --all` | %.2f | |" % ratio("ss-list1"))
    print("| `env --shell pam --no-key` / `/bin/true` | %s | |" % delta_ms("pam-env"))
    login = load_login()
    if login:
        print("| login with pam_dashscope / without (private sshd) | %s | ≤ +15 ms |"
              % login_delta(login, "with"))
        if login.get("in_module"):
            print("| time in pam_dashscope's open_session at login (its debug line) | %.1f ms | ≤ 15 ms |"
                  % (median(login["in_module"]) * 1000))
    print()
    print("## Details\n")
    for name, title in (("file-token", "token, file store"), ("file-get", "get, file store"),
                        ("file-env", "env, file store"), ("ss-token", "token, Secret Service"),
                        ("ss-get", "get, Secret Service"), ("ss-env", "env, Secret Service"),
                        ("ss-list1", "list, Secret Service, 1 profile"),
                        ("pam-env", "env --shell pam --no-key (what the PAM module runs), file store"),
                        ("get-lines", "get with a request of 1, 100 and 256 lines (file store)")):
        print(table(name, title))
    login = load_login()
    if login:
        print(login_section(login))
    print("## Peak memory (RSS, median of 5 runs)\n")
    print("| what | KiB |\n|---|---:|")
    for line in open(os.path.join(W, "rss.tsv")):
        name, kib, _ = line.rstrip("\n").split("\t", 2)
        print("| %s | %s |" % (name, kib))
    print("\n## How `list` grows with the number of profiles\n")
    print("| profiles | file store ms | Secret Service ms | `secret-tool search --all` ms | ours / secret-tool |")
    print("|---:|---:|---:|---:|---:|")
    for n in (1, 10, 100, 1000):
        f, s = load("list-file-%d" % n), load("list-ss-%d" % n)
        if f and s:
            print("| %d | %s | %s | %s | %.2f |" % (n, ms(f[0]["median"]), ms(s[0]["median"]),
                                                    ms(s[1]["median"]), s[0]["median"] / s[1]["median"]))
    print()
    print(table("token-with-many", "token with the largest profile count above (file store, then Secret Service)"))
    analysis = os.path.join(HERE, "analysis.md")
    if os.path.exists(analysis):
        print(open(analysis).read())


main()
