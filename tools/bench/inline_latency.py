#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The latency and throughput rstscope --mode inline adds between two real Linux stacks.

usage: inline_latency.py RSTSCOPE RSTSCOPECTL [--round-trips N] [--megabytes M] [--runs R]

The path of tests/integration/run_inline_real.py (client and server namespaces whose veth peers
sit in a middle namespace, offloads off), crossed once through a Linux bridge (the baseline) and
once through rstscope (one worker, two net_af_packet ports). Each way: N request/responses of
64 bytes on one TCP connection (round-trip time of each, median and p99), then a download of M
MB on a new connection (throughput). R runs of each, alternating; the table gives each run.
Needs root; a benchmark, not a test: the figures depend on the machine and its load.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "integration"))
import inline_path  # noqa: E402

PORT = 9000

SERVER = r"""
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8); print("ready", flush=True)
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    first = c.recv(64)
    if first.startswith(b"BULK"):
        left = int(first.split()[1]); chunk = b"x" * 65536
        while left > 0:
            c.sendall(chunk[:min(left, 65536)]); left -= 65536
    else:
        data = first
        while data:
            c.sendall(data); data = c.recv(64)
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

CLIENT = r"""
import json, socket, sys, time
server, port = sys.argv[1], int(sys.argv[2])
round_trips, megabytes = int(sys.argv[3]), int(sys.argv[4])
c = socket.create_connection((server, port), timeout=10)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
msg = b"r" * 64; rtts = []
for _ in range(round_trips):
    t = time.perf_counter_ns(); c.sendall(msg); got = 0
    while got < 64: got += len(c.recv(64 - got))
    rtts.append(time.perf_counter_ns() - t)
c.close(); rtts.sort()
size = megabytes * 1000000
c = socket.create_connection((server, port), timeout=10); c.sendall(b"BULK %d" % size)
t = time.perf_counter(); got = 0
while got < size:
    d = c.recv(1 << 20)
    if not d: break
    got += len(d)
elapsed = time.perf_counter() - t
print(json.dumps({"median_us": rtts[len(rtts) // 2] / 1000,
                  "p99_us": rtts[int(len(rtts) * 0.99) - 1] / 1000,
                  "mbit_s": got * 8 / elapsed / 1e6, "bytes": got}), flush=True)
"""


def measure(path, round_trips, megabytes):
    r = path.run(sys.executable, "-c", CLIENT, path.SERVER_ADDR, str(PORT), str(round_trips),
                 str(megabytes), ns=path.CLIENT, timeout=300)
    return json.loads(r.stdout.strip().splitlines()[-1])


def one_run(way, rstscope, rstscopectl, args, workdir):
    path = inline_path.InlinePath(f"ib{os.getpid() % 100000}")
    procs = []
    try:
        path.set_up()
        if way == "bridge":
            path.bridge()
        else:
            sock = os.path.join(workdir, "control.sock")
            proc = path.start_rstscope(rstscope, ["--log", os.path.join(workdir, "bench.jsonl"),
                                                  "--control", sock, "--quiet"])
            procs.append(proc)
            if not path.wait_ready(rstscopectl, sock, proc):
                raise RuntimeError("rstscope did not start: " + proc.stderr.read()[-300:])
        server = path.in_server([sys.executable, "-c", SERVER, str(PORT)])
        procs.append(server)
        server.stdout.readline()
        time.sleep(1.0)  # the bridge's ports reach forwarding state / ARP settles
        return measure(path, args.round_trips, args.megabytes)
    finally:
        path.tear_down(procs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rstscope")
    parser.add_argument("rstscopectl")
    parser.add_argument("--round-trips", type=int, default=1000)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 1
    workdir = f"/tmp/inline_bench.{os.getpid()}"
    os.makedirs(workdir, exist_ok=True)
    print(f"{args.round_trips} round trips of 64 B, then {args.megabytes} MB down; "
          f"{os.cpu_count()} CPUs")
    print(f"{'path':<10} {'run':>3} {'median µs':>10} {'p99 µs':>8} {'Mbit/s':>8}")
    for run in range(args.runs):
        for way in ("bridge", "rstscope"):
            m = one_run(way, args.rstscope, args.rstscopectl, args, workdir)
            print(f"{way:<10} {run + 1:>3} {m['median_us']:>10.1f} {m['p99_us']:>8.1f} "
                  f"{m['mbit_s']:>8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
