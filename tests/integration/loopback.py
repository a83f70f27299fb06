# SPDX-License-Identifier: BSD-3-Clause
"""Refused connections on demand, for the integration tests that watch live traffic."""
import socket


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
