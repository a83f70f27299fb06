#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""What a net_af_packet port loses while its worker shares the CPUs, by --iface-ring-frames.

usage: iface_ring_drops.py RSTSCOPE RSTSCOPECTL CAPTURE [--loops N] [--frames F,F,...] [--runs R]
                           [--hogs H]

rstscope --iface on the host's end of a veth pair (one worker, monitor mode); the frames of
CAPTURE (a plain libpcap file) are sent N times over from a network namespace behind the other
end, as fast as a packet socket takes them, while H busy loops (`yes`) compete for the CPUs. For
each ring size, R runs alternating: the frames the interface received while they were sent,
those rstscope saw, and those the kernel dropped at the full ring (rx_missed; seen + missed =
received is checked).
Needs root; a benchmark, not a test: the figures depend on the machine and its load.
"""
import argparse
import json
import os
import subprocess
import sys
import time

SENDER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from loopback import replay_on
print(replay_on(sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


def sh(*args, check=True):
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=60)


def stats(rstscopectl, sock):
    r = sh(rstscopectl, "--socket", sock, "--timeout", "5", "--json", "stats")
    return json.loads(r.stdout)


def rx_packets(interface):
    with open(f"/sys/class/net/{interface}/statistics/rx_packets") as f:
        return int(f.read())


def one_run(args, frames, tag):
    ns, host, peer = f"ird{tag}", f"irdh{tag}", f"irdp{tag}"
    sock = f"/tmp/iface-ring-drops-{tag}.sock"
    hogs, proc = [], None
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", peer, "netns", ns)
        sh("sysctl", "-qw", f"net.ipv6.conf.{host}.disable_ipv6=1")
        sh("ip", "link", "set", host, "up")
        sh("ip", "-n", ns, "link", "set", peer, "up")
        proc = subprocess.Popen([args.rstscope, "--iface", host, "--iface-ring-frames",
                                 str(frames), "--control", sock, "--log", os.devnull,
                                 "--config", os.devnull, "--quiet"])
        deadline = time.monotonic() + 30
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        received0, before = rx_packets(host), stats(args.rstscopectl, sock)
        hogs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(args.hogs)]
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                            "integration")
        sent = int(sh("ip", "netns", "exec", ns, "/usr/bin/python3", "-c", SENDER, here, peer,
                      args.capture, str(args.loops)).stdout)
        for hog in hogs:
            hog.kill()
            hog.wait()
        hogs = []
        time.sleep(1)
        received, after = rx_packets(host) - received0, stats(args.rstscopectl, sock)
        return (sent, received, after["packets"] - before["packets"],
                after["rx_missed"] - before["rx_missed"])
    finally:
        for hog in hogs:
            hog.kill()
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
        sh("ip", "link", "del", host, check=False)
        sh("ip", "netns", "del", ns, check=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("rstscope")
    p.add_argument("rstscopectl")
    p.add_argument("capture")
    p.add_argument("--loops", type=int, default=300)
    p.add_argument("--frames", default="512,8192")
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--hogs", type=int, default=2)
    args = p.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    print("| --iface-ring-frames | sent | received | seen | missed | missed % | seen + missed = received |")
    print("|---|---|---|---|---|---|---|")
    for run in range(args.runs):
        for frames in (int(f) for f in args.frames.split(",")):
            sent, received, seen, missed = one_run(args, frames, f"{os.getpid() % 10000}{run}")
            print(f"| {frames} | {sent} | {received} | {seen} | {missed} | "
                  f"{100 * missed / max(received, 1):.1f} | {seen + missed == received} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
