#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Replays a capture onto a network interface, for a live rstscope to watch (the README's live
view on the bundled demo capture).

usage: replay.py CAPTURE IFACE [--loop] [--pause SECONDS] [--times N]

Sends every frame of CAPTURE on IFACE as captured (Debian's python3-scapy, as root), the gaps
between frames kept up to 50 ms each, then pauses (default 2 s) and starts again with --loop,
up to --times rounds (default 1; with --loop until interrupted). The demo's hosts are in the
documentation ranges (198.51.100.0/24, 203.0.113.0/24): on `lo` or a dummy interface the kernel
drops them and answers nothing.
"""
import argparse
import sys
import time

from scapy.all import conf, rdpcap  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("capture")
    parser.add_argument("iface")
    parser.add_argument("--loop", action="store_true", help="replay until interrupted")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between rounds (0 to 60)")
    parser.add_argument("--times", type=int, default=0, help="rounds (1 to 100000; default 1, "
                        "or endless with --loop)")
    a = parser.parse_args()
    if not 0 <= a.pause <= 60 or not 0 <= a.times <= 100000:
        parser.error("--pause is 0 to 60 seconds, --times 1 to 100000")
    rounds = a.times or (0 if a.loop else 1)
    packets = rdpcap(a.capture)
    sock = conf.L2socket(iface=a.iface)
    done = 0
    try:
        while rounds == 0 or done < rounds:
            previous = None
            for p in packets:
                if previous is not None:
                    time.sleep(min(max(float(p.time - previous), 0.0), 0.05))
                previous = p.time
                sock.send(p)
            done += 1
            print(f"replay: round {done}: {len(packets)} frames on {a.iface}", file=sys.stderr)
            if rounds == 0 or done < rounds:
                time.sleep(a.pause)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


if __name__ == "__main__":
    main()
