#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Writes small seed corpora for the fuzz targets: seeds.py OUT_DIR (one folder per target).

Everything is generated here, byte by byte, so the seeds need no capture library and no file
outside the repository. The bundled demo capture (tools/demo/resets-demo.pcap, read only) adds real
frames when it is present."""
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, 'tools', 'demo', 'resets-demo.pcap')


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack(f'!{len(data) // 2}H', data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_frame(flags, seq=1000, ack=0, payload=b'', sport=40000, dport=80):
    """An Ethernet/IPv4/TCP frame with correct checksums."""
    src, dst = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 2])
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = src + dst + struct.pack('!BBH', 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
    return b'\x02\0\0\0\0\x02' + b'\x02\0\0\0\0\x01' + b'\x08\x00' + ip + tcp


SYN, RST, ACK, PSH = 0x02, 0x04, 0x10, 0x08
FRAMES = [tcp_frame(SYN), tcp_frame(RST | ACK, seq=0, ack=1001, sport=80, dport=40000),
          tcp_frame(PSH | ACK, payload=b'GET / HTTP/1.0\r\n\r\n'), tcp_frame(RST, seq=1018)]


def tunnel_seeds():
    """Frames for the tunnels and link types, keyed by fuzz_decoder's link-type byte (0 Ethernet,
    8 PPP, 9 FDDI, 10 PPP serial, 11 802.11, 12 radiotap, 13 NFLOG)."""
    inner_eth = tcp_frame(RST)
    inner_ip = inner_eth[14:]
    eth_ip = inner_eth[:12] + b'\x08\x00'

    def ip_udp(dport, payload, sport=50000):
        udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
        return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 28 + len(payload), 1, 0, 64, 17, 0,
                           bytes([192, 0, 2, 9]), bytes([192, 0, 2, 10])) + udp

    ipv6 = struct.pack('!IHBB', 0x60000000, len(inner_ip) - 20, 6, 64) + \
        bytes.fromhex('20010000' + '00' * 12) + bytes.fromhex('20010db8' + '00' * 11 + '01') + \
        inner_ip[20:]
    gre_pptp = struct.pack('!HHHH', 0x3081, 0x880B, len(inner_ip) + 4, 7) + struct.pack(
        '!II', 1, 2) + b'\xff\x03\x00\x21' + inner_ip
    dot11 = b'\x88\x01\0\0' + bytes(18) + b'\x10\0' + b'\0\0' + \
        b'\xaa\xaa\x03\0\0\0\x08\x00' + inner_ip
    return {
        'vxlan': (0, eth_ip + ip_udp(4789, b'\x08\0\0\0\0\x12\x34\0' + inner_eth)),
        'geneve': (0, eth_ip + ip_udp(6081, b'\x01\0\x65\x58\0\0\x07\0' + bytes(4) +
                                     inner_eth)),
        'gtp_u': (0, eth_ip + ip_udp(2152, b'\x34\xff' + struct.pack('!HI', len(inner_ip) + 8, 9) +
                                    b'\0\0\0\x85' + b'\x01\0\x09\0' + inner_ip)),
        'teredo': (0, eth_ip + ip_udp(40000, b'\0\0\xf0\x0f\x3f\xff\xff\xfe' + ipv6, 3544)),
        'ayiya': (0, eth_ip + ip_udp(5072, b'\x20\0\x11\x04\0\0\0\x01' + bytes(4) + inner_ip)),
        'pptp': (0, eth_ip[:12] + b'\x08\x00' + struct.pack(
            '!BBHHHBBH4s4s', 0x45, 0, 20 + len(gre_pptp), 1, 0, 64, 47, 0, bytes(4), bytes(4)) +
            gre_pptp),
        'pbb_vntag_snap': (0, inner_eth[:12] + b'\x88\xe7' + bytes(4) + inner_eth[:12] +
                           b'\x89\x26' + b'\x80\x01\0\x02' +
                           struct.pack('!H', len(inner_ip) + 8) + b'\xaa\xaa\x03\0\0\0\x08\x00' +
                           inner_ip),
        'ppp': (8, b'\xff\x03\x00\x21' + inner_ip),
        'fddi': (9, b'\x50' + bytes(12) + b'\xaa\xaa\x03\0\0\0\x08\x00' + inner_ip),
        'ppp_serial': (10, b'\xff\x03\x00\x21' + inner_ip),
        'ieee802_11': (11, dot11),
        'radiotap': (12, b'\0\0\x08\0\0\0\0\0' + dot11),
        'nflog': (13, b'\x02\0\0\x01' + struct.pack('<HH', 8, 1) + bytes(4) +
                  struct.pack('<HH', 4 + len(inner_ip), 9) + inner_ip),
    }


def demo_frames(limit):
    """The first `limit` frames of the demo capture (a microsecond Ethernet pcap), if present."""
    try:
        with open(DEMO, 'rb') as f:
            data = f.read()
    except OSError:
        return []
    frames, at = [], 24
    while at + 16 <= len(data) and len(frames) < limit:
        caplen = struct.unpack_from('<I', data, at + 8)[0]
        frames.append(data[at + 16:at + 16 + caplen])
        at += 16 + caplen
    return frames


def pcap(frames, nano=False, link=1, times=None):
    out = struct.pack('<IHHiIII', 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 65535, link)
    for i, frame in enumerate(frames):
        sec, frac = times[i] if times else (1700000000 + i, 123 * i)
        out += struct.pack('<IIII', sec, frac, len(frame), len(frame)) + frame
    return out


class Pcapng:
    def __init__(self, big_endian=False):
        self.order = '>' if big_endian else '<'
        self.data = b''

    def block(self, kind, body):
        body += b'\0' * (-len(body) % 4)
        length = len(body) + 12
        self.data += struct.pack(self.order + 'II', kind, length) + body + \
            struct.pack(self.order + 'I', length)
        return self

    def section(self):
        return self.block(0x0A0D0D0A, struct.pack(self.order + 'IHHq', 0x1A2B3C4D, 1, 0, -1))

    def interface(self, link=1, snaplen=65535, tsresol=None):
        body = struct.pack(self.order + 'HHI', link, 0, snaplen)
        if tsresol is not None:
            body += struct.pack(self.order + 'HH', 9, 1) + bytes([tsresol, 0, 0, 0])
            body += struct.pack(self.order + 'HH', 0, 0)
        return self.block(1, body)

    def enhanced(self, iface, units, frame, original=None):
        return self.block(6, struct.pack(self.order + 'IIIII', iface, units >> 32,
                                         units & 0xFFFFFFFF, len(frame),
                                         len(frame) if original is None else original) + frame)

    def simple(self, frame):
        return self.block(3, struct.pack(self.order + 'I', len(frame)) + frame)


def pcapng_seeds(frames):
    seeds = {}
    for name, big in (('le', False), ('be', True)):
        # Two interfaces with different snapshot lengths (the case the rewrite exists for).
        f = Pcapng(big).section().interface(1, 65535).interface(1, 128, tsresol=9)
        f.enhanced(0, 1700000000123456, frames[0]).enhanced(1, 1700000000123456789, frames[1][:128],
                                                            len(frames[1]))
        f.block(4, b'\0' * 4).simple(frames[2]).block(5, b'\0' * 24)
        seeds[f'multi_interface_{name}'] = f.data
    for name, resol, units in (('ps', 12, 12345678901234567), ('bin30', 0x80 | 30, 1 << 60),
                               ('e127', 127, 2**64 - 1), ('s', 0, 2**40)):
        seeds[f'tsresol_{name}'] = Pcapng().section().interface(1, 0, resol).enhanced(
            0, units, frames[3]).data
    two = Pcapng().section().interface(1, 0).enhanced(0, 1, frames[0])
    two.data += Pcapng(True).section().interface(1, 0).enhanced(0, 2, frames[1]).data
    seeds['two_sections'] = two.data
    return seeds


def control_seeds():
    return {'stats': b'stats\n', 'help': b'help', 'ping': b'ping\r\n', 'version': b'version',
            'words': b'--pcap\0x.pcap\0--workers\0002\0--\0--log\0-'}


def config_seeds():
    seeds = {'minimal': b'workers = 2\n', 'sections': b'[x]\nlog = -\n# comment\nquiet = true\n'}
    conf = os.path.join(ROOT, 'conf', 'rstscope.conf')
    if os.path.exists(conf):
        with open(conf, 'rb') as f:
            seeds['rstscope.conf'] = f.read()
    return seeds


def event_seeds():
    # Field by field from the input (fuzz_event_json.cc): lengths cover empty, partial and full.
    return {'empty': b'', 'counting': bytes(range(256)), 'ff': b'\xff' * 200,
            'letters': bytes(190) + b'ShADadFr\0' + bytes(15) + b'<html>\x01\x7f\xc3\xa9"\\'}


def signature_seeds():
    seeds = {'two': b'http_503 resp 512 overload - /^HTTP\\/1\\.[01] 503 / HTTP 503\n'
                    b'lb rst 256 policy_reset i /policy (action|deny)/ a policy\n',
             'bad': b'x any 9999 nonsense q /(/ broken\n'}
    conf = os.path.join(ROOT, 'conf', 'signatures.conf')
    if os.path.exists(conf):
        with open(conf, 'rb') as f:
            seeds['signatures.conf'] = f.read()
    return seeds


def client_hello(name):
    def ext(kind, body):
        return kind.to_bytes(2, 'big') + len(body).to_bytes(2, 'big') + body
    sni = b'\x00' + len(name).to_bytes(2, 'big') + name
    exts = ext(0x1A1A, b'') + ext(0, len(sni).to_bytes(2, 'big') + sni) + ext(0x0010, b'\x00\x03\x02h2')
    body = (b'\x03\x03' + bytes(32) + b'\x00\x00\x04\x3a\x3a\x13\x01\x01\x00' +
            len(exts).to_bytes(2, 'big') + exts)
    hs = b'\x01' + len(body).to_bytes(3, 'big') + body
    return b'\x16\x03\x01' + len(hs).to_bytes(2, 'big') + hs


def app_seeds():
    """fuzz_app.cc: a cut seed byte, a flags byte, the originator's length (12 bits), the streams."""
    def streams(orig, resp, resp_first=0, cut=7):
        return bytes([cut, resp_first, len(orig) >> 4, len(orig) & 0x0F]) + orig + resp
    return {'tls': streams(client_hello(b'www.example.com'), b'\x16\x03\x03\x00\x02\x02\x00'),
            'http': streams(b'GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n',
                            b'HTTP/1.1 503 Service Unavailable\r\n\r\n'),
            'smtp': streams(b'', b'220 mx.example ESMTP Postfix\r\n', 1),
            'ssh': streams(b'SSH-2.0-client\r\n', b'SSH-2.0-OpenSSH_9.2p1\r\n'),
            'imap': streams(b'', b'* OK IMAP4rev1 ready\r\n', 1, 200)}


def main():
    out = sys.argv[1]
    frames = FRAMES + demo_frames(12)
    corpora = {
        # fuzz_decoder: the first byte picks the link type, 0 is Ethernet.
        'fuzz_decoder': {**{f'frame{i}': bytes([0]) + f for i, f in enumerate(frames)},
                         **{name: bytes([link]) + f for name, (link, f) in tunnel_seeds().items()}},
        'fuzz_control': control_seeds(),
        'fuzz_config': config_seeds(),
        'fuzz_event_json': event_seeds(),
        'fuzz_signatures': signature_seeds(),
        'fuzz_app': app_seeds(),
        'fuzz_pcapng': pcapng_seeds(FRAMES),
        'fuzz_probe': {'pcap_us': pcap(frames[:6]),
                       'pcap_ns': pcap(FRAMES, nano=True),
                       'pcap_truncated': pcap(FRAMES)[:-7],
                       'pcap_raw': pcap([f[14:] for f in FRAMES], link=101),
                       'pcapng': pcapng_seeds(FRAMES)['multi_interface_le']},
    }
    for target, seeds in corpora.items():
        folder = os.path.join(out, target)
        os.makedirs(folder, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(folder, name), 'wb') as f:
                f.write(data)


if __name__ == '__main__':
    main()
