#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Build one small capture per tunnel and link type the decoder opens, each holding one TCP
connection that the server resets, plus what rstscope must report for it.

usage: gen_tunnel_captures.py OUTDIR

Writes OUTDIR/<name>.pcap and OUTDIR/expected.json:
    {name: {"pcap": "<name>.pcap", "tunnel_packets": N, "event": {field: value}, "args": [...]}}
(`args`, rstscope's options for that run, only for the VARIANTS of a capture.)
The inner connection is 198.51.100.20:41000 → 203.0.113.20:8080 (IPv6 for Teredo): handshake,
one request, its acknowledgement, then a RST from the server. The event must carry the inner
addresses and ports, never the tunnel's, and describe the tunnel in its `tunnel` object (absent
for the link types that are not tunnels). Deterministic: fixed times, sequence numbers and IP-IDs;
scapy builds the frame bytes, the writer below the microsecond pcap.
"""
import json
import os
import struct
import sys

from scapy.all import IP, IPv6, TCP, UDP, Dot1Q, Ether, Raw  # noqa: E402
from scapy.contrib.geneve import GENEVE  # noqa: E402
from scapy.contrib.gtp import GTP_U_Header  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402

START_US = 1_700_000_000_000_000
CLIENT4, SERVER4 = "198.51.100.20", "203.0.113.20"
# A Teredo client address (2001:0::/32 carries server and mapped client address) and a native one.
CLIENT6, SERVER6 = "2001:0:c000:201:0:f227:3dfe:ffeb", "2001:db8::20"
VTEP_A, VTEP_B = "192.0.2.1", "192.0.2.2"


def write_pcap(path, frames, linktype):
    """frames: list of (abs_usec, bytes). Classic pcap, microsecond resolution."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for us, data in frames:
            f.write(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(data), len(data)))
            f.write(data)


def connection(ipv6=False):
    """The inner packets in order: (from_client, scapy IP packet)."""
    ip = IPv6 if ipv6 else IP
    c, s = (CLIENT6, SERVER6) if ipv6 else (CLIENT4, SERVER4)

    def pkt(from_client, flags, seq, ack, load=b""):
        src, dst = (c, s) if from_client else (s, c)
        sport, dport = (41000, 8080) if from_client else (8080, 41000)
        l3 = ip(src=src, dst=dst, hlim=60) if ipv6 else ip(src=src, dst=dst, ttl=60, id=0x100)
        p = l3 / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=64240)
        return from_client, (p / Raw(load) if load else p)

    request = b"GET / HTTP/1.1\r\n\r\n"
    return [
        pkt(True, "S", 1000, 0),
        pkt(False, "SA", 5000, 1001),
        pkt(True, "A", 1001, 5001),
        pkt(True, "PA", 1001, 5001, request),
        pkt(False, "A", 5001, 1001 + len(request)),
        pkt(False, "R", 5001, 0),
    ]


def outer(from_client):
    """Outer Ethernet + IPv4 between two tunnel endpoints, turned round for the server's side."""
    a, b = (VTEP_A, VTEP_B) if from_client else (VTEP_B, VTEP_A)
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=a, dst=b, ttl=64, id=7)


def inner_ether(inner):
    return Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02") / inner


def vxlan(from_client, inner):
    return outer(from_client) / UDP(sport=50000, dport=4789) / VXLAN(vni=5001) / inner_ether(inner)


def geneve(from_client, inner):
    return outer(from_client) / UDP(sport=50001, dport=6081) / GENEVE(vni=6001, proto=0x6558) / \
        inner_ether(inner)


def gtp_u(from_client, inner):
    return outer(from_client) / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0x1234, gtp_type=255) / inner


def teredo(from_client, inner):
    # Client behind NAT ↔ Teredo relay on 3544; the IPv6 packet follows the UDP header directly.
    sport, dport = (40000, 3544) if from_client else (3544, 40000)
    return outer(from_client) / UDP(sport=sport, dport=dport) / inner


def ppp_serial(from_client, inner):
    proto = b"\x00\x57" if inner.version == 6 else b"\x00\x21"
    return b"\xff\x03" + proto + bytes(inner)


def radiotap(from_client, inner):
    header = struct.pack("<BBHI", 0, 0, 8, 0)  # version, pad, length 8, no fields present
    fc = b"\x08\x01" if from_client else b"\x08\x02"  # data frame, to DS / from DS
    dot11 = fc + b"\x00\x00" + bytes(range(18)) + b"\x10\x00"
    llc = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
    return header + dot11 + llc + bytes(inner)


def vlan_per_direction(from_client, inner):
    # A mirror of both sides of a router: the client's side on VLAN 10, the server's on VLAN 20.
    return Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02") / \
        Dot1Q(vlan=10 if from_client else 20) / inner


# The `tunnel` object of the event: the RST comes from the server, so its frame's outer header
# runs from the server's tunnel endpoint to the client's. None: no tunnel, the field is absent.
RST_OUTER = {"outer_src": VTEP_B, "outer_dst": VTEP_A}

CAPTURES = {
    # name: (builder, inner IPv6?, link type, tunnel object)
    "vxlan": (vxlan, False, 1, {"type": "vxlan", "id": 5001, **RST_OUTER}),
    "geneve": (geneve, False, 1, {"type": "geneve", "id": 6001, **RST_OUTER}),
    "gtp_u": (gtp_u, False, 1, {"type": "gtp_u", "id": 0x1234, **RST_OUTER}),
    "teredo": (teredo, True, 1, {"type": "teredo", **RST_OUTER}),
    "ppp_serial": (ppp_serial, False, 50, None),
    "radiotap": (radiotap, False, 127, None),
    "vlan_per_direction": (vlan_per_direction, False, 1, None),
}
# Event fields a capture adds to the common ones: one connection (Zeek's key), the RST's tag.
EXTRA_EVENT = {"vlan_per_direction": {"vlan": 20}}
# Runs of a capture with options, and what differs in their one event: with --vlan-in-key the
# server's side (VLAN 20: SYN-ACK, ACK, RST) is a connection of its own that never saw the client.
VARIANTS = {
    "vlan_per_direction_in_key": ("vlan_per_direction", ["--vlan-in-key"],
                                  {"orig_pkts": 0, "resp_pkts": 3, "vlan": 20}),
}


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    expected = {}
    for name, (build, ipv6, linktype, tunnel) in CAPTURES.items():
        frames = []
        for i, (from_client, inner) in enumerate(connection(ipv6)):
            frames.append((START_US + i * 1000, bytes(build(from_client, inner))))
        write_pcap(os.path.join(outdir, name + ".pcap"), frames, linktype)
        tunnelled = tunnel is not None
        expected[name] = {
            "pcap": name + ".pcap",
            "tunnel_packets": len(frames) if tunnelled else 0,
            "event": {
                "orig_h": CLIENT6 if ipv6 else CLIENT4,
                "orig_p": 41000,
                "resp_h": SERVER6 if ipv6 else SERVER4,
                "resp_p": 8080,
                "rst_by": "resp",
                "rst_count": 1,
                "orig_pkts": 3,
                "resp_pkts": 3,
                "tunnel": tunnel,
            },
        }
        expected[name]["event"].update(EXTRA_EVENT.get(name, {}))
    for name, (base, args, changes) in VARIANTS.items():
        expected[name] = json.loads(json.dumps(expected[base]))
        expected[name]["args"] = args
        expected[name]["event"].update(changes)
    with open(os.path.join(outdir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
