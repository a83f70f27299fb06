#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Build one capture per finding (docs/findings.md) and a benign mix that must raise none.

usage: gen_findings.py OUTDIR [--benign N]
       gen_findings.py --benign-only N OUT.pcap

Writes OUTDIR/<scenario>.pcap and OUTDIR/expected.json:
    {scenario: {"pcap": ..., "description": ..., "findings": [{"kind": .., "subject": {..}}]}}
Each expected finding lists the subject fields it must have (and evidence fields, exactly), a
scenario may name rstscope options to run it with; the scenario raises exactly these
(tests/integration/run_findings.py). `benign` (N connections, default 3000, over 300 s) raises
none. --benign-only writes just the benign mix (tools/bench/findings_benign.sh: a million).

The finding scenarios are built packet by packet with gen_scenarios.py's Conn (scapy builds the
frames); the benign mix, which must scale to a million connections, is packed with struct. Fixed
times, sequence numbers and IP-IDs: the output is the same on every run. Addresses come from the
documentation ranges only: 198.51.100.0/24 (clients) and 203.0.113.0/24 (servers).
"""
import heapq
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_scenarios import (SERVER_TTL, T0_US, Capture, Conn, Endpoint, client,  # noqa: E402
                           server, write_pcap)

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def fresh_server(n, port, i):
    """Server n's endpoint for its i-th connection (its own ISN and IP-ID run)."""
    s = server(n, port)
    return Endpoint(s.addr, port, s.mac, SERVER_TTL, ipid=(0x4000 + i * 0x40) & 0xFFFF,
                    isn=(0x30000000 + i * 0x01000000) % 2**32)


def fresh_client(i, port):
    return client(1 + i % 200, port, isn=(0x20000000 + i * 0x01001000) % 2**32)


def reset_after_exchange(cap, client_end, server_end, start, by_client=False):
    """A connection that opens, exchanges a request and reply, then is reset by one side."""
    c = Conn(cap, client_end, server_end)
    t = c.handshake(start)
    t = c.exchange(t + 0.01)
    c.send(t + 0.05, by_client, "RA")


def reset_now_and_then(cap, srv_n, port):
    """Two resets a minute from server srv_n for 5 minutes (connections 0 to 9): the baseline a
    storm stands out from. Returns the next connection number."""
    for i in range(10):
        minute, k = divmod(i, 2)
        reset_after_exchange(cap, fresh_client(i, 41000 + i), fresh_server(srv_n, port, i),
                             minute * 60.0 + k * 20.0)
    return 10


def quiet_traffic(cap, srv_n, port, start, count, spacing):
    """Connections that open, exchange and close: no reset."""
    for i in range(count):
        c = Conn(cap, fresh_client(i + 7, 30000 + i), fresh_server(srv_n, port, i))
        t = c.handshake(start + i * spacing)
        t = c.exchange(t + 0.01)
        c.close(t + 0.01)


@scenario
def storm(cap):
    """A server that resets a handful of connections a minute for 5 minutes, then 150 of them
    within 9 s: one rst_storm of that server:port (not of its farm)."""
    i = reset_now_and_then(cap, 10, 443)
    for k in range(150):
        reset_after_exchange(cap, fresh_client(i, 41000 + i), fresh_server(10, 443, i),
                             320.0 + k * 0.06)
        i += 1
    return [{"kind": "rst_storm", "subject": {"scope": "server", "server": "203.0.113.10",
                                              "port": 443},
             "evidence": {"resets": 150, "connections": 150, "share": 1.0}}]


@scenario
def busy_server(cap):
    """A busy server, 203.0.113.12:443: a reset or two a minute for 5 minutes, then 1000
    connections within 10 s of which 150 are reset: a storm's rate, but 15 % of its connections,
    below --findings-storm-share (20 %): no finding (with --findings-storm-share 10: a storm)."""
    i = reset_now_and_then(cap, 12, 443)
    for k in range(1000):
        c = Conn(cap, fresh_client(i, 41000 + i), fresh_server(12, 443, i))
        t = c.handshake(320.0 + k * 0.01)
        if k % 20 < 3:
            c.send(t + 0.05, False, "RA")
        else:
            c.close(t + 0.01)
        i += 1
    return []


@scenario
def farm_storm(cap):
    """After 200 s of normal traffic (and a client abort every 20 s), 8 servers of 203.0.113.0/24
    behind port 443 reset 20 connections each within 40 s: no one server storms, the farm does."""
    quiet_traffic(cap, 99, 8443, 0.0, 20, 10.0)  # 200 s of normal traffic elsewhere
    for k in range(10):  # and the odd client abort
        reset_after_exchange(cap, fresh_client(k + 50, 33000 + k), fresh_server(98, 8443, k),
                             k * 20.0 + 3.0, by_client=True)
    for k in range(160):
        reset_after_exchange(cap, fresh_client(k, 42000 + k), fresh_server(20 + k % 8, 443, k),
                             240.0 + k * 0.25)
    return [{"kind": "rst_storm", "subject": {"scope": "farm", "prefix": "203.0.113.0/24",
                                              "port": 443},
             "evidence": {"resets": 160, "connections": 160, "share": 1.0}}]


@scenario
def scan_vertical(cap):
    """198.51.100.66 tries 100 ports of 203.0.113.5 in 2 s, every one refused."""
    for port in range(1, 101):
        c = Conn(cap, client(66, 61000 + port), server(5, port))
        c.send(port * 0.02, True, "S")
        c.send(port * 0.02 + 0.0003, False, "RA", seq=0)
    return [{"kind": "scan", "subject": {"source": "198.51.100.66", "shape": "vertical"}}]


@scenario
def scan_horizontal(cap):
    """198.51.100.77 tries port 22 on 60 hosts of 203.0.113.0/24 in 6 s, every one refused."""
    for n in range(1, 61):
        c = Conn(cap, client(77, 62000 + n), server(n, 22))
        c.send(n * 0.1, True, "S")
        c.send(n * 0.1 + 0.0003, False, "RA", seq=0)
    return [{"kind": "scan", "subject": {"source": "198.51.100.77", "shape": "horizontal"}}]


@scenario
def backscatter(cap):
    """A web server under a spoofed SYN flood answers 40 of our addresses (198.51.100.100-139)
    that never sent it anything: RST/ACKs on no known flow."""
    for k in range(40):
        c = Conn(cap, client(100 + k, 1024 + k * 7), server(200, 80))
        c.send(k * 0.05, False, "RA", seq=(0x1234567 + k * 0x10001) % 2**32,
               ack=(0x89ABCDEF + k * 0x1001) % 2**32)
    return [{"kind": "backscatter", "subject": {"prefix": "198.51.100.0/24"}}]


@scenario
def middlebox_timer(cap):
    """A firewall 4 hops nearer than the database drops flows idle for 350 s: 8 clients that
    pause 350 s and then send get a RST 'from' 203.0.113.30:5432 with the firewall's TTL (61, the
    server's is 57) and IP-ID 0, among 150 normal connections to other servers."""
    for k in range(8):
        c = Conn(cap, fresh_client(k, 43000 + k), fresh_server(30, 5432, k))
        t = c.handshake(k * 30.0)
        t = c.exchange(t + 0.05, resp=(900, 700))
        t_data = t + 350.0 + 0.1 * k
        c.send(t_data, True, "PA", b"Q" * 60)
        c.send(t_data + 0.003, False, "R", ttl=61, ipid=0)
    quiet_traffic(cap, 31, 80, 1.0, 150, 4.0)
    return [{"kind": "middlebox_timer", "subject": {"server": "203.0.113.30", "port": 5432}}]


@scenario
def injector(cap):
    """One device forges RST pairs (TTL 45, exact seq then seq + 1460 100 us later, its own
    IP-IDs) into 12 flows to 12 servers: one injector finding naming them."""
    for k in range(12):
        c = Conn(cap, fresh_client(k, 44000 + k), fresh_server(60 + k, 80, k))
        t = c.handshake(k * 5.0)
        t = c.exchange(t + 0.05, resp=(900, 700))
        t2 = t + 1.0
        c.send(t2, True, "PA", b"G" * 200)
        base = c.s.nxt
        c.send(t2 + 0.004, False, "RA", seq=base, ttl=45, ipid=0x3333)
        c.send(t2 + 0.0041, False, "RA", seq=(base + 1460) % 2**32, ttl=45, ipid=0x3334)
    return [{"kind": "injector", "subject": {"rst_ttl": 45, "rst_count": "2",
                                             "rst_spacing": [0.000064, 0.000128]},
             "evidence": {"rst_spacing_min_s": 0.0001, "rst_spacing_max_s": 0.0001}}]


# The benign mix, packed with struct -------------------------------------------------------------

ETH_IP = bytes.fromhex("020000000201" "020000000101" "0800")


def frame(src, dst, sport, dport, flags, seq, ack, ttl, ipid, payload_len):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + payload_len, ipid, 0x4000, ttl, 6, 0, src, dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 64240, 0, 0)
    data = ETH_IP + ip + tcp + b"D" * payload_len
    return data + bytes(max(0, 60 - len(data)))


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def benign_connection(k):
    """Connection k of the mix: (seconds offset, frame) list. 1 in 100 ends in a reset: refused
    (a client trying one closed port), an abort by either side, spread over 50 servers."""
    c_ip = bytes([198, 51, 100, 1 + k % 200])
    kind = k % 100
    s_n = 1 + (k * 7 + k // 100) % 50
    dport = 443 if k % 3 else 80
    if kind == 17:  # the refused ones: two clients retrying one closed port
        s_n, dport = 20, 8080
    s_ip = bytes([203, 0, 113, s_n])
    sport = 10000 + (k // 200) % 50000
    cs, ss = (k * 2654435761) % 2**32, (k * 40503 + 12345) % 2**32
    c_id, s_id = (k * 3) & 0xFFFF, (k * 5 + 7) & 0xFFFF
    out = []

    def c2s(t, flags, seq, ack, n=0):
        nonlocal c_id
        out.append((t, frame(c_ip, s_ip, sport, dport, flags, seq, ack, 64, c_id, n)))
        c_id = (c_id + 1) & 0xFFFF

    def s2c(t, flags, seq, ack, n=0):
        nonlocal s_id
        out.append((t, frame(s_ip, c_ip, dport, sport, flags, seq, ack, 57, s_id, n)))
        s_id = (s_id + 1) & 0xFFFF

    if kind == 17:  # refused: a closed port of one server
        c2s(0.0, SYN, cs, 0)
        s2c(0.0003, RST | ACK, 0, cs + 1)
        return out
    c2s(0.0, SYN, cs, 0)
    s2c(0.010, SYN | ACK, ss, cs + 1)
    c2s(0.0102, ACK, cs + 1, ss + 1)
    c2s(0.011, PSH | ACK, cs + 1, ss + 1, 100)
    s2c(0.021, PSH | ACK, ss + 1, cs + 101, 100)
    c2s(0.0212, ACK, cs + 101, ss + 101)
    if kind == 42:  # the server aborts
        s2c(0.030, RST | ACK, ss + 101, cs + 101)
    elif kind == 71:  # the client aborts
        c2s(0.030, RST | ACK, cs + 101, ss + 101)
    else:
        c2s(0.030, FIN | ACK, cs + 101, ss + 101)
        s2c(0.040, FIN | ACK, ss + 101, cs + 102)
        c2s(0.0402, ACK, cs + 102, ss + 102)
    return out


def write_benign(path, n, seconds):
    """n connections spread evenly over `seconds`, merged in time order as they are made."""
    spacing = seconds / n
    pending = []  # heap of (abs_us, serial, frame)
    serial = 0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

        def flush(until_us):
            while pending and pending[0][0] < until_us:
                us, _, data = heapq.heappop(pending)
                f.write(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(data),
                                    len(data)))
                f.write(data)

        for k in range(n):
            start = T0_US + round(k * spacing * 1_000_000)
            flush(start)
            for t, data in benign_connection(k):
                heapq.heappush(pending, (start + round(t * 1_000_000), serial, data))
                serial += 1
        flush(2**63)


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "--benign-only":
        n = int(args[1])
        write_benign(args[2], n, max(300.0, n / 500.0))
        print(f"benign mix of {n} connections written to {args[2]}")
        return 0
    if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--benign"):
        print(__doc__, file=sys.stderr)
        return 2
    out = args[0]
    benign_n = int(args[2]) if len(args) == 3 else 3000
    os.makedirs(out, exist_ok=True)
    expected = {}
    for name, build in SCENARIOS.items():
        cap = Capture()
        findings = build(cap)
        cap.write(os.path.join(out, name + ".pcap"))
        expected[name] = {"pcap": name + ".pcap",
                          "description": " ".join(build.__doc__.split()),
                          "findings": findings}
    # The busy server again with a lower share threshold: its 15 % is then a storm.
    expected["busy_server_share10"] = {
        "pcap": "busy_server.pcap", "options": ["--findings-storm-share", "10"],
        "description": "busy_server with --findings-storm-share 10",
        "findings": [{"kind": "rst_storm",
                      "subject": {"scope": "server", "server": "203.0.113.12", "port": 443},
                      "evidence": {"resets": 150, "connections": 1000, "share": 0.15}}]}
    write_benign(os.path.join(out, "benign.pcap"), benign_n, 300.0)
    expected["benign"] = {"pcap": "benign.pcap",
                          "description": f"{benign_n} connections over 300 s, 1 in 100 reset",
                          "findings": []}
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(expected)} captures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
