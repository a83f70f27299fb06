# SPDX-License-Identifier: BSD-3-Clause
"""Traffic on demand for the integration tests that watch live traffic (refused connections,
replayed frames), and rstscope's counts read against the kernel's."""
import json
import socket
import subprocess
import time


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
    """Sends the frames of a capture out of `iface` through a packet socket, `loops` times over,
    as fast as the socket takes them; returns how many were sent. On the loopback each arrives as
    a frame for another host: a capture (as rstscope --iface lo) sees it, the stack drops it."""
    # Debian's scapy (/usr/bin/python3), imported here only: its raw reader gives each record's
    # bytes as captured, undissected.
    from scapy.utils import RawPcapReader
    frames = [data for data, _ in RawPcapReader(pcap_path)]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        s.bind((iface, 0))
        for _ in range(loops):
            for frame in frames:
                s.send(frame)
    finally:
        s.close()
    return loops * len(frames)


def steady_stats(rstscopectl, sock, read_wire, fields, timeout, pause):
    """rstscope's stats (`rstscopectl --json stats`) and `read_wire()` (the interfaces' counts)
    from a reading during which `read_wire()` did not move (a late packet between the two would
    count on one side only), whose `fields` of the stats and wire count equal the reading's before
    it (after a stall a worker may still be emptying its ring). Past `timeout` seconds, the last
    reading."""
    deadline = time.monotonic() + timeout
    previous = None
    while True:
        before = read_wire()
        r = subprocess.run([rstscopectl, "--socket", sock, "--timeout", "5", "--json", "stats"],
                           capture_output=True, text=True, timeout=20)
        stats = json.loads(r.stdout) if r.returncode == 0 else {}
        wire = read_wire()
        reading = (tuple(stats.get(f) for f in fields), wire)
        if (wire == before and reading == previous) or time.monotonic() > deadline:
            return stats, wire
        previous = reading
        time.sleep(pause)
