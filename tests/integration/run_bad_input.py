#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Feed rstscope bad input: it must refuse cleanly, never crash.

usage: run_bad_input.py RSTSCOPE_BINARY WORKDIR

Each case runs RSTSCOPE_BINARY --pcap FILE --log WORKDIR/CASE.jsonl --control none (plus the
case's own options and $RSTSCOPE_EXTRA_ARGS) with a 60 s timeout, and requires:
  - a non-zero exit code (exactly 2 for a bad option or config value), not a signal;
  - exactly one `rstscope: error:` line on stderr, as its last line, and no sanitizer report
    (a truncated capture is still analysed, so its summary may come before the error);
  - for the truncated capture: the event of the connection completed before the cut is written.
Prints one verdict line per case (details indented), then `N passed, N failed`; exit 1 on failure.
Captures are built here byte by byte (no scapy needed).
"""
import json
import os
import shlex
import struct
import subprocess
import sys

TIMEOUT_S = 60
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # Ethernet, usec
T0 = 1_700_000_000


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_frame(src, dst, sport, dport, seq, ack, flags, ipid):
    """Ethernet + IPv4 + 20-byte TCP header, no payload, valid checksums, padded to 60 bytes."""
    saddr, daddr = bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags,
                      0 if flags & 0x04 else 64240, 0, 0)
    pseudo = saddr + daddr + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ipid, 0x4000, 64, 6, 0, saddr,
                     daddr)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = bytes.fromhex("020000000201" "020000000101") + b"\x08\x00"
    frame = eth + ip + tcp
    return frame + bytes(60 - len(frame))


def record(t_us, frame, incl_len=None):
    return struct.pack("<IIII", t_us // 1_000_000, t_us % 1_000_000,
                       len(frame) if incl_len is None else incl_len, len(frame)) + frame


SYN, RST, ACK = 0x02, 0x04, 0x10
CLIENT, SERVER = ("198.51.100.7", 40007), ("203.0.113.7", 8080)


def refused_pcap():
    """A valid capture: one refused connection (SYN, RST/ACK)."""
    syn = tcp_frame(CLIENT[0], SERVER[0], CLIENT[1], SERVER[1], 1000, 0, SYN, 1)
    rst = tcp_frame(SERVER[0], CLIENT[0], SERVER[1], CLIENT[1], 0, 1001, RST | ACK, 2)
    return PCAP_HEADER + record(T0 * 1_000_000, syn) + record(T0 * 1_000_000 + 300, rst)


def truncated_pcap():
    """The refused connection, complete; then a record cut in the middle (libpcap: "truncated
    dump file")."""
    third = tcp_frame(CLIENT[0], SERVER[0], CLIENT[1], SERVER[1], 1000, 0, SYN, 3)
    return refused_pcap() + record(T0 * 1_000_000 + 5_000_000, third)[:16 + 25]  # 60 said, 25 given


def cases(workdir):
    """(name, files to create {path: bytes}, extra argv, pcap path, exact exit code or None,
    expected events [(orig_h, orig_p, resp_h, resp_p)] or None)."""
    p = lambda n: os.path.join(workdir, n)
    good = p("good.pcap")  # a valid capture, so the option or config value is the only fault
    return [
        ("not_a_pcap", {p("not_a_pcap.pcap"): b"this is a text file, not a capture\n" * 20},
         [], p("not_a_pcap.pcap"), None, None),
        ("truncated_pcap", {p("truncated.pcap"): truncated_pcap()}, [], p("truncated.pcap"), None,
         [(CLIENT[0], CLIENT[1], SERVER[0], SERVER[1])]),
        ("empty_file", {p("empty.pcap"): b""}, [], p("empty.pcap"), None, None),
        ("header_only_pcap", {p("header_only.pcap"): PCAP_HEADER}, [], p("header_only.pcap"),
         None, None),
        ("missing_file", {}, [], p("does_not_exist.pcap"), None, None),
        ("bad_option_workers", {good: refused_pcap()}, ["--workers", "abc"], good, 2, None),
        ("unknown_option", {good: refused_pcap()}, ["--no-such-option"], good, 2, None),
        ("bad_config_value", {good: refused_pcap(), p("bad.conf"): b"idle-threshold = soon\n"},
         ["--config", p("bad.conf")], good, 2, None),
    ]


def run_case(binary, workdir, name, files, extra, pcap, want_rc, want_events, env_args):
    for path, data in files.items():
        with open(path, "wb") as f:
            f.write(data)
    log = os.path.join(workdir, name + ".jsonl")
    if os.path.exists(log):
        os.unlink(log)
    cmd = [binary, "--pcap", pcap, "--log", log, "--control", "none"] + extra + env_args
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                              errors="replace")
    except subprocess.TimeoutExpired:
        return [f"timed out after {TIMEOUT_S} s: {shlex.join(cmd)}"], ""
    problems = []
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    rc = proc.returncode
    if rc < 0:
        problems.append(f"killed by signal {-rc}")
    elif rc == 0:
        problems.append("exit code 0: expected a failure")
    elif want_rc is not None and rc != want_rc:
        problems.append(f"exit code {rc}, expected {want_rc}")
    if "Sanitizer" in proc.stderr:
        problems.append("sanitizer report on stderr")
    errors = [l for l in lines if l.startswith("rstscope: error:")]
    if len(errors) != 1 or lines[-1] != errors[0]:
        shown = " | ".join(lines[-4:])
        problems.append(f"{len(errors)} error line(s), expected exactly 1 as the last line: {shown}")
    if want_events is not None:
        got = []
        try:
            with open(log, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.strip():
                        ev = json.loads(line)
                        got.append((ev.get("orig_h"), ev.get("orig_p"), ev.get("resp_h"),
                                    ev.get("resp_p")))
        except FileNotFoundError:
            problems.append("no event log written: events of complete packets are lost")
        except (json.JSONDecodeError, AttributeError) as e:
            problems.append(f"event log does not parse: {e}")
        else:
            if sorted(got) != sorted(want_events):
                problems.append(f"events {got}, expected {want_events}")
    return problems, (f"exit {rc}: {lines[-1][:160]}" if lines else f"exit {rc}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, workdir = os.path.abspath(sys.argv[1]), sys.argv[2]
    if not os.access(binary, os.X_OK):
        print(f"run_bad_input: {binary}: not an executable file", file=sys.stderr)
        return 2
    os.makedirs(workdir, exist_ok=True)
    env_args = shlex.split(os.environ.get("RSTSCOPE_EXTRA_ARGS", ""))
    passed = failed = 0
    for name, files, extra, pcap, want_rc, want_events in cases(workdir):
        problems, summary = run_case(binary, workdir, name, files, extra, pcap, want_rc,
                                     want_events, env_args)
        if problems:
            failed += 1
            print(f"FAIL {name}: {summary}")
            for p in problems:
                print(f"    {p}")
        else:
            passed += 1
            print(f"PASS {name}: {summary}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
