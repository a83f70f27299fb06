#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Capture formats libpcap alone cannot read, built here byte by byte.

usage: run_formats.py RSTSCOPE WORKDIR

1. A pcapng whose interfaces differ in snapshot length (libpcap 1.10 refuses it; Wireshark writes
   such files): rstscope rewrites it and finds the refused connection in it.
2. A pcapng whose packets come from interfaces of different link types: refused with a clear
   error naming the link types, exit code 1.
Prints one line per check and `N passed, N failed`.
"""
import json
import os
import struct
import subprocess
import sys

T0 = 1_700_000_000


def block(block_type, body):
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def section():
    return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def interface(link_type, snaplen):
    return block(1, struct.pack("<HHI", link_type, 0, snaplen))


def packet(interface_id, ts_us, frame):
    return block(6, struct.pack("<IIIII", interface_id, ts_us >> 32, ts_us & 0xFFFFFFFF,
                                len(frame), len(frame)) + frame)


def tcp_frame(src, dst, sport, dport, seq, ack, flags):
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                     bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip + tcp


def run(rstscope, path, log):
    if os.path.exists(log):
        os.unlink(log)
    return subprocess.run([rstscope, "--pcap", path, "--log", log, "--control", "none", "--quiet",
                           "--config", os.devnull], capture_output=True, text=True, timeout=60)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    rstscope, workdir = sys.argv[1:]
    os.makedirs(workdir, exist_ok=True)
    results = []
    syn = tcp_frame("198.51.100.5", "203.0.113.5", 40000, 25, 1000, 0, 0x02)
    rst = tcp_frame("203.0.113.5", "198.51.100.5", 25, 40000, 0, 1001, 0x14)

    path = os.path.join(workdir, "snaplens.pcapng")
    with open(path, "wb") as f:
        f.write(section() + interface(1, 65535) + interface(1, 8192) +
                packet(1, T0 * 10**6, syn) + packet(1, T0 * 10**6 + 300, rst))
    log = os.path.join(workdir, "snaplens.jsonl")
    p = run(rstscope, path, log)
    events = [json.loads(l) for l in open(log)] if os.path.exists(log) else []
    ok = (p.returncode == 0 and len(events) == 1 and events[0]["cause"] == "refused" and
          events[0]["ts"] == T0 + 0.0003)
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} pcapng with differing snapshot lengths is read: "
          f"rc={p.returncode} events={events} {p.stderr.strip()[-200:]}")

    path = os.path.join(workdir, "linktypes.pcapng")
    with open(path, "wb") as f:
        f.write(section() + interface(1, 65535) + interface(113, 8192) +
                packet(0, T0 * 10**6, syn) + packet(1, T0 * 10**6 + 300, b"\0" * 16 + rst[14:]))
    p = run(rstscope, path, os.path.join(workdir, "linktypes.jsonl"))
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    ok = p.returncode == 1 and len(lines) == 1 and "different link types" in lines[0]
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} pcapng mixing link types is refused clearly: "
          f"rc={p.returncode} {lines}")

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
