#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Build one small capture per reset scenario, plus the events rstscope must report for each.

usage: gen_scenarios.py OUTDIR

Writes OUTDIR/<scenario>.pcap (microsecond pcap, Ethernet unless the scenario says otherwise; a
few scenarios write OUTDIR/<scenario>.pcapng instead) and OUTDIR/expected.json:
    {scenario: {"pcap": "<scenario>.pcap", "description": "...", "events": [{field: value}, ...]}}
An expected event lists only the fields its scenario pins down; tests/integration/run_scenarios.py
checks them against rstscope's JSON-lines log. Besides event fields an expected event may hold:
    evidence_includes  evidence names that must be in the event's `evidence` array
    evidence_excludes  evidence names that must not be in it
    cause_not          causes the event must not have
    fields_absent      fields the event must not carry (e.g. `vlan` on an untagged flow)

The output is deterministic: fixed timestamps, sequence numbers and IP-IDs, no randomness, and the
pcap writer below emits exact microsecond timestamps (scapy only builds the frame bytes).
Addresses come from the documentation ranges only: 198.51.100.0/24 (clients), 203.0.113.0/24
(servers) and 2001:db8::/32.

The counters each expected event asserts (orig_pkts, resp_pkts, orig_bytes, resp_bytes, duration,
rst_count) cover every packet of the flow in the capture: every scenario keeps its later packets
inside the default 3 s linger after the first RST, so "up to the event's emission" and "the whole
flow" are the same thing. Byte counts are TCP payload bytes, not counting payload carried by a RST
(Zeek does not count it either: it is not part of the stream). `history` follows Zeek's letters
(base/protocols/conn: S H A D F R, upper case = originator, `^` = roles flipped by the port
heuristic); it is left out where Zeek would add the scaled letters (G gap, W zero window) whose
exact rules are not part of the rstscope contract.
"""
import ipaddress
import json
import os
import struct
import sys

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop,
                                 IPv6ExtHdrRouting, PadN)
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether
from scapy.contrib.mpls import MPLS

T0_US = 1_700_000_000 * 1_000_000  # 2023-11-14T22:13:20Z: every scenario starts here

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
SLL_HOST = 0      # sll_pkttype: addressed to the capturing host
SLL_OUTGOING = 4  # sll_pkttype: sent by the capturing host
ETHER_MIN_FRAME = 60  # without FCS: shorter frames are padded on the wire, and captured so


def usec(seconds):
    """Seconds after T0 (float, at most microsecond precision) -> absolute microseconds."""
    return T0_US + round(seconds * 1_000_000)


def ts_float(us):
    return round(us / 1_000_000, 6)


def write_pcap(path, frames, linktype=LINKTYPE_ETHERNET):
    """frames: list of (abs_usec, bytes). Classic pcap, microsecond resolution, snaplen 65535."""
    frames = sorted(frames, key=lambda f: f[0])  # stable: equal times keep build order
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for us, data in frames:
            f.write(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(data), len(data)))
            f.write(data)


def pcapng_block(block_type, body):
    """One pcapng block: type, total length, body padded to 32 bits, total length again."""
    body += bytes(-len(body) % 4)
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def write_pcapng(path, frames, linktype=LINKTYPE_ETHERNET):
    """frames as for write_pcap. One section (little-endian, length unspecified), one interface
    with if_tsresol 9 (nanosecond timestamps, so the reader has to honour the option), one
    Enhanced Packet Block per frame; no other options, nothing that varies between runs."""
    frames = sorted(frames, key=lambda f: f[0])
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    if_tsresol = struct.pack("<HHB", 9, 1, 9) + bytes(3)  # option 9, length 1, 10^-9 s
    idb = struct.pack("<HHI", linktype, 0, 65535) + if_tsresol + struct.pack("<HH", 0, 0)
    with open(path, "wb") as f:
        f.write(pcapng_block(0x0A0D0D0A, shb))
        f.write(pcapng_block(1, idb))
        for us, data in frames:
            ns = us * 1000
            epb = struct.pack("<IIIII", 0, ns >> 32, ns & 0xFFFFFFFF, len(data), len(data)) + data
            f.write(pcapng_block(6, epb))


class Endpoint:
    """One side of a connection: address, port, MAC, the TTL it is seen with, its IP-ID counter."""

    def __init__(self, addr, port, mac, ttl, ipid=0x1000, isn=1000):
        self.addr = addr
        self.port = port
        self.mac = mac
        self.ttl = ttl
        self.ipid = ipid
        self.isn = isn
        self.nxt = isn  # next sequence number this side will send
        self.v6 = ipaddress.ip_address(addr).version == 6

    def take_ipid(self):
        v = self.ipid
        self.ipid = (self.ipid + 1) & 0xFFFF
        return v


class Link:
    """The layers below IP: plain Ethernet, 802.1Q, QinQ (802.1ad + 802.1Q), an MPLS stack, or a
    Linux cooked header (DLT_LINUX_SLL, as `tcpdump -i any` writes) captured on host_mac's host."""

    def __init__(self, kind="eth", vlans=(), labels=(), host_mac=None):
        self.kind = kind
        self.vlans = vlans
        self.labels = labels
        self.host_mac = host_mac
        self.linktype = LINKTYPE_LINUX_SLL if kind == "sll" else LINKTYPE_ETHERNET
        self.pads = kind != "sll"  # cooked frames carry no Ethernet padding

    def frame(self, src_mac, dst_mac, ip_layer):
        v6 = isinstance(ip_layer, IPv6)
        if self.kind == "sll":
            pkttype = SLL_OUTGOING if src_mac == self.host_mac else SLL_HOST
            return CookedLinux(pkttype=pkttype, lladdrtype=1, lladdrlen=6,
                               src=bytes.fromhex(src_mac.replace(":", "")) + bytes(2),
                               proto=0x86DD if v6 else 0x0800) / ip_layer
        if self.kind == "eth":
            return Ether(src=src_mac, dst=dst_mac) / ip_layer
        if self.kind == "vlan":
            return Ether(src=src_mac, dst=dst_mac) / Dot1Q(vlan=self.vlans[0]) / ip_layer
        if self.kind == "qinq":
            outer, inner = self.vlans
            return (Ether(src=src_mac, dst=dst_mac, type=0x88A8) / Dot1AD(vlan=outer)
                    / Dot1Q(vlan=inner) / ip_layer)
        if self.kind == "mpls":
            assert not v6
            stack = Ether(src=src_mac, dst=dst_mac, type=0x8847)
            for i, label in enumerate(self.labels):
                stack = stack / MPLS(label=label, s=1 if i == len(self.labels) - 1 else 0, ttl=64)
            return stack / ip_layer
        raise ValueError(self.kind)


class Conn:
    """A TCP connection between a client (Zeek's originator) and a server, built packet by packet.

    Sequence numbers are tracked per side; by default every segment acknowledges everything the
    peer has sent so far. Every packet is recorded so the expected counters and Zeek history can be
    derived from what is actually in the capture.
    """

    def __init__(self, cap, client, server, link=None, wscale=None, win=64240):
        self.cap = cap
        self.c = client
        self.s = server
        self.link = link or Link()
        self.wscale = wscale
        self.win = win
        self.log = []  # (abs_usec, from_client, flags, seq, payload_len) of captured packets

    def send(self, t, from_client, flags, payload=b"", seq=None, ack=None, win=None, ttl=None,
             ipid=None, options=None, emit=True, advance=True, ext=()):
        """Send one segment at T0+t seconds. emit=False: the sender sent it (sequence space and
        IP-ID advance) but the capture lost it. ext: IPv6 extension headers between the IPv6
        header and TCP, in order."""
        src, dst = (self.c, self.s) if from_client else (self.s, self.c)
        if seq is None:
            seq = src.nxt
        if ack is None:
            ack = dst.nxt if "A" in flags else 0
        if win is None:
            win = 0 if "R" in flags else self.win
        if options is None:
            options = []
            if "S" in flags:
                options = [("MSS", 1460)]
                if self.wscale is not None:
                    options += [("NOP", None), ("WScale", self.wscale)]
        if src.v6:
            ip_layer = IPv6(src=src.addr, dst=dst.addr, hlim=ttl if ttl is not None else src.ttl)
            for header in ext:
                ip_layer = ip_layer / header
        else:
            assert not ext
            pkt_id = src.take_ipid() if ipid is None else ipid
            ip_layer = IP(src=src.addr, dst=dst.addr, ttl=ttl if ttl is not None else src.ttl,
                          id=pkt_id, flags="DF")
        seg = TCP(sport=src.port, dport=dst.port, flags=flags, seq=seq, ack=ack, window=win,
                  options=options)
        frame = bytes(self.link.frame(src.mac, dst.mac, ip_layer / seg / payload if payload else
                                      ip_layer / seg))
        # Pad like a NIC does: a decoder that takes the payload length from the frame instead of
        # the IP length would see 6 bytes of "payload" in every bare IPv4 RST.
        if self.link.pads:
            frame += bytes(max(0, ETHER_MIN_FRAME - len(frame)))
        if advance and "R" not in flags:
            end = seq + len(payload) + ("S" in flags) + ("F" in flags)
            if (end - src.nxt) % 2**32 < 2**31:  # only move forward (retransmissions do not)
                src.nxt = end % 2**32
        if emit:
            assert self.link.linktype == self.cap.linktype, "one link type per capture"
            us = usec(t)
            self.cap.frames.append((us, frame))
            self.log.append((us, from_client, flags, seq, len(payload)))
        return seq

    # Building blocks ---------------------------------------------------------------------------
    def handshake(self, t, rtt=0.020):
        self.send(t, True, "S")
        self.send(t + rtt, False, "SA")
        self.send(t + rtt + 0.0002, True, "A")
        return t + rtt + 0.0002

    def exchange(self, t, req=120, resp=(900,), rtt=0.020):
        """Client request, server response in len(resp) segments, client ACK. Returns the end time."""
        self.send(t, True, "PA", b"Q" * req)
        for i, n in enumerate(resp):
            t_resp = t + rtt + 0.0001 * i
            self.send(t_resp, False, "PA", b"R" * n)
        t_end = t + rtt + 0.0001 * len(resp) + 0.0002
        self.send(t_end, True, "A")
        return t_end

    def close(self, t, rtt=0.020):
        self.send(t, True, "FA")
        self.send(t + rtt, False, "FA")
        self.send(t + rtt + 0.0002, True, "A")

    # Expected event ----------------------------------------------------------------------------
    def zeek_history(self):
        """Zeek's history letters for the captured packets (its update_history rules)."""
        first_from_client = self.log[0][1]
        first_flags = self.log[0][2]
        # Zeek's port heuristic flips a flow that starts without a bare SYN from a likely server
        # port; here that means: the first packet came from the server and was not a bare SYN.
        flipped = not first_from_client and not ("S" in first_flags and "A" not in first_flags)
        hist = "^" if flipped else ""
        seen = {True: set(), False: set()}
        last = {True: {}, False: {}}
        # Zeek's update_last_seq per side: [start, highest end, reset, retransmissions]; a
        # segment with payload that does not pass the end (a RST's payload included) is a
        # retransmission, T at the 1st, 10th, 100th...
        numbers = {True: None, False: None}
        for _, from_client, flags, seq, plen in self.log:
            up = (lambda ch: ch.upper()) if from_client else (lambda ch: ch.lower())
            s, l = seen[from_client], last[from_client]
            bits = ("S" in flags) + ("F" in flags) + ("R" in flags)

            def once(key, ch):
                nonlocal hist
                if key not in s:
                    s.add(key)
                    hist += up(ch)
                    return False
                return True

            if bits > 1:
                kind = "I" if ("F" in flags and "R" in flags) else "Q"
                once(kind, kind)
            elif bits == 1:
                if "S" in flags:
                    ch = "H" if "A" in flags else "S"
                    if once("S", ch) and l.get("S") != seq:
                        hist += up(ch)
                    l["S"] = seq
                if "F" in flags:
                    if once("F", "F") and l.get("F") != seq + plen:
                        hist += up("F")
                    l["F"] = seq + plen
                if "R" in flags:
                    if once("R", "R") and l.get("R") != seq:
                        hist += up("R")
                    l["R"] = seq
            elif plen:
                once("D", "D")
            elif "A" in flags:
                once("A", "A")
            seg_len = (0 if "R" in flags else plen) + ("S" in flags) + ("F" in flags)
            one_past = (seq + seg_len) % 2**32
            n = numbers[from_client]
            if n is None:
                start = seq if "S" in flags else (seq - 1) % 2**32
                n = numbers[from_client] = [start, one_past if "S" in flags else seq, False, 0]
            delta = (one_past - n[1]) % 2**32
            delta = delta - 2**32 if delta >= 2**31 else delta
            if ("S" in flags or "R" in flags) and abs(delta) > 2**20:
                pass
            elif "F" in flags and n[1] == (n[0] + 1) % 2**32:
                n[1] = one_past
            elif n[2]:
                pass
            elif delta > 0:
                n[1] = one_past
            elif plen:
                n[3] += 1
                if str(n[3]).rstrip("0") == "1":
                    hist += up("T")
            if "R" in flags:
                n[2] = True
        return hist

    def expect(self, with_history=True, with_bytes=True, **fields):
        """The expected event of this connection, derived from the captured packets, plus the
        scenario's own fields (cause, confidence, evidence_includes, ...)."""
        rsts = [p for p in self.log if "R" in p[2]]
        ev = {
            "orig_h": str(ipaddress.ip_address(self.c.addr)),
            "orig_p": self.c.port,
            "resp_h": str(ipaddress.ip_address(self.s.addr)),
            "resp_p": self.s.port,
            "ts": ts_float(rsts[0][0]),
            "rst_by": "orig" if rsts[0][1] else "resp",
            "rst_count": len(rsts),
            "orig_pkts": sum(1 for p in self.log if p[1]),
            "resp_pkts": sum(1 for p in self.log if not p[1]),
            "duration": round((self.log[-1][0] - self.log[0][0]) / 1_000_000, 6),
            "orig_guessed": False,
        }
        if with_bytes:
            ev["orig_bytes"] = sum(p[4] for p in self.log if p[1] and "R" not in p[2])
            ev["resp_bytes"] = sum(p[4] for p in self.log if not p[1] and "R" not in p[2])
        if with_history:
            ev["history"] = self.zeek_history()
        ev.update(fields)
        return ev


class Capture:
    """The frames of one scenario. A scenario that needs another link type or the pcapng format
    sets linktype / fmt before building its connections."""

    def __init__(self):
        self.frames = []
        self.linktype = LINKTYPE_ETHERNET
        self.fmt = "pcap"

    def write(self, path):
        (write_pcapng if self.fmt == "pcapng" else write_pcap)(path, self.frames, self.linktype)


# Hosts ---------------------------------------------------------------------------------------
# Clients sit one hop from the capture point (TTL 64), servers a few hops away (TTL 57, hop
# limit 57): rst_ttl / usual_ttl expectations below are written against these.
CLIENT_TTL = 64
SERVER_TTL = 57


def client(n, port, isn=0x10000000, v6=False):
    addr = f"2001:db8:1::{n:x}" if v6 else f"198.51.100.{n}"
    return Endpoint(addr, port, f"02:00:00:00:01:{n % 256:02x}", CLIENT_TTL,
                    ipid=0x1000 + n * 0x10, isn=isn)


def server(n, port, isn=0x70000000, v6=False):
    addr = f"2001:db8:2::{n:x}" if v6 else f"203.0.113.{n}"
    return Endpoint(addr, port, f"02:00:00:00:02:{n % 256:02x}", SERVER_TTL,
                    ipid=0x5000 + n * 0x10, isn=isn)


SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


# 1. unsolicited ------------------------------------------------------------------------------
@scenario
def unsolicited_backscatter(cap):
    """A lone RST/ACK from a web server to a client port that never sent anything (backscatter of
    a spoofed SYN). Port 80 makes the server the responder (Zeek's heuristic, '^' in history)."""
    c = Conn(cap, client(20, 41000), server(10, 80))
    c.send(0.0, False, "RA", seq=0x1234567, ack=0x89ABCDEF)
    return [c.expect(cause="unsolicited", orig_guessed=True, conn_state="RSTRH")]


# 2. out_of_window ----------------------------------------------------------------------------
@scenario
def out_of_window_blind(cap):
    """A blind RST 'from the server' with a sequence number far outside the client's window
    (window scale 7); the connection carries on as if nothing happened."""
    c = Conn(cap, client(30, 42000), server(30, 443), wscale=7, win=502)
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.3, False, "R", seq=(c.s.nxt + 0x40000000) % 2**32, ttl=49, ipid=0x0BAD)
    t = c.exchange(t + 0.5, req=80, resp=(300,))
    return [c.expect(cause="out_of_window", seq_check="out_of_window", conn_state="RSTR",
                     evidence_includes=["seq_out_of_window"], cause_not=["injected"])]


@scenario
def out_of_window_challenge_ack(cap):
    """A RST 'from the client' inside the server's window but not at the next expected sequence
    number; the server answers with a pure ACK (RFC 5961 3.2 challenge ACK)."""
    c = Conn(cap, client(31, 42001), server(31, 443), wscale=7, win=502)
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.3, True, "R", seq=(c.c.nxt + 5000) % 2**32)
    c.send(t + 0.3002, False, "A")
    return [c.expect(cause="out_of_window", seq_check="in_window", conn_state="RSTO",
                     evidence_includes=["challenge_ack", "seq_in_window"])]


# 3. idle_timeout -----------------------------------------------------------------------------
@scenario
def idle_timeout_gap_before_rst(cap):
    """200 s of silence on an established connection, then a RST 'from the server' sent by a
    middlebox that dropped the flow (its own TTL, IP-ID 0)."""
    c = Conn(cap, client(40, 43000), server(40, 5432))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05, resp=(900, 700))
    t_rst = t + 200.0
    c.send(t_rst, False, "RA", ttl=250, ipid=0)
    return [c.expect(cause="idle_timeout", conn_state="RSTR", idle_before=200.0, rst_ttl=250,
                     usual_ttl=SERVER_TTL, evidence_includes=["idle_before", "ttl_mismatch"],
                     cause_not=["injected"])]


@scenario
def idle_timeout_answering_packet(cap):
    """400 s of silence, then the client sends data and a middlebox that forgot the flow answers
    3 ms later with a RST carrying the server's address (seq = the client's ACK: exact).
    Zeek's record of the connection ended after 300 s of inactivity: the RST is in a new record
    that began with the client's data (roles from the port rule, so guessed)."""
    c = Conn(cap, client(41, 43001), server(41, 5432))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05, resp=(900, 700))
    t_data = t + 400.0
    c.send(t_data, True, "PA", b"Q" * 60)
    c.send(t_data + 0.003, False, "R", ttl=250, ipid=0)
    return [c.expect(cause="idle_timeout", conn_state="RSTRH", history="Dr", orig_guessed=True,
                     idle_before=400.0, rst_ttl=250,
                     usual_ttl=SERVER_TTL, evidence_includes=["idle_before", "ttl_mismatch"],
                     cause_not=["injected"])]


# 4. injected ---------------------------------------------------------------------------------
@scenario
def injected_data_after_rst_high(cap):
    """On-path injection: the second request is answered first by a forged RST 'from the server'
    (exact seq, TTL 45, foreign IP-ID), then the real server's response arrives anyway."""
    c = Conn(cap, client(50, 44000), server(50, 80))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05, resp=(900, 700))
    t2 = t + 1.0
    c.send(t2, True, "PA", b"G" * 200)
    c.send(t2 + 0.004, False, "RA", ttl=45, ipid=0x7A7A)
    c.send(t2 + 0.020, False, "PA", b"R" * 1200)
    c.send(t2 + 0.0201, False, "PA", b"R" * 800)
    return [c.expect(cause="injected", confidence="high", conn_state="RSTR", rst_ttl=45,
                     usual_ttl=SERVER_TTL, evidence_includes=["data_after_rst", "ttl_mismatch"])]


@scenario
def injected_data_after_rst_medium(cap):
    """The same race over IPv6 with a forger that copies the server's hop limit: data after the
    RST is the only signal (IPv6 has no IP-ID), so confidence is medium."""
    c = Conn(cap, client(0x51, 44001, v6=True), server(0x51, 80, v6=True))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05, resp=(900, 700))
    t2 = t + 1.0
    c.send(t2, True, "PA", b"G" * 200)
    c.send(t2 + 0.004, False, "RA")
    c.send(t2 + 0.020, False, "PA", b"R" * 1200)
    return [c.expect(cause="injected", confidence="medium", conn_state="RSTR",
                     evidence_includes=["data_after_rst"],
                     evidence_excludes=["ttl_mismatch", "ipid_mismatch", "rst_seq_change"])]


@scenario
def injected_seq_change(cap):
    """Two forged RSTs 'from the server' 100 us apart, the second 1460 bytes further on (covering
    the receiver's window, as injectors do), TTL 45: no data after, so medium."""
    c = Conn(cap, client(52, 44002), server(52, 80))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05, resp=(900, 700))
    t2 = t + 1.0
    c.send(t2, True, "PA", b"G" * 200)
    base = c.s.nxt
    c.send(t2 + 0.004, False, "RA", seq=base, ttl=45, ipid=0x3333)
    c.send(t2 + 0.0041, False, "RA", seq=(base + 1460) % 2**32, ttl=45, ipid=0x3334)
    return [c.expect(cause="injected", confidence="medium", conn_state="RSTR", rst_count=2,
                     evidence_includes=["rst_seq_change", "ttl_mismatch"],
                     evidence_excludes=["data_after_rst", "rst_retransmitted"])]


@scenario
def injected_ttl_ipid_low(cap):
    """One RST 'from the server' whose TTL and IP-ID both break the server's pattern; nothing else
    (no data after, one RST): injected with low confidence. The server first sends 5 packets with
    consecutive IP-IDs, so its IP-ID sequence is established beyond doubt."""
    c = Conn(cap, client(53, 44003), server(53, 80))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05, resp=(900, 700, 600, 500))
    c.send(t + 0.3, False, "RA", ttl=45, ipid=0x0101)
    return [c.expect(cause="injected", confidence="low", conn_state="RSTR", rst_ttl=45,
                     usual_ttl=SERVER_TTL, evidence_includes=["ttl_mismatch", "ipid_mismatch"],
                     evidence_excludes=["data_after_rst"])]


# 5. refused ----------------------------------------------------------------------------------
@scenario
def refused_rst_ack(cap):
    """SYN to a closed port answered by RST/ACK, ack = SYN seq + 1 (RFC 9293 3.10.7.1)."""
    c = Conn(cap, client(60, 45000), server(60, 8080))
    c.send(0.0, True, "S")
    c.send(0.0003, False, "RA", seq=0)
    return [c.expect(cause="refused", confidence="high", conn_state="REJ",
                     fields_absent=["vlan"], cause_not=["injected"])]


@scenario
def refused_bare_rst(cap):
    """SYN answered by a bare RST (no ACK flag, seq 0), as some firewalls send: still refused."""
    c = Conn(cap, client(61, 45001), server(61, 8080))
    c.send(0.0, True, "S")
    c.send(0.0003, False, "R", seq=0, ack=0)
    return [c.expect(cause="refused", conn_state="REJ", cause_not=["injected"])]


@scenario
def refused_syn_retransmitted(cap):
    """The RST/ACK refusing a SYN is lost after the capture point, so the client's stack resends
    the same SYN (same 4-tuple, same ISN) after its 1 s retransmission timeout and is refused
    again. Each attempt is a connection of its own, as in Zeek (a SYN on a closed connection is a
    reuse): two events, both refused / REJ."""
    cl, srv = client(157, 55008, isn=0x15700000), server(157, 8080)
    first = Conn(cap, cl, srv)
    first.send(0.0, True, "S")
    first.send(0.0003, False, "RA", seq=0)
    second = Conn(cap, cl, srv)  # the same endpoints: IP-IDs carry on
    second.send(1.0, True, "S", seq=cl.isn)
    second.send(1.0003, False, "RA", seq=0)
    return [c.expect(cause="refused", confidence="high", seq_check="exact", conn_state="REJ",
                     evidence_includes=["seq_exact"]) for c in (first, second)]


# 6. handshake_abort --------------------------------------------------------------------------
@scenario
def handshake_abort_syn_scan(cap):
    """SYN scan: SYN, SYN-ACK, bare RST from the scanner instead of the final ACK."""
    c = Conn(cap, client(70, 46000), server(70, 22), win=1024)
    c.send(0.0, True, "S")
    c.send(0.020, False, "SA")
    c.send(0.0202, True, "R")
    return [c.expect(cause="handshake_abort", conn_state="RSTO")]


@scenario
def handshake_abort_rstos0(cap):
    """The originator gives up: SYN, no SYN-ACK, then its own RST."""
    c = Conn(cap, client(71, 46001), server(71, 22))
    c.send(0.0, True, "S")
    c.send(0.5, True, "R")
    return [c.expect(cause="handshake_abort", conn_state="RSTOS0")]


@scenario
def handshake_abort_resp_after_synack(cap):
    """The responder resets after its own SYN-ACK, before the originator's ACK arrives."""
    c = Conn(cap, client(72, 46002), server(72, 22))
    c.send(0.0, True, "S")
    c.send(0.020, False, "SA")
    c.send(0.5, False, "R")
    return [c.expect(cause="handshake_abort", conn_state="RSTR")]


# 7. after_close ------------------------------------------------------------------------------
@scenario
def after_close_client_fin(cap):
    """The client sends its request and closes; the server still writes; the closed client socket
    answers the data with a RST."""
    c = Conn(cap, client(80, 47000), server(80, 8000))
    t = c.handshake(0.0)
    c.send(t + 0.05, True, "PA", b"Q" * 150)
    c.send(t + 0.0502, True, "FA")
    c.send(t + 0.070, False, "PA", b"R" * 700)
    c.send(t + 0.0701, True, "R")
    return [c.expect(cause="after_close", conn_state="RSTO", seq_check="exact",
                     evidence_includes=["fin_before"])]


@scenario
def after_close_server_fin(cap):
    """The server answers and closes; later the client sends more data and the closed server
    socket answers with a bare RST (seq = the client's ACK)."""
    c = Conn(cap, client(81, 47001), server(81, 8000))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.01, False, "FA")
    c.send(t + 0.0302, True, "A")
    c.send(t + 0.5, True, "PA", b"Q" * 100)
    c.send(t + 0.520, False, "R")
    return [c.expect(cause="after_close", conn_state="RSTR", seq_check="exact",
                     evidence_includes=["fin_before"])]


# 8. overload ---------------------------------------------------------------------------------
@scenario
def overload_zero_window(cap):
    """An upload fills the server's buffer: it advertises a zero window twice, then resets."""
    c = Conn(cap, client(90, 48000), server(90, 8443))
    t = c.handshake(0.0)
    for i in range(4):
        c.send(t + 0.05 + 0.0001 * i, True, "PA", b"U" * 1400)
    c.send(t + 0.070, False, "A", win=0)
    c.send(t + 0.270, False, "A", win=0)
    c.send(t + 1.270, False, "RA")
    return [c.expect(with_history=False, cause="overload", conn_state="RSTR",
                     evidence_includes=["zero_window_before"])]


@scenario
def overload_rst_storm(cap):
    """25 established connections to one server, all reset by it within 0.5 s."""
    srv = server(50, 443)
    conns = []
    for i in range(25):
        cl = client(101 + i, 40000 + i, isn=0x20000000 + i * 0x01000000)
        s = Endpoint(srv.addr, srv.port, srv.mac, SERVER_TTL, ipid=0x6000 + i * 0x100,
                     isn=0x30000000 + i * 0x01000000)
        c = Conn(cap, cl, s)
        t = c.handshake(0.1 * i)
        c.send(t + 0.01, True, "PA", b"Q" * 300)
        c.send(t + 0.03, False, "A")
        conns.append(c)
    for i, c in enumerate(conns):
        c.send(5.0 + 0.02 * i, False, "RA")
    return [c.expect(cause="overload", conn_state="RSTR", seq_check="exact",
                     evidence_includes=["rst_storm"]) for c in conns]


# 9. orig_abort / resp_abort ------------------------------------------------------------------
@scenario
def resp_abort_exact(cap):
    """The server aborts an established connection with an exact RST/ACK."""
    c = Conn(cap, client(100, 49000), server(100, 443))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.5, False, "RA")
    return [c.expect(cause="resp_abort", confidence="high", seq_check="exact", conn_state="RSTR",
                     evidence_includes=["seq_exact"], cause_not=["injected"])]


@scenario
def resp_abort_reordered_handshake(cap):
    """The server's SYN-ACK captured before the client's SYN it answers (a mirror fed by two
    interfaces): one connection, whose roles Zeek flips on the SYN (history "Hs^..."); the server
    then aborts it. Port 9000 is no likely server port, so the SYN-ACK's sender is Zeek's
    originator until the SYN comes."""
    c = Conn(cap, client(103, 49003), server(103, 9000))
    c.send(0.0, False, "SA", ack=c.c.isn + 1)
    c.send(0.0003, True, "S")
    c.send(0.0005, True, "A")
    t = c.exchange(0.05)
    c.send(t + 0.5, False, "RA")
    return [c.expect(with_history=False, history="Hs^ADdr", cause="resp_abort", confidence="high",
                     seq_check="exact", conn_state="RSTR")]


@scenario
def orig_abort_exact(cap):
    """The client aborts an established connection with an exact RST/ACK."""
    c = Conn(cap, client(101, 49001), server(101, 443))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.5, True, "RA")
    return [c.expect(cause="orig_abort", confidence="high", seq_check="exact", conn_state="RSTO",
                     evidence_includes=["seq_exact"])]


@scenario
def orig_abort_in_window(cap):
    """A client RST 3000 bytes past the next expected sequence number, inside the window, and no
    challenge ACK from the server: orig_abort, medium."""
    c = Conn(cap, client(102, 49002), server(102, 443))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.5, True, "R", seq=(c.c.nxt + 3000) % 2**32)
    return [c.expect(cause="orig_abort", confidence="medium", seq_check="in_window",
                     conn_state="RSTO", evidence_includes=["seq_in_window"],
                     evidence_excludes=["challenge_ack"])]


# Traps that must not be called injected ------------------------------------------------------
@scenario
def trap_lb_ttl_change(cap):
    """Behind a load balancer the RST comes from another box: its TTL differs (61, not 57), its
    IP-ID follows the sequence, nothing else is odd. One weak signal: never injected."""
    c = Conn(cap, client(110, 50000), server(110, 443))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05, resp=(900, 700))
    c.send(t + 0.3, False, "RA", ttl=61)
    return [c.expect(cause="resp_abort", confidence="high", seq_check="exact", conn_state="RSTR",
                     rst_ttl=61, usual_ttl=SERVER_TTL, evidence_includes=["ttl_mismatch"],
                     evidence_excludes=["ipid_mismatch"], cause_not=["injected"])]


@scenario
def trap_capture_loss(cap):
    """The capture misses the client's second data segment (the server ACKs it); the client's RST
    is exact. A gap in what we saw is not a forged RST."""
    c = Conn(cap, client(111, 50001), server(111, 443))
    t = c.handshake(0.0)
    c.send(t + 0.05, True, "PA", b"U" * 1000)
    c.send(t + 0.0501, True, "PA", b"U" * 1000, emit=False)
    c.send(t + 0.0502, True, "PA", b"U" * 1000)
    c.send(t + 0.070, False, "A")
    c.send(t + 0.075, False, "PA", b"R" * 400)
    c.send(t + 0.0752, True, "A")
    c.send(t + 0.6, True, "RA")
    return [c.expect(with_history=False, with_bytes=False, cause="orig_abort", confidence="high",
                     seq_check="exact", conn_state="RSTO",
                     evidence_excludes=["ipid_mismatch", "ttl_mismatch", "rst_seq_change"],
                     cause_not=["injected"])]


@scenario
def trap_rst_retransmitted(cap):
    """The server sends the same RST twice (same seq and ack, 200 ms apart)."""
    c = Conn(cap, client(112, 50002), server(112, 443))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05, resp=(900, 700))
    c.send(t + 0.3, False, "RA")
    c.send(t + 0.5, False, "RA")
    return [c.expect(cause="resp_abort", confidence="high", seq_check="exact", conn_state="RSTR",
                     rst_count=2, evidence_includes=["rst_retransmitted"],
                     evidence_excludes=["rst_seq_change", "rst_ack_change"],
                     cause_not=["injected"])]


# Encapsulations and address families ---------------------------------------------------------
@scenario
def ipv6_resp_abort(cap):
    """resp_abort over IPv6."""
    c = Conn(cap, client(0x10, 51000, v6=True), server(0x443, 443, v6=True))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.5, False, "RA")
    return [c.expect(cause="resp_abort", confidence="high", seq_check="exact", conn_state="RSTR",
                     fields_absent=["vlan"])]


@scenario
def vlan_orig_abort(cap):
    """orig_abort inside 802.1Q VLAN 100."""
    c = Conn(cap, client(120, 52000), server(120, 443), link=Link("vlan", vlans=(100,)))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.5, True, "RA")
    return [c.expect(cause="orig_abort", confidence="high", seq_check="exact", conn_state="RSTO",
                     vlan=100)]


@scenario
def qinq_resp_abort(cap):
    """resp_abort inside QinQ: outer 802.1ad S-tag 300, inner 802.1Q C-tag 42 (vlan = outer)."""
    c = Conn(cap, client(121, 52001), server(121, 443), link=Link("qinq", vlans=(300, 42)))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.5, False, "RA")
    return [c.expect(cause="resp_abort", confidence="high", seq_check="exact", conn_state="RSTR",
                     vlan=300)]


@scenario
def mpls_orig_abort(cap):
    """orig_abort under a two-label MPLS stack."""
    c = Conn(cap, client(122, 52002), server(122, 443), link=Link("mpls", labels=(1000, 2000)))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.5, True, "RA")
    return [c.expect(cause="orig_abort", confidence="high", seq_check="exact", conn_state="RSTO",
                     fields_absent=["vlan"])]


# Flow-direction and payload corners ----------------------------------------------------------
@scenario
def midstream_resp_abort(cap):
    """Capture starts mid-connection with a server segment; the port heuristic makes the client
    (high port) the originator. The server then resets exactly."""
    c = Conn(cap, client(130, 53000, isn=0x41000000), server(130, 443, isn=0x42000000))
    c.send(0.0, False, "PA", b"R" * 500)
    c.send(0.0002, True, "A")
    c.send(0.1, True, "PA", b"Q" * 90)
    c.send(0.12, False, "PA", b"R" * 600)
    c.send(0.1202, True, "A")
    c.send(0.6, False, "RA")
    return [c.expect(cause="resp_abort", confidence="high", seq_check="exact", orig_guessed=True,
                     conn_state="RSTRH")]


@scenario
def rst_payload_text(cap):
    """The server resets with a human-readable reason in the RST's payload (RFC 9293 3.10.7
    allows it; some stacks and proxies do it). Zeek's history ends in `t`: a RST's payload is no
    stream data, so it does not pass the server's highest number (update_last_seq)."""
    c = Conn(cap, client(131, 53001), server(131, 443))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.5, False, "RA", b"Access denied by policy")
    return [c.expect(cause="resp_abort", confidence="high", seq_check="exact", conn_state="RSTR",
                     payload_in_rst="Access denied by policy",
                     evidence_includes=["payload_in_rst"])]


@scenario
def multi_rst_one_conn(cap):
    """The client aborts with unread data (RST/ACK); two server segments already in flight each
    get a bare RST with the same seq: three RSTs, one connection, one event."""
    c = Conn(cap, client(132, 53002), server(132, 443))
    t = c.handshake(0.0)
    c.send(t + 0.05, True, "PA", b"Q" * 100)
    c.send(t + 0.070, False, "PA", b"R" * 1000)
    rst_seq = c.c.nxt
    c.send(t + 0.080, True, "RA")
    c.send(t + 0.081, False, "PA", b"R" * 1000)
    c.send(t + 0.0811, True, "R", seq=rst_seq)
    c.send(t + 0.083, False, "PA", b"R" * 1000)
    c.send(t + 0.0831, True, "R", seq=rst_seq)
    return [c.expect(cause="orig_abort", confidence="high", seq_check="exact", conn_state="RSTO",
                     rst_count=3, evidence_excludes=["rst_seq_change", "rst_ack_change"],
                     cause_not=["injected"])]


@scenario
def no_reset_clean_close(cap):
    """A normal FIN close and no RST: rstscope must report nothing."""
    c = Conn(cap, client(140, 54000), server(140, 443))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.close(t + 0.2)
    return []


# Every conn_state a reset connection can end in ------------------------------------------------
# Zeek (TCPSessionAdapter::UpdateStateMachine, reproduced by src/analysis/zeek_state.cc) moves a
# RST's sender to RESET in every state but one: an endpoint that had sent its FIN keeps CLOSED
# when its peer is CLOSED too (UpdateClosedState). The only way back out of RESET is the other
# one: an endpoint that sent FIN then RST is turned back into CLOSED by its peer's FIN
# (UpdateEstablishedState), which closes both sides. So with a RST in the connection,
# base/protocols/conn's conn_state can only be REJ, RSTR, RSTRH (responder RESET), RSTO, RSTOS0,
# OTH (originator RESET) or SF (both CLOSED). S2, S3, SH and SHR need exactly one side CLOSED and
# the other neither CLOSED nor RESET, which a RST from either side rules out: a one-sided FIN
# followed by a RST ends in RSTO or RSTR (the two rst*_after_* scenarios below), SH in RSTOS0/OTH
# (orig RST) or REJ/RSTR (resp RST), SHR in RSTO/RSTR. S0 and S1 have no RESET side either.
@scenario
def sf_rst_after_both_fins(cap):
    """Both sides close (server first), then the client's late FIN reaches a server whose
    FIN_WAIT_2 socket has expired (60 s): the server answers with a bare RST at the client's ACK.
    After both FINs a RST changes no state: SF, history ShADadfFr as in Zeek's xmpp trace."""
    c = Conn(cap, client(150, 55000), server(150, 5222))
    t = c.handshake(0.0)
    c.send(t + 0.05, True, "PA", b"Q" * 200)
    c.send(t + 0.0502, False, "A")
    c.send(t + 0.070, False, "PA", b"R" * 400)
    t = t + 0.0702
    c.send(t, True, "A")
    c.send(t + 0.1, False, "FA")
    c.send(t + 0.1202, True, "A")
    c.send(t + 61.0, True, "FA")
    c.send(t + 61.020, False, "R")
    ev = c.expect(cause="after_close", confidence="high", seq_check="exact", conn_state="SF",
                  evidence_includes=["fin_before", "seq_exact"])
    assert ev["history"] == "ShADadfFr", ev["history"]
    return [ev]


@scenario
def sf_fin_rst_then_peer_fin(cap):
    """The client closes with a FIN and follows it at once with a RST (as some stacks do on
    close); the server's FIN, sent before the RST reached it, crosses it. Zeek turns the client's
    FIN-then-RST back into CLOSED when the server's FIN arrives: SF, not RSTO."""
    c = Conn(cap, client(151, 55001), server(151, 443))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.1, True, "FA")
    c.send(t + 0.1001, True, "R")
    c.send(t + 0.115, False, "FA")
    ev = c.expect(cause="after_close", confidence="high", seq_check="exact", conn_state="SF",
                  evidence_includes=["fin_before", "seq_exact"])
    assert ev["history"] == "ShADdFRf", ev["history"]
    return [ev]


@scenario
def rstr_after_orig_fin(cap):
    """The client sends its request and half-closes (S2 so far); the server aborts with a RST/ACK
    instead of answering. The responder's RST makes it RSTR, not S2."""
    c = Conn(cap, client(152, 55002), server(152, 8000))
    t = c.handshake(0.0)
    c.send(t + 0.05, True, "PA", b"Q" * 140)
    c.send(t + 0.0502, True, "FA")
    c.send(t + 0.070, False, "RA")
    ev = c.expect(cause="after_close", confidence="high", seq_check="exact", conn_state="RSTR",
                  evidence_includes=["fin_before", "seq_exact"])
    assert ev["history"] == "ShADFr", ev["history"]
    return [ev]


@scenario
def rsto_after_resp_fin(cap):
    """The server answers and closes (S3 so far); the client ACKs and then closes with SO_LINGER 0,
    a RST/ACK instead of its FIN. The originator's RST makes it RSTO, not S3."""
    c = Conn(cap, client(153, 55003), server(153, 443))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.001, False, "FA")
    c.send(t + 0.0212, True, "A")
    c.send(t + 0.3, True, "RA")
    ev = c.expect(cause="after_close", confidence="high", seq_check="exact", conn_state="RSTO",
                  evidence_includes=["fin_before", "seq_exact"])
    assert ev["history"] == "ShADdfR", ev["history"]
    return [ev]


@scenario
def oth_midstream_orig_abort(cap):
    """The capture starts mid-connection with a client segment (no flip: the client's port is not
    a server port); both sides exchange data, then the client aborts exactly. Neither endpoint got
    past Zeek's PARTIAL, which its rules count as inactive, and the history does not start with S:
    /^?S[^HAFGIQ]*R.*/ fails, so the originator's RST gives OTH (not RSTO, not RSTOS0)."""
    c = Conn(cap, client(154, 55004, isn=0x43000000), server(154, 443, isn=0x44000000))
    c.send(0.0, True, "PA", b"Q" * 80)
    c.send(0.020, False, "PA", b"R" * 700)
    c.send(0.0202, True, "A")
    c.send(0.5, True, "RA")
    ev = c.expect(cause="orig_abort", confidence="high", seq_check="exact", orig_guessed=True,
                  conn_state="OTH", evidence_includes=["seq_exact"])
    assert ev["history"] == "DdAR", ev["history"]
    return [ev]


# Capture formats and link types ----------------------------------------------------------------
@scenario
def pcapng_resp_abort(cap):
    """resp_abort read from a pcapng file (Section Header, Interface Description with if_tsresol
    nanoseconds, Enhanced Packet Blocks) instead of a classic pcap."""
    cap.fmt = "pcapng"
    c = Conn(cap, client(155, 55005), server(155, 443))
    t = c.handshake(0.0)
    t = c.exchange(t + 0.05)
    c.send(t + 0.5, False, "RA")
    return [c.expect(cause="resp_abort", confidence="high", seq_check="exact", conn_state="RSTR",
                     evidence_includes=["seq_exact"])]


@scenario
def ipv6_ext_headers_resp_abort(cap):
    """resp_abort over IPv6 where the client's request carries a Destination Options header and
    the server's RST a Hop-by-Hop, a Routing (type 0, no segments left) and a Destination Options
    header: the decoder must walk the chain to TCP, and count payload after it."""
    c = Conn(cap, client(0xB0, 55006, v6=True), server(0xB0, 443, v6=True))
    t = c.handshake(0.0)
    pad = [PadN(optdata=bytes(4))]  # 8-byte option headers (length field 0)
    c.send(t + 0.05, True, "PA", b"Q" * 120, ext=[IPv6ExtHdrDestOpt(options=pad)])
    c.send(t + 0.070, False, "PA", b"R" * 900)
    c.send(t + 0.0702, True, "A")
    c.send(t + 0.5, False, "RA", ext=[IPv6ExtHdrHopByHop(options=pad),
                                      IPv6ExtHdrRouting(type=0, segleft=0),
                                      IPv6ExtHdrDestOpt(options=pad)])
    return [c.expect(cause="resp_abort", confidence="high", seq_check="exact", conn_state="RSTR",
                     orig_bytes=120, resp_bytes=900, evidence_includes=["seq_exact"])]


@scenario
def sll_refused(cap):
    """A refused connection captured on the client with `tcpdump -i any`: Linux cooked frames
    (DLT_LINUX_SLL, 113), the SYN outgoing, the RST/ACK to the host."""
    cl = client(156, 55007)
    cap.linktype = LINKTYPE_LINUX_SLL
    c = Conn(cap, cl, server(156, 8080), link=Link("sll", host_mac=cl.mac))
    c.send(0.0, True, "S")
    c.send(0.0003, False, "RA", seq=0)
    ev = c.expect(cause="refused", confidence="high", seq_check="exact", conn_state="REJ",
                  evidence_includes=["seq_exact"], fields_absent=["vlan"])
    assert ev["history"] == "Sr", ev["history"]
    return [ev]



# 10. Zeek sizes and letters (issue 11, items 3 and 4) ----------------------------------------
@scenario
def zeek_both_reset_acked_data(cap):
    """Both sides reset after the server acknowledged 100 bytes the capture lost: Zeek's size of
    the client is 100 (from the ACK), so the record is RSTR, not REJ (the payload bytes seen are
    0, which decided REJ before)."""
    c = Conn(cap, client(160, 55010), server(160, 8081))
    t = c.handshake(0.0)
    c.send(t + 0.05, True, "PA", b"Q" * 100, emit=False)
    c.send(t + 0.07, False, "A")
    c.send(t + 0.10, True, "R")
    c.send(t + 0.1002, False, "R")
    ev = c.expect(conn_state="RSTR", orig_bytes=0, resp_bytes=0)
    assert ev["history"] == "ShAaRr", ev["history"]
    return [ev]


@scenario
def zeek_syn_rst_answer(cap):
    """A SYN answered by a SYN+RST+ACK segment: analysed as the connection's RST (it was dropped
    as bad_tcp_flags before) with Zeek's Q; Zeek's state machine takes the SYN first, so the
    client is ESTABLISHED and the record RSTR."""
    c = Conn(cap, client(161, 55011), server(161, 8082))
    c.send(0.0, True, "S")
    c.send(0.0003, False, "SRA")
    ev = c.expect(conn_state="RSTR", rst_by="resp")
    assert ev["history"] == "Sq", ev["history"]
    return [ev]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    expected = {}
    for name, build in SCENARIOS.items():
        cap = Capture()
        events = build(cap)
        filename = name + "." + cap.fmt
        cap.write(os.path.join(out, filename))
        expected[name] = {"pcap": filename,
                          "description": " ".join(build.__doc__.split()),
                          "events": events}
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(expected)} scenarios written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
