# SPDX-License-Identifier: BSD-3-Clause
"""A client and a server namespace joined only through rstscope --mode inline (or, for the
benchmark's baseline, through a Linux bridge in the same middle namespace).

Shared by tests/integration/run_inline_real.py and tools/bench/inline_latency.py.
"""
import json
import os
import subprocess
import sys
import time

from processes import stop

# Offloads are turned off on every veth end: a packet socket would otherwise receive TSO/GRO
# super-frames larger than the PMD's frames and packets whose checksum the kernel left to a NIC
# that veth does not have (forwarded as they are, the far stack drops them). There is no ethtool
# here, so the legacy ethtool ioctls do it: {tx checksum, scatter-gather, TSO, GSO, GRO}.
ETHTOOL_OFFLOADS_OFF = r"""
import array, fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for dev in sys.argv[1:]:
    for cmd in (0x17, 0x19, 0x1f, 0x24, 0x2c):
        buf = array.array("B", struct.pack("II", cmd, 0))
        fcntl.ioctl(s.fileno(), 0x8946, struct.pack("16sP", dev.encode(), buf.buffer_info()[0]))
"""


class InlinePath:
    CLIENT_ADDR, SERVER_ADDR = "198.51.100.1", "198.51.100.2"

    def __init__(self, tag):
        self.tag = tag
        self.CLIENT, self.MIDDLE, self.SERVER = f"{tag}c", f"{tag}m", f"{tag}s"
        self.CLIENT_SIDE, self.SERVER_SIDE = f"{tag}mc", f"{tag}ms"  # the middle's two ends

    def run(self, *args, ns=None, check_rc=True, timeout=20):
        cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check_rc and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
        return r

    def probe(self):
        """None when namespaces can be created, otherwise the kernel's reason."""
        r = subprocess.run(["ip", "netns", "add", f"{self.tag}p"], capture_output=True, text=True)
        if r.returncode != 0:
            return r.stderr.strip()
        subprocess.run(["ip", "netns", "del", f"{self.tag}p"], capture_output=True)
        return None

    def set_up(self):
        for ns in (self.CLIENT, self.MIDDLE, self.SERVER):
            self.run("ip", "netns", "add", ns)
            # Nothing of the namespace's own (router solicitations, MLD) on the measured path.
            self.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", ns=ns)
            self.run("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", ns=ns)
            self.run("ip", "-n", ns, "link", "set", "lo", "up")
        self.run("ip", "link", "add", "c0", "netns", self.CLIENT, "type", "veth", "peer", "name",
                 self.CLIENT_SIDE, "netns", self.MIDDLE)
        self.run("ip", "link", "add", "s0", "netns", self.SERVER, "type", "veth", "peer", "name",
                 self.SERVER_SIDE, "netns", self.MIDDLE)
        for ns, devs in ((self.CLIENT, ["c0"]), (self.SERVER, ["s0"]),
                         (self.MIDDLE, [self.CLIENT_SIDE, self.SERVER_SIDE])):
            self.run(sys.executable, "-c", ETHTOOL_OFFLOADS_OFF, *devs, ns=ns)
        self.run("ip", "-n", self.CLIENT, "addr", "add", self.CLIENT_ADDR + "/24", "dev", "c0")
        self.run("ip", "-n", self.SERVER, "addr", "add", self.SERVER_ADDR + "/24", "dev", "s0")
        for ns, dev in ((self.CLIENT, "c0"), (self.SERVER, "s0"),
                        (self.MIDDLE, self.CLIENT_SIDE), (self.MIDDLE, self.SERVER_SIDE)):
            self.run("ip", "-n", ns, "link", "set", dev, "up")

    def bridge(self):
        """The baseline: the middle's two ends joined by a Linux bridge instead of rstscope."""
        self.run("ip", "-n", self.MIDDLE, "link", "add", "br0", "type", "bridge")
        for dev in (self.CLIENT_SIDE, self.SERVER_SIDE):
            self.run("ip", "-n", self.MIDDLE, "link", "set", dev, "master", "br0")
        self.run("ip", "-n", self.MIDDLE, "link", "set", "br0", "up")

    def tear_down(self, procs=()):
        """Stops `procs` (SIGTERM, newest first, killed after 20 s), then removes the namespaces."""
        for proc in reversed(procs):
            stop(proc)
        for ns in (self.CLIENT, self.MIDDLE, self.SERVER):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)

    def start_rstscope(self, rstscope, options, workers=1):
        """rstscope in the middle: port 0 the client's side, port 1 the server's."""
        lcores = ",".join(f"{i}@{i % os.cpu_count()}" for i in range(workers + 1))
        eal = ["--lcores", lcores, "--no-huge", "--no-pci", "--no-shconf", "-m", "512",
               "--log-level", "*:error", "--no-telemetry",
               "--vdev", f"net_af_packet0,iface={self.CLIENT_SIDE},qpairs={workers}",
               "--vdev", f"net_af_packet1,iface={self.SERVER_SIDE},qpairs={workers}", "--"]
        return subprocess.Popen(["ip", "netns", "exec", self.MIDDLE, rstscope, *eal, "--mode",
                                 "inline", "--workers", str(workers), "--flow-table-size",
                                 "65536", "--linger-capacity", "4096", "--config", os.devnull,
                                 *options],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait_ready(self, rstscopectl, sock, proc, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            r = subprocess.run([rstscopectl, "--socket", sock, "--timeout", "2", "--json", "ping"],
                               capture_output=True, text=True, timeout=10)
            if r.returncode == 0 and json.loads(r.stdout).get("ready", True):
                return True
            time.sleep(0.3)
        return False

    def in_server(self, cmd):
        return subprocess.Popen(["ip", "netns", "exec", self.SERVER, *cmd],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_port(self, port, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.run("ss", "-Hltn", f"sport = :{port}", ns=self.SERVER, check_rc=False)
            if r.stdout.strip():
                return
            time.sleep(0.1)
        raise RuntimeError(f"nothing listens on port {port}")

    def interface_counts(self):
        def read(dev, what):
            r = self.run("cat", f"/sys/class/net/{dev}/statistics/{what}", ns=self.MIDDLE)
            return int(r.stdout)
        return {"client_side_rx": read(self.CLIENT_SIDE, "rx_packets"),
                "client_side_tx": read(self.CLIENT_SIDE, "tx_packets"),
                "server_side_rx": read(self.SERVER_SIDE, "rx_packets"),
                "server_side_tx": read(self.SERVER_SIDE, "tx_packets")}
