# SPDX-License-Identifier: BSD-3-Clause
"""Traffic on demand for the integration tests that watch live traffic: refused connections, replayed frames."""
import socket
import struct


def closed_port(address="127.0.0.1"):
    """A TCP port free at `address` a moment ago: nothing listens on it, so a SYN is refused."""
    s = socket.socket()
    s.bind((address, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def refuse(port, address="127.0.0.1"):
    """Connects to a port nothing listens on: one SYN answered by the kernel's RST."""
    c = socket.socket()
    c.settimeout(5)
    try:
        c.connect((address, port))
    except ConnectionRefusedError:
        pass
    c.close()


def replay_on(iface, pcap_path, loops):
    """Sends the frames of a plain (libpcap) capture out of `iface` through a packet socket,
    `loops` times over, as fast as the socket takes them; returns how many were sent. On the
    loopback each arrives as a frame for another host: a capture (as rstscope --iface lo) sees
    it, the stack drops it."""
    with open(pcap_path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise ValueError(f"{pcap_path}: not a little-endian libpcap capture")
    frames, offset = [], 24
    while offset + 16 <= len(data):
        captured = struct.unpack("<I", data[offset + 8:offset + 12])[0]
        frames.append(data[offset + 16:offset + 16 + captured])
        offset += 16 + captured
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        s.bind((iface, 0))
        for _ in range(loops):
            for frame in frames:
                s.send(frame)
    finally:
        s.close()
    return loops * len(frames)
