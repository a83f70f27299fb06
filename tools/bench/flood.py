#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Reliability figures under load, for the notes and docs/performance.md (a benchmark, not a test).

usage: flood.py RSTSCOPE GEN_BIG_PCAP WORKDIR [--rsts N] [--packets N] [--baseline OTHER_RSTSCOPE]

1. An RST flood of N bare RSTs from random sources: wall time, peak RSS, and the slowest `stats`
   answer while a client polls every 50 ms.
2. A capture of N packets (the mixed model) stopped by SIGTERM mid-run with a long linger: resets
   seen against events written.
3. The same capture with 1, 2 and 3 workers: identical logs or not.
With --baseline, part 1 is also run with another build, side by side in the same run.
"""
import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import time


def stats(sock):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    start = time.monotonic()
    try:
        s.connect(sock)
        s.sendall(b"stats\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            data += chunk
        return json.loads(data), time.monotonic() - start
    finally:
        s.close()


def run_polled(args, sock, poll=0.05):
    """Runs to the end polling `stats`; returns (exit code, wall s, peak MiB, answer times s).
    The socket exists from start-up on, before management serves it: the first answer includes
    the rest of start-up (EAL, ports, tables)."""
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    answers = []
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if os.path.exists(sock):
            try:
                answers.append(stats(sock)[1])
            except (OSError, ValueError):
                pass
        time.sleep(poll)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.monotonic() - start, usage.ru_maxrss / 1024, answers


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rstscope")
    ap.add_argument("gen")
    ap.add_argument("workdir")
    ap.add_argument("--rsts", type=int, default=1_000_000)
    ap.add_argument("--packets", type=int, default=2_000_000)
    ap.add_argument("--baseline")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    quiet = ["--config", os.devnull, "--quiet"]

    flood = os.path.join(a.workdir, f"flood{a.rsts}.pcap")
    if not os.path.exists(flood):
        subprocess.run([a.gen, flood, "--flows", str(a.rsts // 10), "--rst-flood"], check=True)
    for label, binary in [("rstscope", a.rstscope)] + ([("baseline", a.baseline)]
                                                      if a.baseline else []):
        sock = os.path.join(a.workdir, f"{label}.sock")
        rc, wall, peak, answers = run_polled(
            [binary, "--pcap", flood, "--log", os.devnull, "--control", sock] + quiet, sock)
        first = answers[0] * 1000 if answers else float("nan")
        later = max(answers[1:], default=float("nan")) * 1000
        print(f"flood {a.rsts} RSTs, {label}: exit {rc}, {wall:.2f} s, peak RSS {peak:.0f} MiB, "
              f"{len(answers)} stats answers: first {first:.0f} ms (start-up), then slowest "
              f"{later:.0f} ms")

    mixed = os.path.join(a.workdir, f"mixed{a.packets}.pcap")
    if not os.path.exists(mixed):
        subprocess.run([a.gen, mixed, "--flows", str(a.packets // 10)], check=True)
    sock, log, js = (os.path.join(a.workdir, n) for n in ("term.sock", "term.jsonl", "term.json"))
    for f in (log, js):
        if os.path.exists(f):
            os.unlink(f)
    proc = subprocess.Popen([a.rstscope, "--pcap", mixed, "--log", log, "--summary-json", js,
                             "--control", sock, "--linger", "3600"] + quiet)
    while proc.poll() is None:
        try:
            if stats(sock)[0].get("packets", 0) >= a.packets // 2:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=120)
    with open(js) as f:
        s = json.load(f)
    with open(log) as f:
        lines = sum(1 for _ in f)
    print(f"SIGTERM after {s['packets']} of {a.packets} packets: exit {rc}, resets seen "
          f"{s['reset_connections']}, events logged {s['events_logged']}, log lines {lines}, "
          f"lost {s['events_lost']}")

    digests = {}
    for workers in (1, 2, 3):
        log = os.path.join(a.workdir, f"w{workers}.jsonl")
        if os.path.exists(log):
            os.unlink(log)
        start = time.monotonic()
        rc = subprocess.run([a.rstscope, "--pcap", mixed, "--workers", str(workers), "--log", log,
                             "--control", "none"] + quiet).returncode
        digests[workers] = digest(log)
        print(f"{workers} worker(s): exit {rc}, {time.monotonic() - start:.2f} s, log "
              f"{digests[workers]}")
    print("logs identical" if len(set(digests.values())) == 1 else "LOGS DIFFER")


if __name__ == "__main__":
    main()
