#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The flight recorder (docs/recorder.md), checked with tshark.

usage: run_recorder.py RSTSCOPE RSTSCOPECTL GEN_BIG_PCAP WORKDIR

1. A generated capture: one conversation told in full (handshake, a dozen data segments, the
   server's RST, the client's data after it, a second RST) among refused connections. The
   recorder's pcapng, read back with tshark, holds the conversation's story in order (handshake,
   the last data, the RST, what followed) with the event id as every packet's comment; the event's
   pcap offset points at its first packet; each refused connection's event has its own SYN and RST.
2. `rstscopectl pcap ID -o FILE --dir DIR` writes the conversation as a pcap tshark reads, the same
   packets; an unknown id is an error.
3. A storm of a million resets (gen_big_pcap --storm) keeps the directory within --recorder-files
   x --recorder-file-size, deleting the oldest files and counting them; every event's packets are
   written (none lost by the worker's evidence arena), most then rotated out, and counted so.
4. Live on lo: a refused connection, and `rstscopectl pcap ID` asks the running daemon for the
   directory.
Prints one line per check and `N passed, N failed`.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import time

from processes import stop

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from event_log import read_events  # noqa: E402
from loopback import closed_port, refuse  # noqa: E402

T0 = 1_700_000_000
CLIENT, SERVER = "198.51.100.10", "203.0.113.20"
RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"), flush=True)


def tcp_frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                     bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip + tcp


def write_pcap(path, packets):
    """Classic pcap, microsecond times; `packets`: (seconds as float, frame)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, frame in sorted(packets, key=lambda p: p[0]):
            us = round(ts * 1e6)
            f.write(struct.pack("<IIII", us // 10**6, us % 10**6, len(frame), len(frame)) + frame)


# The told conversation: what each packet is, in order (its flags and sequence number).
A, PA, S, SA, R, RA = 0x10, 0x18, 0x02, 0x12, 0x04, 0x14


def story():
    """(ts, frame, (flags, seq)) of the told conversation, and the packets the recorder keeps."""
    out = []
    t = T0 + 10.0
    cs, ss = 1000, 5000

    def add(dt, from_client, seq, ack, flags, payload=b""):
        nonlocal t
        t += dt
        src, dst, sp, dp = ((CLIENT, SERVER, 40001, 80) if from_client
                            else (SERVER, CLIENT, 80, 40001))
        out.append((t, tcp_frame(src, dst, sp, dp, seq, ack, flags, payload), (flags, seq)))

    add(0, True, cs, 0, S)
    add(0.001, False, ss, cs + 1, SA)
    add(0.001, True, cs + 1, ss + 1, A)
    cs += 1
    ss += 1
    for i in range(12):  # a long exchange: only its end is kept
        req = b"GET /%02d HTTP/1.1\r\n\r\n" % i
        add(0.010, True, cs, ss, PA, req)
        cs += len(req)
        resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        add(0.010, False, ss, cs, PA, resp)
        ss += len(resp)
    add(0.050, False, ss, cs, RA)          # the server resets
    add(0.001, True, cs, ss, PA, b"late")  # the client did not know yet
    add(0.001, False, ss, 0, R)            # and is reset again
    add(0.001, True, cs + 4, ss, PA, b"x")  # beyond the share kept after the RST
    # Kept: the handshake, then the ring's last five with two after the RST.
    rst = len(out) - 4
    kept = out[:3] + out[rst - 2:rst + 3]
    return out, kept


def refused(n):
    out = []
    for i in range(n):
        t = T0 + 1.0 + i * 0.01
        port = 41000 + i
        out.append((t, tcp_frame(CLIENT, SERVER, port, 8080, 7000 + i, 0, S)))
        out.append((t + 0.0003, tcp_frame(SERVER, CLIENT, 8080, port, 0, 7001 + i, RA)))
    return out


def tshark(path, *extra):
    p = subprocess.run(["tshark", "-r", path, "-T", "fields", "-E", "separator=|",
                        "-e", "tcp.flags", "-e", "tcp.seq_raw", "-e", "frame.comment", *extra],
                       capture_output=True, text=True, timeout=60)
    rows = []
    for line in p.stdout.splitlines():
        flags, seq, comment = (line.split("|") + ["", "", ""])[:3]
        rows.append((int(flags, 16) if flags else None, int(seq) if seq else None, comment))
    return p.returncode, rows, p.stderr


def run(rstscope, args, timeout=120):
    return subprocess.run([rstscope, "--control", "none", "--quiet", "--config", os.devnull,
                           *args], capture_output=True, text=True, timeout=timeout)


def captured(rstscope, rstscopectl, workdir):
    told, kept = story()
    capture = os.path.join(workdir, "story.pcap")
    write_pcap(capture, [(t, f) for t, f, _ in told] + refused(20))
    flight = os.path.join(workdir, "flight")
    shutil.rmtree(flight, ignore_errors=True)
    log = os.path.join(workdir, "story.jsonl")
    if os.path.exists(log):
        os.unlink(log)  # rstscope appends to its log
    summary = os.path.join(workdir, "story-summary.json")
    p = run(rstscope, ["--pcap", capture, "--log", log, "--recorder-dir", flight,
                       "--summary-json", summary])
    problems = []
    events = read_events(log, problems)
    check("capture analysed with the recorder on", p.returncode == 0 and not problems,
          f"rc={p.returncode} {problems} {p.stderr[-300:]}")
    story_events = [e for e in events if e.get("orig_p") == 40001]
    if len(story_events) != 1:
        check("the told conversation has one event", False, f"{story_events}")
        return
    ev = story_events[0]
    ref = ev.get("pcap", {})
    check("the event names its pcap", ref.get("file") == "flight-000001.pcapng" and
          ref.get("packets") == len(kept), f"{ref}")
    path = os.path.join(flight, ref.get("file", "missing"))
    rc, rows, err = tshark(path)
    check("tshark reads the recorder's file", rc == 0 and len(rows) > 0, err[-300:])
    comment = f"rstscope event {ev['id']}"
    mine = [r for r in rows if r[2] == comment]
    expected = [fs for _, _, fs in kept]
    check("it holds the story in order: handshake, last data, RST, what followed",
          [(f, s) for f, s, _ in mine] == expected, f"got {mine} expected {expected}")
    # The offset: an enhanced packet block whose packet is the SYN.
    with open(path, "rb") as f:
        data = f.read()
    at = ref.get("offset", 0)
    block_type, = struct.unpack_from("<I", data, at) if at + 4 <= len(data) else (None,)
    first_frame = data[at + 28:at + 28 + len(kept[0][1])] if block_type == 6 else b""
    check("the pcap offset points at the conversation's first packet",
          block_type == 6 and first_frame == kept[0][1], f"type {block_type} at {at}")
    refused_events = [e for e in events if e.get("resp_p") == 8080]
    ok = len(refused_events) == 20
    for e in refused_events:
        got = [(f, s) for f, s, c in rows if c == f"rstscope event {e['id']}"]
        if got != [(S, 7000 + e["orig_p"] - 41000), (RA, 0)] or e["pcap"]["packets"] != 2:
            ok = False
            check("each refused connection's packets carry its own id", False, f"{e} {got}")
            break
    check("each refused connection's packets carry its own id", ok) if ok else None
    stats = json.load(open(summary)) if os.path.exists(summary) else {}
    counted = stats.get("recorder_events") == len(events) and \
        stats.get("recorder_packets") == len(rows) and \
        stats.get("recorder_bytes") == len(data) and stats.get("recorder_packets_skipped") == 1
    check("written and skipped packets are counted", counted,
          {k: v for k, v in stats.items() if k.startswith("recorder")})

    out = os.path.join(workdir, "event.pcap")
    c = subprocess.run([rstscopectl, "pcap", str(ev["id"]), "-o", out, "--dir", flight],
                       capture_output=True, text=True, timeout=30)
    rc, rows, err = tshark(out)
    check("rstscopectl pcap ID --dir writes the conversation as its own pcap",
          c.returncode == 0 and rc == 0 and [(f, s) for f, s, _ in rows] == expected,
          f"rc={c.returncode} {c.stderr} {rows} {err[-200:]}")
    c = subprocess.run([rstscopectl, "pcap", "999999", "-o", out, "--dir", flight],
                       capture_output=True, text=True, timeout=30)
    check("an event the directory does not hold is an error", c.returncode == 1 and
          "999999" in c.stderr, f"rc={c.returncode} {c.stderr}")


def storm(rstscope, gen_big_pcap, workdir):
    capture = os.path.join(workdir, "storm.pcap")
    flows = int(os.environ.get("RECORDER_STORM_FLOWS", "200000"))  # x5 resets: a million
    g = subprocess.run([gen_big_pcap, capture, "--flows", str(flows), "--storm"],
                       capture_output=True, text=True, timeout=120)
    if g.returncode != 0:
        check("storm capture generated", False, g.stderr)
        return
    flight = os.path.join(workdir, "storm-flight")
    shutil.rmtree(flight, ignore_errors=True)
    os.makedirs(flight)
    # An earlier run's files: the oldest go first.
    for n in (1, 2, 3):
        with open(os.path.join(flight, f"flight-{n:06}.pcapng"), "wb") as f:
            f.write(b"\0" * 1000)
    summary = os.path.join(workdir, "storm-summary.json")
    start = time.monotonic()
    p = run(rstscope, ["--pcap", capture, "--log", os.devnull, "--recorder-dir", flight,
                       "--recorder-file-size", "1", "--recorder-files", "3",
                       "--summary-json", summary], timeout=300)
    took = time.monotonic() - start
    names = sorted(os.listdir(flight))
    size = sum(os.path.getsize(os.path.join(flight, n)) for n in names)
    stats = json.load(open(summary)) if os.path.exists(summary) else {}
    events = stats.get("reset_connections", 0)
    check(f"a storm of {events} resets keeps the directory within 3 x 1 MiB "
          f"({size} bytes in {len(names)} files, {took:.0f} s)",
          p.returncode == 0 and len(names) == 3 and size <= 3 << 20 and
          "flight-000001.pcapng" not in names and stats.get("recorder_files_deleted", 0) >
          3 and stats.get("recorder_events", 0) + stats.get("recorder_rotated_out", 0) ==
          events > 0 and stats.get("recorder_evidence_lost", 1) == 0,
          f"rc={p.returncode} {names} {p.stderr[-300:]} "
          f"{ {k: v for k, v in stats.items() if k.startswith('recorder')} }")
    rc, rows, err = tshark(os.path.join(flight, names[-1])) if names else (1, [], "no file")
    check("the newest file of the storm is whole pcapng", rc == 0 and rows, err[-300:])


def live(rstscope, rstscopectl, workdir):
    sock = os.path.join(workdir, "recorder.sock")
    log = os.path.join(workdir, "live.jsonl")
    flight = os.path.join(workdir, "live-flight")
    for path in (sock, log):
        if os.path.exists(path):
            os.unlink(path)
    shutil.rmtree(flight, ignore_errors=True)
    proc = subprocess.Popen([rstscope, "--iface", "lo", "--control", sock, "--log", log,
                             "--linger", "0.3", "--recorder-dir", flight, "--config", os.devnull],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not os.path.exists(sock) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        port = closed_port()
        events = []
        while time.time() < deadline and not events:
            refuse(port)
            time.sleep(0.5)
            if os.path.exists(log):
                with open(log) as f:
                    events = [json.loads(line) for line in f if line.strip()]
                events = [e for e in events if e.get("resp_p") == port and "pcap" in e]
        if not events:
            check("live: a refused connection's event names its pcap", False, "no event")
            return
        out = os.path.join(workdir, "live.pcap")
        c = subprocess.run([rstscopectl, "--socket", sock, "pcap", str(events[0]["id"]), "-o",
                            out], capture_output=True, text=True, timeout=30)
        rc, rows, err = tshark(out)
        flags = [f for f, _, _ in rows]
        check("live: rstscopectl pcap ID asks the daemon and writes the SYN and the RST",
              c.returncode == 0 and rc == 0 and flags[:1] == [S] and RA in flags,
              f"rc={c.returncode} {c.stderr} {rows}")
    finally:
        stop(proc)


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    rstscope, rstscopectl, gen_big_pcap, workdir = sys.argv[1:]
    os.makedirs(workdir, exist_ok=True)
    captured(rstscope, rstscopectl, workdir)
    storm(rstscope, gen_big_pcap, workdir)
    live(rstscope, rstscopectl, workdir)
    failed = RESULTS.count(False)
    print(f"{RESULTS.count(True)} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
