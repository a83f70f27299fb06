#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Measure rstscope's Zeek parity on Zeek's own btest traces and conn.log baselines.

usage: zeek_btest_parity.py RSTSCOPE_BINARY ZEEK_GIT_DIR WORKDIR [--show N] [-- EXTRA_ARGS...]

ZEEK_GIT_DIR is a git directory (bare or not) of zeek/zeek: nothing is committed here, the traces
and baselines are read with `git show` into WORKDIR. For every testing/btest/Baseline/T/conn.log
with a reset connection (conn_state REJ, RSTO, RSTR, RSTOS0, RSTRH or an R/r in its history) whose
test file reads exactly one trace (`-r $TRACES/...` or `${TRACES}`) and no other input, rstscope runs on that trace
(`--pcap TRACE --log EVENTS --control none` plus EXTRA_ARGS, 120 s timeout) and each Zeek reset
connection is matched with an event on its orig/resp address and port (either direction, in order
where a 4-tuple is reused). Prints per test: reset connections, found, same conn_state, same
history; then the totals. Exit 0 when every test ran.
"""
import json
import os
import re
import subprocess
import sys

RESET_STATES = {"REJ", "RSTO", "RSTR", "RSTOS0", "RSTRH"}
TEST_EXTENSIONS = ("", ".zeek", ".test", ".bro", ".sh", ".spicy")


def git(gitdir, *args, binary=False):
    out = subprocess.run(["git", "--git-dir", gitdir, *args], capture_output=True, timeout=120)
    if out.returncode != 0:
        return None
    return out.stdout if binary else out.stdout.decode("utf-8", "replace")


def read_conn_log(text):
    rows, fields = [], None
    for line in text.splitlines():
        if line.startswith("{"):
            rows.append(json.loads(line))
        elif line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#") and fields:
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


def key(r):
    return (str(r.get("id.orig_h", r.get("orig_h"))), int(r.get("id.orig_p", r.get("orig_p", -1))),
            str(r.get("id.resp_h", r.get("resp_h"))), int(r.get("id.resp_p", r.get("resp_p", -1))))


def is_reset(r):
    return r.get("conn_state") in RESET_STATES or any(c in (r.get("history") or "") for c in "Rr")


def find_test(gitdir, files, name):
    base = "testing/btest/" + name.replace(".", "/")
    for ext in TEST_EXTENSIONS:
        if base + ext in files:
            return base + ext
    # A test name may keep a dot of its file name (e.g. foo.bar.zeek): try splitting less.
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        stem = "testing/btest/" + "/".join(parts[:cut]) + "/" + ".".join(parts[cut:])
        for ext in TEST_EXTENSIONS:
            if stem + ext in files:
                return stem + ext
    return None


def main():
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        i = args.index("--")
        extra, args = args[i + 1:], args[:i]
    show = 20
    if "--show" in args:
        i = args.index("--show")
        show = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 3:
        print(__doc__)
        return 2
    binary, gitdir, workdir = args
    os.makedirs(workdir, exist_ok=True)
    files = set(git(gitdir, "ls-tree", "-r", "--name-only", "HEAD", "testing/btest").split("\n"))
    baselines = sorted(f for f in files
                       if f.startswith("testing/btest/Baseline/") and f.endswith("/conn.log"))
    totals = [0, 0, 0, 0]
    misses = []
    for baseline in baselines:
        name = baseline.split("/")[3]
        rows = [r for r in read_conn_log(git(gitdir, "show", "HEAD:" + baseline) or "")
                if r.get("proto", "tcp") == "tcp"]
        resets = [r for r in rows if is_reset(r)]
        if not resets or "conn_state" not in resets[0] or "id.orig_h" not in resets[0]:
            continue
        test = find_test(gitdir, files, name.split("-")[0] if "-" in name else name) \
            or find_test(gitdir, files, name)
        if test is None:
            print(f"skip {name}: test file not found")
            continue
        text = git(gitdir, "show", "HEAD:" + test) or ""
        traces = sorted(set(re.findall(r"-r\s+\$\{?TRACES\}?/([^\s\x27\"]+)", text)))
        if len(traces) != 1:
            print(f"skip {name}: {len(traces)} traces")
            continue
        data = git(gitdir, "show", "HEAD:testing/btest/Traces/" + traces[0], binary=True)
        if not data or data.startswith(b"version https://git-lfs"):
            print(f"skip {name}: trace {traces[0]} not stored")
            continue
        trace = os.path.join(workdir, traces[0].replace("/", "__"))
        with open(trace, "wb") as f:
            f.write(data)
        log = os.path.join(workdir, name + ".jsonl")
        if os.path.exists(log):
            os.unlink(log)
        cmd = [binary, "--pcap", trace, "--log", log, "--control", "none"] + extra
        try:
            subprocess.run(cmd, capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            print(f"skip {name}: rstscope timed out")
            continue
        events = {}
        if os.path.exists(log):
            with open(log, encoding="utf-8") as f:
                for line in f:
                    e = json.loads(line) if line.strip() else {}
                    if e.get("type", "reset") == "reset" and "orig_h" in e:
                        events.setdefault(key(e), []).append(e)
        found = state = history = 0
        for r in resets:
            k = key(r)
            e = (events.get(k) or events.get((k[2], k[3], k[0], k[1])) or [None])
            e = e.pop(0) if e[0] is not None else None
            if e is None:
                misses.append(f"{name}: missing {k} zeek={r['conn_state']} {r.get('history')}")
                continue
            found += 1
            same_state = e.get("conn_state") == r["conn_state"]
            same_history = e.get("history") == r.get("history")
            state += same_state
            history += same_history
            if not (same_state and same_history):
                misses.append(f"{name}: {k} zeek={r['conn_state']} {r.get('history')} "
                              f"rstscope={e.get('conn_state')} {e.get('history')}")
        print(f"{name}: resets {len(resets)} found {found} state {state} history {history}")
        for i, v in enumerate((len(resets), found, state, history)):
            totals[i] += v
    print(f"TOTAL: zeek reset connections {totals[0]}, found {totals[1]}, "
          f"same conn_state {totals[2]}, same history {totals[3]}")
    for m in misses[:show]:
        print("  " + m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
