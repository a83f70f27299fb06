#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Build captures of one TCP connection whose segments travel as IP fragments, each with the same
connection unfragmented (its reference), plus what rstscope must count for it.

usage: gen_fragment_captures.py OUTDIR

Writes OUTDIR/<name>.pcap and OUTDIR/expected.json:
    {name: {"pcap": "<name>.pcap", "reference": "<name of the unfragmented capture>" or null,
            "counters": {counter: value}, "args": [...]}}
The connection is 198.51.100.30:42000 → 203.0.113.30:80 (IPv6: 2001:db8::30 → 2001:db8::31):
handshake, a 1400-byte request, its acknowledgement, a 600-byte answer, then a RST from the
server. The request and the answer are fragmented (3 and 2 fragments), and so is the RST, in
8-byte fragments that split its TCP header (RFC 1858's tiny fragments). Captures: in order and
reversed, IPv4 and IPv6; a repeated fragment (the datagram is invalid), a lost one (it times out,
in the run or at the end of the input), a table too small for two interleaved datagrams, and a
fragment that would make a datagram beyond 65535 bytes. Deterministic: fixed times, sequence
numbers and IP-IDs; every fragment of a packet has that packet's time.
"""
import json
import os
import struct
import sys

from scapy.all import IP, IPv6, IPv6ExtHdrFragment, TCP, Ether, Raw, fragment, fragment6  # noqa

START_US = 1_700_000_000_000_000
CLIENT4, SERVER4 = "198.51.100.30", "203.0.113.30"
CLIENT6, SERVER6 = "2001:db8::30", "2001:db8::31"
ETHER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
REQUEST = bytes(range(256)) * 5 + b"GET / HTTP/1.1\r\n" * 8  # 1408 bytes
ANSWER = b"HTTP/1.1 200 OK\r\n" * 35 + b"01234"  # 600 bytes


def write_pcap(path, frames):
    """frames: list of (abs_usec, bytes). Classic pcap, microsecond resolution, Ethernet."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for us, data in frames:
            f.write(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(data), len(data)))
            f.write(data)


def segments(ipv6, answer=ANSWER):
    """The connection's segments in order: (name, scapy IP packet), IP-IDs distinct."""
    c, s = (CLIENT6, SERVER6) if ipv6 else (CLIENT4, SERVER4)

    def pkt(n, from_client, flags, seq, ack, load=b""):
        src, dst = (c, s) if from_client else (s, c)
        sport, dport = (42000, 80) if from_client else (80, 42000)
        if ipv6:
            l3 = IPv6(src=src, dst=dst, hlim=60)
        else:
            l3 = IP(src=src, dst=dst, ttl=60, id=0x200 + n)
        p = l3 / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=64240)
        return p / Raw(load) if load else p

    return [
        ("syn", pkt(0, True, "S", 1000, 0)),
        ("synack", pkt(1, False, "SA", 5000, 1001)),
        ("ack", pkt(2, True, "A", 1001, 5001)),
        ("request", pkt(3, True, "PA", 1001, 5001, REQUEST)),
        ("request_ack", pkt(4, False, "A", 5001, 1001 + len(REQUEST))),
        ("answer", pkt(5, False, "PA", 5001, 1001 + len(REQUEST), answer)),
        ("rst", pkt(6, False, "R", 5001 + len(answer), 0)),
    ]


# How each fragmented segment is cut: IPv4 payload bytes per fragment, IPv6 bytes per frame.
CUT4 = {"request": 512, "answer": 320, "rst": 8}
CUT6 = {"request": 600, "answer": 400, "rst": 56}


def fragments(name, p, ipv6, frag_id):
    if ipv6:
        ip = p[IPv6]
        q = IPv6(src=ip.src, dst=ip.dst, hlim=ip.hlim) / IPv6ExtHdrFragment(id=frag_id) / ip.payload
        return fragment6(q, CUT6[name])
    return fragment(p, fragsize=CUT4[name])


def frames_of(ipv6, reverse=False, fragmented=True, edit=None):
    """Frames of the connection: each fragmented segment as its fragments (reversed when asked);
    `edit(name, fragments)` may change a segment's fragment list. Returns (frames, counts) with
    counts = (fragments taken, datagrams reassembled) as a whole connection would give them."""
    frames, taken, datagrams = [], 0, 0
    for n, (name, p) in enumerate(segments(ipv6)):
        us = START_US + n * 1000
        if not fragmented or name not in CUT4:
            frames.append((us, bytes(ETHER / p)))
            continue
        parts = list(fragments(name, p, ipv6, 0x7000 + n))
        if reverse:
            parts.reverse()
        if edit:
            parts = edit(name, parts)
        taken += len(parts)
        datagrams += 1
        frames += [(us, bytes(ETHER / f)) for f in parts]
    return frames, taken, datagrams


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    expected = {}

    def add(name, frames, counters, reference=None, args=(), events=1):
        write_pcap(os.path.join(out, name + ".pcap"), frames)
        expected[name] = {"pcap": name + ".pcap", "reference": reference, "counters": counters,
                          "args": list(args), "events": events}

    for family, ipv6 in (("v4", False), ("v6", True)):
        whole, _, _ = frames_of(ipv6, fragmented=False)
        add(f"{family}_whole", whole, {"fragments": 0, "ip_fragment": 0})
        for order, reverse in (("in_order", False), ("out_of_order", True)):
            frames, taken, datagrams = frames_of(ipv6, reverse=reverse)
            add(f"{family}_{order}", frames,
                {"fragments": taken, "fragments_reassembled": datagrams, "ip_fragment": 0,
                 "fragments_invalid": 0, "fragments_timed_out": 0, "fragments_table_full": 0},
                reference=f"{family}_whole")

        # The request's middle fragment twice: its datagram is dropped whole, as invalid.
        def repeat(name, parts):
            return parts[:2] + [parts[1]] + parts[2:] if name == "request" else parts
        frames, taken, datagrams = frames_of(ipv6, edit=repeat)
        add(f"{family}_repeated", frames,
            {"fragments": taken, "fragments_reassembled": datagrams - 1, "fragments_invalid": 4,
             "ip_fragment": 0})

        # The answer's last fragment lost: its first waits, then times out (the RST comes
        # 40 s later, past the 30 s default) or, at the end of the input, is counted there.
        def lose(name, parts):
            return parts[:-1] if name == "answer" else parts
        frames, taken, datagrams = frames_of(ipv6, edit=lose)
        late = [(us + 40_000_000 if i >= len(frames) - 3 else us, f)
                for i, (us, f) in enumerate(frames)]
        add(f"{family}_lost_timeout", late,
            {"fragments": taken, "fragments_reassembled": datagrams - 1,
             "fragments_timed_out": 1, "fragments_invalid": 0})
        cut = frames[:-3]  # no RST: the answer's fragment is still waiting at the end
        add(f"{family}_lost_at_end", cut,
            {"fragments": taken - 3, "fragments_reassembled": datagrams - 2,
             "fragments_timed_out": 1, "fragments_invalid": 0}, events=0)

    # Two datagrams interleaved in a table of one: the answer's first fragment, moved in among
    # the request's, finds no room (the request holds the entry); its second then waits alone
    # and times out (1 ms) when the RST comes 1.5 ms later.
    frames, taken, datagrams = frames_of(False)
    ids = [Ether(f)[IP].id for _, f in frames]
    ans, req = ids.index(0x205), ids.index(0x203)
    moved = (frames[req][0], frames[ans][1])
    rest = [fr for i, fr in enumerate(frames) if i != ans]
    rest.insert(req + 1, moved)
    rest = rest[:-3] + [(us + 500, f) for us, f in rest[-3:]]
    add("v4_table_full", rest,
        {"fragments": taken, "fragments_table_full": 1, "fragments_reassembled": datagrams - 1,
         "fragments_timed_out": 1},
        args=["--frag-datagrams", "1", "--frag-timeout", "0.001"])

    # A fragment ending past 65535 bytes: dropped before it takes an entry.
    frames, taken, datagrams = frames_of(False)
    big = IP(src=CLIENT4, dst=SERVER4, ttl=60, id=0x300, proto=6, frag=8190, flags=0) / Raw(b"x" * 64)
    frames.insert(4, (START_US + 3500, bytes(ETHER / big)))
    add("v4_too_large", frames,
        {"fragments": taken + 1, "fragments_too_large": 1, "fragments_reassembled": datagrams},
        reference="v4_whole")

    # A 9 000-byte answer in one frame (a jumbo frame, or what a capture on a host with GRO
    # holds): longer than any mbuf of the capture's pool, it arrives as a chain, which the
    # decoder reads copied whole, with reassembly on or off.
    jumbo = [(START_US + n * 1000, bytes(ETHER / p))
             for n, (_, p) in enumerate(segments(False, answer=b"x" * 9000))]
    add("v4_jumbo", jumbo, {"fragments": 0, "ip_fragment": 0})
    add("v4_jumbo_no_reassembly", jumbo, {"fragments": 0, "ip_fragment": 0},
        reference="v4_jumbo", args=["--frag-datagrams", "0"])

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
