#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Live and control-socket checks of the real binary.

usage: run_live.py RSTSCOPE RSTSCOPECTL WORKDIR SCENARIO_PCAP

1. Live capture on the loopback interface, then on a veth pair to a network namespace: rstscope --iface lo sees a refused connection and an
   application abort (SO_LINGER 0) made here, logs both with the right verdict, answers `stats`,
   `ping` and garbage on its control socket, counts what its socket's ring dropped while it was
   stopped (SIGSTOP), and stops cleanly on SIGTERM (exit 0, socket removed).
2. Inline mode: every packet of a capture is forwarded (written to --pcap-out), none lost.
3. Two workers (software redistribution on a one-queue vdev) write exactly the events of one.
Prints one line per check and `N passed, N failed, N skipped`. Exit 1 on any failure; otherwise
77 (meson's SKIP) when a part could not run here (not root, no network namespaces), 0 when every
part ran and passed. Every wait is bounded.
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import closed_port, refuse, steady_stats  # noqa: E402
from processes import stop  # noqa: E402

results = []
skipped = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")


def skip(part, why):
    """A part that cannot run on this machine: not a pass, so the whole test reports SKIP."""
    skipped.append(part)
    print(f"SKIP {part}: {why}")


def ctl(rstscopectl, sock, *args):
    p = subprocess.run([rstscopectl, "--socket", sock, "--timeout", "5", *args],
                       capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def raw_request(sock, payload):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock)
    s.sendall(payload)
    data = b""
    try:
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return data.decode("utf-8", "replace").strip()


ABORT_SERVER = """
import socket, struct, sys
server = socket.socket()
server.bind((sys.argv[1], 0))
server.listen(1)
print(server.getsockname()[1], flush=True)
server.settimeout(10)
conn, _ = server.accept()
conn.settimeout(5)
conn.recv(100)
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conn.close()
"""


def live(rstscope, rstscopectl, workdir, iface="lo", target="127.0.0.1", label="live",
         server_prefix=(), ring_frames=None):
    server_prefix = list(server_prefix)
    sock = os.path.join(workdir, f"{label}.sock")
    log = os.path.join(workdir, f"{label}.jsonl")
    for path in (sock, log):
        if os.path.exists(path):
            os.unlink(path)
    ring = ["--iface-ring-frames", str(ring_frames)] if ring_frames else []
    proc = subprocess.Popen([rstscope, "--iface", iface, "--control", sock, "--log", log,
                             "--linger", "0.3", "--config", os.devnull, *ring],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not os.path.exists(sock) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        if not os.path.exists(sock):
            proc.kill()
            out, err = proc.communicate(timeout=10)
            check(f"{label}: control socket appears", False, err.strip()[-300:])
            return
        rc, out, _ = ctl(rstscopectl, sock, "--json", "ping")
        check("control: ping", rc == 0 and json.loads(out).get("pong") is True and
              isinstance(json.loads(out).get("ready"), bool), out)
        # How a script waits for packets to flow (docs/control.md): ping until "ready" is true.
        ready_by = time.time() + 20
        while time.time() < ready_by and json.loads(out).get("ready") is not True:
            time.sleep(0.05)
            rc, out, _ = ctl(rstscopectl, sock, "--json", "ping")
        check("control: ping says ready once the reader polls", rc == 0 and
              json.loads(out) == {"ok": True, "pong": True, "ready": True}, out)
        time.sleep(1.0)  # the capture is open before the socket, but let the vdev settle

        refused_port = closed_port()  # free here; nothing listens on it at the target either
        refuse(refused_port, target)

        # The aborting server runs where `target` lives (a namespace for the veth case).
        server = subprocess.Popen(server_prefix + [sys.executable, "-c", ABORT_SERVER, target],
                                  stdout=subprocess.PIPE, text=True)
        server_port = int(server.stdout.readline())
        client = socket.socket()
        client.settimeout(5)
        client.connect((target, server_port))
        client.sendall(b"GET / HTTP/1.0\r\n\r\n")
        server.wait(timeout=10)  # it reads the request, then closes with SO_LINGER 0: a RST
        time.sleep(0.2)
        client.close()

        events = []
        deadline = time.time() + 15
        while time.time() < deadline:
            if os.path.exists(log):
                with open(log) as f:
                    events = [json.loads(l) for l in f if l.strip()]
            ports = {e["resp_p"] for e in events}
            if refused_port in ports and server_port in ports:
                break
            time.sleep(0.2)
        by_port = {e["resp_p"]: e for e in events}
        e = by_port.get(refused_port)
        check(f"{label}: refused connection", e is not None and e["cause"] == "refused" and
              e["conn_state"] == "REJ" and e["rst_count"] == 1, json.dumps(e))
        e = by_port.get(server_port)
        check(f"{label}: server abort", e is not None and e["cause"] == "resp_abort" and
              e["conn_state"] == "RSTR" and e["rst_by"] == "resp" and e["seq_check"] == "exact",
              json.dumps(e))

        rc, out, _ = ctl(rstscopectl, sock, "--json", "stats")
        stats = json.loads(out) if rc == 0 else {}
        check("control: stats counts the resets", stats.get("rst_packets", 0) >= 2 and
              stats.get("reset_connections", 0) >= 2 and "drops" in stats, out[:200])
        rc, out, _ = ctl(rstscopectl, sock, "stats")
        check("control: rstscopectl prints stats for people", rc == 0 and
              any(l.split()[:1] == ["rst_packets"] for l in out.splitlines()), out[:200])
        answer = raw_request(sock, b"\x00\xff\xfe garbage \x01\n")
        check("control: garbage gets a JSON error", json.loads(answer).get("error", "").startswith("unknown command"), answer)
        answer = raw_request(sock, b"x" * 5000)
        check("control: overlong request refused", json.loads(answer).get("error") == "request too long", answer)
        rc, out, _ = ctl(rstscopectl, sock, "--json", "no-such-command")
        check("control: rstscopectl fails on an error answer", rc == 1 and "error" in out, out)
        stall(proc, rstscopectl, sock, iface, target, label, ring_frames)
    finally:
        out, err, ended = stop(proc)
        if not ended:
            check(f"{label}: stops on SIGTERM within 20 s", False)
            return
    check(f"{label}: exit 0 after SIGTERM", proc.returncode == 0, err.strip()[-300:])
    check(f"{label}: summary printed", "rstscope summary" in err)
    check(f"{label}: control socket removed", not os.path.exists(sock))


def interface_packets(iface):
    """What rstscope should see of the interface: on the loopback each packet once (the arriving
    copy), elsewhere both directions."""
    def read(what):
        with open(f"/sys/class/net/{iface}/statistics/{what}") as f:
            return int(f.read())
    return read("rx_packets") if iface == "lo" else read("rx_packets") + read("tx_packets")


def seen_and_missed(rstscopectl, sock, iface):
    """rstscope's packets and rx_missed, and the interface's count, read when steady."""
    stats, wire = steady_stats(rstscopectl, sock, lambda: interface_packets(iface),
                               ("packets", "rx_missed"), timeout=15, pause=0.3)
    return stats.get("packets", -1), stats.get("rx_missed", -1), wire


# Sends `count` UDP datagrams to `target`, pausing every 100 so that no queue of the kernel's
# between the socket and the interface drops one.
STALL_SENDER = r"""
import socket, sys, time
target, count = sys.argv[1], int(sys.argv[2])
receiver = None
if target.startswith("127."):  # a receiver, so no port-unreachable reply crosses the loopback
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    receiver.bind((target, 0))
port = receiver.getsockname()[1] if receiver else 9
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(count):
    s.sendto(bytes(1000), (target, port))
    if i % 100 == 99:
        time.sleep(0.001)
print("sent", count, flush=True)
"""


def stall(proc, rstscopectl, sock, iface, target, label, ring_frames):
    """rstscope stopped (SIGSTOP) while more packets cross the interface than its socket's ring
    holds: what the kernel dropped there is counted in rx_missed (docs/reliability.md), so the
    packets seen and missed are the interface's count. With `ring_frames` (net_af_packet's
    --iface-ring-frames) the ring kept exactly that many."""
    seen0, missed0, wire0 = seen_and_missed(rstscopectl, sock, iface)
    count = 30000 if ring_frames is None else 3 * ring_frames  # libpcap's ring holds ~1 700
    proc.send_signal(signal.SIGSTOP)
    try:
        r = subprocess.run([sys.executable, "-c", STALL_SENDER, target, str(count)],
                           capture_output=True, text=True, timeout=60)
    finally:
        proc.send_signal(signal.SIGCONT)
    seen1, missed1, wire1 = seen_and_missed(rstscopectl, sock, iface)
    detail = (f"seen {seen1 - seen0}, missed {missed1 - missed0}, on the interface "
              f"{wire1 - wire0}; sender: {r.stdout.strip()} {r.stderr.strip()[-200:]}")
    check(f"{label}: a stall's drops at the socket are counted in rx_missed",
          r.stdout.strip() == f"sent {count}" and missed1 - missed0 > 0, detail)
    check(f"{label}: packets seen + missed = packets on the interface",
          (seen1 + missed1) - (seen0 + missed0) == wire1 - wire0, detail)
    if ring_frames is not None:
        check(f"{label}: the socket's ring held --iface-ring-frames {ring_frames} frames",
              seen1 - seen0 == ring_frames, detail)


NAMESPACE = "rstscope-test-peer"
HOST_IF, PEER_IF = "rstscope-h0", "rstscope-p0"
HOST_ADDR, PEER_ADDR = "198.51.100.1", "198.51.100.2"


def veth(rstscope, rstscopectl, workdir):
    """A real second host: a network namespace behind a veth pair, captured with net_af_packet on
    the host's end. Everything created here is removed, whatever happens."""
    if not shutil.which("ip"):
        skip("veth", "the ip command (iproute2) is not installed; the same path is covered on lo")
        return

    def ip(*args):
        return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)

    ip("netns", "del", NAMESPACE)  # left over from an interrupted run
    ip("link", "del", HOST_IF)
    try:
        steps = [("netns", "add", NAMESPACE),
                 ("link", "add", HOST_IF, "type", "veth", "peer", "name", PEER_IF),
                 ("link", "set", PEER_IF, "netns", NAMESPACE),
                 ("addr", "add", HOST_ADDR + "/24", "dev", HOST_IF),
                 ("link", "set", HOST_IF, "up"),
                 ("-n", NAMESPACE, "addr", "add", PEER_ADDR + "/24", "dev", PEER_IF),
                 ("-n", NAMESPACE, "link", "set", PEER_IF, "up"),
                 ("-n", NAMESPACE, "link", "set", "lo", "up")]
        for step in steps:
            r = ip(*step)
            if r.returncode != 0:
                skip("veth", f"cannot set up a network namespace here (ip {' '.join(step)}: "
                             f"{r.stderr.strip()}); the same path is covered on lo")
                return
        live(rstscope, rstscopectl, workdir, iface=HOST_IF, target=PEER_ADDR, label="veth",
             server_prefix=["ip", "netns", "exec", NAMESPACE], ring_frames=1024)
    finally:
        ip("link", "del", HOST_IF)
        ip("netns", "del", NAMESPACE)


def inline(rstscope, workdir, pcap):
    out_pcap = os.path.join(workdir, "forwarded.pcap")
    p = subprocess.run([rstscope, "--pcap", pcap, "--mode", "inline", "--pcap-out", out_pcap,
                        "--log", os.path.join(workdir, "inline.jsonl"), "--control", "none",
                        "--quiet", "--config", os.devnull], capture_output=True, text=True, timeout=60)

    def count(path):
        with open(path, "rb") as f:
            data = f.read()
        n, off = 0, 24
        while off + 16 <= len(data):
            caplen = struct.unpack_from("<I", data, off + 8)[0]
            off += 16 + caplen
            n += 1
        return n

    ok = p.returncode == 0 and os.path.exists(out_pcap) and count(out_pcap) == count(pcap)
    check("inline: every packet forwarded", ok,
          f"rc={p.returncode} in={count(pcap)} out={count(out_pcap) if os.path.exists(out_pcap) else None} {p.stderr.strip()[-200:]}")


def two_workers(rstscope, workdir, pcap):
    """Two workers on a single-queue vdev redistribute by the symmetric flow hash: the verdicts,
    storms included, must be exactly those of one worker (events are written in time order)."""
    logs = []
    for workers in (1, 2):
        log = os.path.join(workdir, f"workers{workers}.jsonl")
        if os.path.exists(log):
            os.unlink(log)
        p = subprocess.run([rstscope, "--pcap", pcap, "--workers", str(workers), "--log", log,
                            "--control", "none", "--quiet", "--config", os.devnull],
                           capture_output=True, text=True, timeout=120)
        with open(log) if os.path.exists(log) else open(os.devnull) as f:
            logs.append((p.returncode, f.read()))
    same = logs[0][0] == 0 and logs[1][0] == 0 and logs[0][1] == logs[1][1] and logs[0][1]
    check("workers: 2 workers write exactly the events of 1", bool(same),
          f"rc={logs[0][0]},{logs[1][0]} lines={logs[0][1].count(chr(10))},{logs[1][1].count(chr(10))}")


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    rstscope, rstscopectl, workdir, pcap = sys.argv[1:]
    os.makedirs(workdir, exist_ok=True)
    if os.geteuid() != 0:
        skip("live", "live capture needs root (packet socket on lo); so do the namespaces")
    else:
        live(rstscope, rstscopectl, workdir)
        veth(rstscope, rstscopectl, workdir)
    inline(rstscope, workdir, pcap)
    two_workers(rstscope, workdir, pcap)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed, {len(skipped)} skipped")
    if failed:
        return 1
    return 77 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
