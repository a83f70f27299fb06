#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""How far rstscope's live timestamps are from the kernel's, over a live run (issue 10).

usage: live_time_error.py RSTSCOPE [SECONDS=60] [WORKDIR=/tmp/rstscope-live-time]

A network namespace behind a veth pair; rstscope --iface and tcpdump both capture the host's end.
Every 0.25 s a connection to a closed port in the namespace is refused; each refusal's event
`ts` (rstscope: TSC re-anchored on CLOCK_REALTIME) is compared with the kernel's receive
timestamp of the same RST (tcpdump, CLOCK_REALTIME). Prints the error's median, p99 and maximum,
and its trend (last 10 s against the first 10 s). A benchmark for the note, not a test: run as
root on an otherwise quiet machine.
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

NS, HOST_IF, PEER_IF = f"ltime{os.getpid() % 10000}", f"lth{os.getpid() % 10000}", "ltp0"
HOST, PEER = "198.51.100.1", "198.51.100.2"
FIRST_SOURCE_PORT = 20000  # below Linux's ephemeral range (32768-60999): no other socket takes them


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, timeout=20)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    rstscope = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    workdir = sys.argv[3] if len(sys.argv) > 3 else "/tmp/rstscope-live-time"
    os.makedirs(workdir, exist_ok=True)
    log, pcap = os.path.join(workdir, "events.jsonl"), os.path.join(workdir, "kernel.pcap")
    for path in (log, pcap):
        if os.path.exists(path):
            os.unlink(path)
    procs = []
    try:
        sh("ip", "netns", "add", NS)
        sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", PEER_IF, "netns", NS)
        sh("ip", "addr", "add", HOST + "/24", "dev", HOST_IF)
        sh("ip", "link", "set", HOST_IF, "up")
        sh("ip", "-n", NS, "addr", "add", PEER + "/24", "dev", PEER_IF)
        sh("ip", "-n", NS, "link", "set", PEER_IF, "up")
        procs.append(subprocess.Popen(["tcpdump", "-i", HOST_IF, "-U", "-w", pcap,
                                       "tcp[tcpflags] & tcp-rst != 0"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen([rstscope, "--iface", HOST_IF, "--log", log, "--control",
                                       "none", "--linger", "0.2", "--quiet", "--config",
                                       os.devnull], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        time.sleep(4)
        end = time.time() + seconds
        # Each attempt from its own source port: the kernel reuses ephemeral ports within a run,
        # and a port seen twice would pair an event with another attempt's RST.
        source_port = FIRST_SOURCE_PORT
        while time.time() < end:
            c = socket.socket()
            c.settimeout(1)
            c.bind((HOST, source_port))
            source_port += 1
            try:
                c.connect((PEER, 9))
            except OSError:
                pass
            c.close()
            time.sleep(0.25)
        time.sleep(1)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)

    kernel = {}
    out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "frame.time_epoch",
                          "-e", "tcp.dstport"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        ts, port = line.split("\t")
        if int(port) in kernel:
            print(f"port {port} was reset twice: the pairing would be ambiguous", file=sys.stderr)
            return 1
        kernel[int(port)] = float(ts)
    pairs = []
    with open(log) as f:
        for e in map(json.loads, f):
            if e["orig_p"] in kernel:
                pairs.append((kernel[e["orig_p"]], (e["ts"] - kernel[e["orig_p"]]) * 1e3))
    pairs.sort()
    errors = [err for _, err in pairs]
    if not errors:
        print("no matching events")
        return 1
    absolute = sorted(abs(e) for e in errors)
    first = [err for t, err in pairs if t < pairs[0][0] + 10]
    last = [err for t, err in pairs if t > pairs[-1][0] - 10]
    print(f"{len(errors)} resets over {pairs[-1][0] - pairs[0][0]:.1f} s; error = event ts - "
          f"kernel receive ts, ms: median {statistics.median(errors):+.3f}, "
          f"p99 |err| {absolute[int(0.99 * (len(absolute) - 1))]:.3f}, max |err| {absolute[-1]:.3f}; "
          f"trend: first 10 s median {statistics.median(first):+.3f}, "
          f"last 10 s median {statistics.median(last):+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
