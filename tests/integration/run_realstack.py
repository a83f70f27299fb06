#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Verdicts on resets made by real Linux stacks, a Linux router and a forger (issue 10).

usage: run_realstack.py RSTSCOPE WORKDIR

Three network namespaces, client -- router -- server, joined by veth pairs:

    client 198.51.100.2 ── 198.51.100.1 router 203.0.113.1 ── 203.0.113.2 server
                          (the tap: tcpdump and rstscope --iface both watch this interface)

The router's client-facing interface is the mirror: tcpdump writes it to a pcap while rstscope
captures it live (net_af_packet). From there the server's packets have crossed one hop (TTL 63),
the router's own resets none (TTL 64). Each case is asserted field by field on the capture's events,
and the live run must give the same verdicts. Every namespace carries this run's process id in its
name and is removed whatever happens. Exit 77 (skip) only when namespaces cannot be created.
"""
import json
import os
import shutil
import subprocess
import sys
import time

from processes import stop

results = []
# Processes whose exit would reset connections the test does not judge (the never-accepting
# listener's queue): stopped after the capture ends.
stop_after_capture = []
TAG = f"rs{os.getpid() % 100000}"
CLIENT, ROUTER, SERVER = f"{TAG}c", f"{TAG}r", f"{TAG}s"
TAP = f"{TAG}rc"  # the router's end of the client link: the mirror
CLIENT_ADDR, ROUTER_CLIENT_ADDR = "198.51.100.2", "198.51.100.1"
SERVER_ADDR, ROUTER_SERVER_ADDR = "203.0.113.2", "203.0.113.1"

# The port of each case: events are matched by resp_p.
PORT = {"download": 8080, "refused": 8081, "fw_refused": 8082, "fw_midstream": 8083,
        "conntrack": 8084, "overflow": 8085, "app_idle": 8086, "ttl255_close": 8087,
        "forged": 8088, "quiet_overflow": 8089}


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}",
          flush=True)


def run(*args, ns=None, check_rc=True, timeout=20):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


def in_ns(ns, code, *args):
    """Starts a Python helper in a namespace; it prints one line when ready."""
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def set_up():
    for ns in (CLIENT, ROUTER, SERVER):
        run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
    run("ip", "link", "add", "c0", "netns", CLIENT, "type", "veth", "peer", "name", TAP,
        "netns", ROUTER)
    run("ip", "link", "add", "s0", "netns", SERVER, "type", "veth", "peer", "name", "rs0",
        "netns", ROUTER)
    for ns, dev, addr in ((CLIENT, "c0", CLIENT_ADDR), (ROUTER, TAP, ROUTER_CLIENT_ADDR),
                          (ROUTER, "rs0", ROUTER_SERVER_ADDR), (SERVER, "s0", SERVER_ADDR)):
        run("ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev)
        run("ip", "-n", ns, "link", "set", dev, "up")
    run("ip", "-n", CLIENT, "route", "add", "default", "via", ROUTER_CLIENT_ADDR)
    run("ip", "-n", SERVER, "route", "add", "default", "via", ROUTER_SERVER_ADDR)
    run("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=ROUTER)
    # Conntrack forgets an established flow after 2 s and does not pick up a flow midstream, so
    # the first packet after a silence is INVALID, and the router answers it with a reset.
    ruleset = f"""
table inet rstscope_test {{
  chain forward {{
    type filter hook forward priority 0; policy accept;
    tcp dport {PORT['fw_refused']} tcp flags syn reject with tcp reset
    tcp dport {PORT['fw_midstream']} @th,256,32 0x504f4c49 reject with tcp reset
    tcp dport {PORT['conntrack']} ct state invalid reject with tcp reset
  }}
}}
"""
    r = subprocess.run(["ip", "netns", "exec", ROUTER, "nft", "-f", "-"], input=ruleset,
                       capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError(f"nft: {r.stderr.strip()}")
    run("sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_established=2", ns=ROUTER)
    run("sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0", ns=ROUTER)
    run("sysctl", "-qw", "net.ipv4.tcp_abort_on_overflow=1", ns=SERVER)


def tear_down():
    for ns in (CLIENT, ROUTER, SERVER):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


# One server process serves every case, each on its own port (the behaviour is the port's).
SERVER_CODE = r"""
import os, socket, struct, sys, threading, time
ports = dict(arg.split("=") for arg in sys.argv[1:])
def listener(name, backlog=16, ttl=None):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if ttl: s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    s.bind(("0.0.0.0", int(ports[name])))
    s.listen(backlog)
    return s
def serve(s, handle):
    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=handle, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
def download(c):
    c.recv(1000); c.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 200000); c.close()
def echo_forever(c):
    while c.recv(1000): c.sendall(b"ok\n")
def app_idle(c):
    c.recv(1000); c.sendall(b"hello\n")
    time.sleep(2.5)  # the application's idle timer: then an abort
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
def close_after_reply(c):
    c.recv(1000); c.sendall(b"bye\n"); c.close()
def talk(c):
    # Three ticks, a pause in which the forger strikes (its sequence number is then exact however
    # slowly it runs), then ticks again, right after the forger says it sent: data after the
    # forged RST within the linger window. The pause stays shorter than --idle-threshold.
    c.recv(1000)
    try:
        for i in range(40):
            c.sendall(b"tick " * 20); time.sleep(0.05)
            if i == 2:
                pause_end = time.monotonic() + 1.8
                while time.monotonic() < pause_end and not os.path.exists(ports["forged_flag"]):
                    time.sleep(0.02)
    except OSError: pass
serve(listener("download"), download)
serve(listener("fw_midstream"), echo_forever)
serve(listener("conntrack"), echo_forever)
overflow = listener("overflow", backlog=4)  # never accepted: the queue fills
serve(listener("app_idle"), app_idle)
serve(listener("ttl255_close", ttl=255), close_after_reply)
serve(listener("forged"), talk)
print("ready", flush=True)
time.sleep(120)
"""

CLIENT_CODE = r"""
import json, socket, subprocess, sys, time
server, case, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def conn(timeout=5):
    c = socket.socket(); c.settimeout(timeout); c.connect((server, port)); return c
out = {}
try:
    if case == "download":
        c = conn(); c.sendall(b"GET / HTTP/1.0\r\n\r\n"); n = 0
        while True:
            d = c.recv(65536)
            if not d: break
            n += len(d)
        out["bytes"] = n
    elif case in ("refused", "fw_refused"):
        try: conn(); out["error"] = "connected"
        except ConnectionRefusedError: out["error"] = "refused"
    elif case == "fw_midstream":
        c = conn(); c.sendall(b"hi\n"); c.recv(100); c.sendall(b"POLICY violation\n")
        try: c.recv(100); out["error"] = "none"
        except ConnectionResetError: out["error"] = "reset"
    elif case == "conntrack":
        c = conn(); c.sendall(b"hi\n"); c.recv(100); time.sleep(4); c.sendall(b"again\n")
        try: c.recv(100); out["error"] = "none"
        except ConnectionResetError: out["error"] = "reset"
    elif case in ("overflow", "quiet_overflow"):
        # Linux drops a SYN while the accept queue is full, and answers SYNs with cookies (no
        # retransmitted SYN-ACK, no reset) once its SYN queue holds `backlog` requests. So: three
        # connections complete (the queue, never accepted, holds five), then four handshakes stay
        # half done (the client holds its final ACKs back in its own output chain) and complete
        # together on the server's SYN-ACK retransmission: two fit, two overflow.
        socks = [socket.create_connection((server, port), timeout=5) for _ in range(3)]
        hold = ("table inet hold {\n chain out {\n  type filter hook output priority 0;\n"
                "  tcp dport %d tcp flags == ack drop\n }\n}\n" % port)
        subprocess.run(["nft", "-f", "-"], input=hold, text=True, check=True)
        for _ in range(4):
            s = socket.socket(); s.setblocking(False); s.connect_ex((server, port)); socks.append(s)
        time.sleep(0.3)
        subprocess.run(["nft", "delete", "table", "inet", "hold"], check=True)
        if case == "quiet_overflow":
            # Without tcp_abort_on_overflow nothing resets: the listener drops the overflowing
            # ACKs and resends its SYN-ACK (1 s, then 3 s after the SYN), and drops a new SYN
            # once its queue is full (after the first resent SYN-ACKs), which the client resends
            # after 1 s.
            time.sleep(1.5)
            s = socket.socket(); s.setblocking(False); s.connect_ex((server, port)); socks.append(s)
            time.sleep(2.0)
        else:
            time.sleep(2.0)
        resets = 0
        for s in socks:
            try:
                s.send(b"x")
            except (ConnectionResetError, BrokenPipeError): resets += 1
            except OSError: pass
        out["resets"] = resets
    elif case == "app_idle":
        c = conn(); c.sendall(b"hi\n"); c.recv(100)
        try: c.recv(100); out["error"] = "eof"
        except ConnectionResetError: out["error"] = "reset"
    elif case == "ttl255_close":
        c = conn(); c.sendall(b"hi\n"); c.recv(100); time.sleep(0.3)
        c.sendall(b"more data after the server closed\n"); time.sleep(0.3)
        try: c.sendall(b"and more\n"); c.recv(100); out["error"] = "none"
        except (ConnectionResetError, BrokenPipeError): out["error"] = "reset"
    elif case == "forged":
        c = conn(); c.sendall(b"go\n"); n = 0
        while True:
            d = c.recv(1000)
            if not d: break
            n += len(d)
        out["error"] = "eof"
except ConnectionResetError:
    out["error"] = "reset"
except socket.timeout:
    out["error"] = "timeout"
print(json.dumps(out), flush=True)
"""

# Runs in the router namespace: reads the mirror until the server's data on the case's connection
# pauses (0.3 s without a segment), then forges a RST to the client in the server's name: the exact
# next sequence number, a TTL and IP-ID neither endpoint uses. Waiting for the pause, not for a
# fixed packet, keeps the sequence number exact on a loaded machine (a RST behind the client's
# window is only challenged, RFC 5961).
FORGER_CODE = r"""
import select, socket, struct, sys, time
from scapy.all import IP, TCP, send, conf
conf.verb = 0
iface, port = sys.argv[1], int(sys.argv[2])
# ETH_P_ALL: only taps on every protocol see the frames the router sends (the server's data).
mirror = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
mirror.bind((iface, 0))
print("ready", flush=True)
last = None
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    if not select.select([mirror], [], [], 0.3)[0]:
        if last: break
        continue
    frame = mirror.recv(65535)
    ip = frame[14:]
    if frame[12:14] != b"\x08\x00" or len(ip) < 40 or ip[9] != 6: continue
    ihl = (ip[0] & 15) * 4
    tcp = ip[ihl:]
    sport, dport, seq = struct.unpack("!HHI", tcp[:8])
    payload = struct.unpack("!H", ip[2:4])[0] - ihl - (tcp[12] >> 4) * 4
    if sport == port and payload > 0:
        last = (socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]), sport, dport,
                (seq + payload) % 2**32)
if last:
    src, dst, sport, dport, seq = last
    send(IP(src=src, dst=dst, ttl=41, id=12345) / TCP(sport=sport, dport=dport, flags="R",
                                                       seq=seq), iface=iface)
open(sys.argv[3], "w").close()  # the server's cue to go on talking
"""


# The router's own listener, for the listen-queue overflow without tcp_abort_on_overflow (the
# router namespace keeps the default, 0): a backlog of 4, never accepted.
QUIET_LISTENER_CODE = r"""
import socket, sys, time
s = socket.socket()
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4)
print("ready", flush=True)
time.sleep(60)
"""


def client(case, timeout=20):
    server = ROUTER_CLIENT_ADDR if case == "quiet_overflow" else SERVER_ADDR
    r = run(sys.executable, "-c", CLIENT_CODE, server, case, str(PORT[case]), ns=CLIENT,
            timeout=timeout)
    return json.loads(r.stdout.strip().splitlines()[-1])


def scapy_python():
    for python in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(python) and subprocess.run(
                [python, "-c", "import scapy.all"], capture_output=True).returncode == 0:
            return python
    return None


def exercise(forger_python, workdir):
    """Every case, one after the other; returns what each client saw."""
    seen = {}
    forged_flag = os.path.join(workdir, "forged.sent")
    if os.path.exists(forged_flag):
        os.unlink(forged_flag)
    server = in_ns(SERVER, SERVER_CODE, *[f"{k}={v}" for k, v in PORT.items()],
                   f"forged_flag={forged_flag}")
    try:
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("server did not start: " + server.stderr.read()[-300:])
        # The download first: the server's usual TTL and IP-ID are learnt before the others.
        for case in ("download", "refused", "fw_refused", "fw_midstream", "overflow",
                     "app_idle", "ttl255_close"):
            seen[case] = client(case)
        if forger_python:
            forger = subprocess.Popen(["ip", "netns", "exec", ROUTER, forger_python, "-c",
                                       FORGER_CODE, TAP, str(PORT["forged"]), forged_flag],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            forger.stdout.readline()
            time.sleep(1.0)  # scapy's socket is open once it printed; let it settle
            seen["forged"] = client("forged")
            forger.wait(timeout=20)
            if forger.returncode != 0:
                print("forger:", forger.stderr.read()[-600:])
        seen["conntrack"] = client("conntrack")
        quiet = in_ns(ROUTER, QUIET_LISTENER_CODE, ROUTER_CLIENT_ADDR, str(PORT["quiet_overflow"]))
        try:
            if quiet.stdout.readline().strip() != "ready":
                raise RuntimeError("listener did not start: " + quiet.stderr.read()[-300:])
            seen["quiet_overflow"] = client("quiet_overflow")
        finally:
            stop_after_capture.append(quiet)
    finally:
        server.kill()
        server.wait()
    return seen


def events_of(path):
    """Each port's first reset (later ones on a port: the server's exit closing what is left)."""
    first = {}
    with open(path) as f:
        for e in sorted((json.loads(l) for l in f if l.strip()), key=lambda e: e["ts"]):
            first.setdefault(e["resp_p"], e)
    return first


def expect(label, events, case, **fields):
    e = events.get(PORT[case])
    if e is None:
        check(f"{label}: {case}: an event", False, "no event")
        return
    wrong = {}
    for key, want in fields.items():
        got = e.get(key)
        if callable(want):
            if not want(got):
                wrong[key] = got
        elif got != want:
            wrong[key] = got
    check(f"{label}: {case}: " + ", ".join(f"{k}" for k in fields), not wrong,
          f"wrong {wrong} in {json.dumps(e)}")


def has(*names):
    return lambda evidence: evidence is not None and all(n in evidence for n in names)


def lacks(*names):
    return lambda evidence: evidence is not None and not any(n in evidence for n in names)


def assert_verdicts(label, events, forged):
    expect(label, events, "refused", cause="refused", confidence="high", rst_by="resp",
           rst_origin="endpoint", rst_ttl=63)
    expect(label, events, "fw_refused", cause="refused", rst_by="resp", rst_origin="path",
           hops_from_endpoint=1, rst_ttl=64, evidence=has("ttl_on_path"))
    expect(label, events, "fw_midstream", cause="policy_reset", rst_by="resp", rst_origin="path",
           hops_from_endpoint=1, evidence=has("ttl_on_path"))
    expect(label, events, "overflow", cause="overload", confidence="high", rst_by="resp",
           rst_origin="endpoint", history="ShAr", evidence=has("listen_overflow"))
    expect(label, events, "app_idle", cause="idle_timeout", confidence="medium", rst_by="resp",
           rst_origin="endpoint", evidence=lambda ev: has("idle_before", "ttl_match")(ev) and
           lacks("ttl_mismatch")(ev), idle_before=lambda v: v is not None and 2.0 <= v < 4.0)
    expect(label, events, "ttl255_close", cause="after_close", rst_by="resp",
           rst_origin="endpoint", usual_ttl=254, rst_ttl=63,
           evidence=lambda ev: has("socketless_rst", "fin_before")(ev) and
           lacks("ttl_mismatch", "ipid_mismatch")(ev))
    if forged:
        expect(label, events, "forged", cause="injected", confidence="high", rst_by="resp",
               rst_origin="path", evidence=has("data_after_rst", "ttl_mismatch"))
    expect(label, events, "conntrack", cause="idle_timeout", confidence="high", rst_by="resp",
           rst_origin="path", hops_from_endpoint=1, evidence=has("idle_before", "ttl_on_path"),
           idle_before=lambda v: v is not None and v >= 3.0)
    # Nothing the download did is a reset.
    check(f"{label}: download: no event", PORT["download"] not in events)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    rstscope, workdir = sys.argv[1:]
    os.makedirs(workdir, exist_ok=True)
    if os.geteuid() != 0:
        print("SKIP: network namespaces need root")
        return 77
    for tool in ("ip", "nft", "tcpdump"):
        if not shutil.which(tool):
            print(f"FAIL: {tool} is not installed (tools/bootstrap installs it)")
            return 1
    probe = subprocess.run(["ip", "netns", "add", f"{TAG}probe"], capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"SKIP: the kernel forbids network namespaces here: {probe.stderr.strip()}")
        return 77
    subprocess.run(["ip", "netns", "del", f"{TAG}probe"], capture_output=True)

    pcap = os.path.join(workdir, "mirror.pcap")
    live_log = os.path.join(workdir, "live.jsonl")
    capture_log = os.path.join(workdir, "capture.jsonl")
    summary = {label: os.path.join(workdir, f"{label}.summary.json") for label in ("live", "capture")}
    for path in (pcap, live_log, capture_log, *summary.values()):
        if os.path.exists(path):
            os.unlink(path)
    forger_python = scapy_python()
    tcpdump = live = None
    try:
        set_up()
        tcpdump = subprocess.Popen(["ip", "netns", "exec", ROUTER, "tcpdump", "-i", TAP, "-U",
                                    "-s", "256", "-w", pcap, "tcp"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        live = subprocess.Popen(["ip", "netns", "exec", ROUTER, rstscope, "--iface", TAP,
                                 "--log", live_log, "--control", "none", "--linger", "1",
                                 "--idle-threshold", "2", "--quiet", "--config", os.devnull,
                                 "--summary-json", summary["live"]],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(4)  # tcpdump and the live vdev are capturing
        if live.poll() is not None:
            check("live: rstscope runs", False, live.stderr.read()[-400:])
        seen = exercise(forger_python, workdir)
        time.sleep(2)  # the last linger window ends
    finally:
        for proc in (live, tcpdump):
            if proc:
                stop(proc)
        for proc in stop_after_capture:
            proc.kill()
            proc.wait()
        tear_down()

    print("clients saw:", json.dumps(seen))
    check("download completed", seen["download"].get("bytes", 0) >= 200000)
    check("refused connect", seen["refused"].get("error") == "refused")
    check("firewall refused connect", seen["fw_refused"].get("error") == "refused")
    check("firewall reset mid-connection", seen["fw_midstream"].get("error") == "reset")
    check("listen overflow reset some connections", seen["overflow"].get("resets", 0) > 0,
          json.dumps(seen["overflow"]))
    check("application idle abort", seen["app_idle"].get("error") == "reset")
    check("conntrack reset after idle", seen["conntrack"].get("error") == "reset")
    if forger_python:
        check("forged reset reached the client", seen["forged"].get("error") == "reset",
              json.dumps(seen["forged"]))
    else:
        print("SKIP forged: no python with scapy (Debian's python3-scapy)")

    p = subprocess.run([rstscope, "--pcap", pcap, "--log", capture_log, "--control", "none",
                        "--linger", "1", "--idle-threshold", "2", "--quiet", "--config",
                        os.devnull, "--summary-json", summary["capture"]],
                       capture_output=True, text=True, timeout=120)
    check("capture: rstscope exit 0", p.returncode == 0, p.stderr[-300:])
    capture = events_of(capture_log) if os.path.exists(capture_log) else {}
    live_events = events_of(live_log) if os.path.exists(live_log) else {}
    for label, events in (("capture", capture), ("live", live_events)):
        assert_verdicts(label, events, forger_python is not None)
    # The overload that sends no RST is in the counters, not in the log.
    check("quiet overflow: no client saw a reset", seen["quiet_overflow"].get("resets") == 0,
          json.dumps(seen["quiet_overflow"]))
    for label, events in (("capture", capture), ("live", live_events)):
        check(f"{label}: quiet_overflow: no event", PORT["quiet_overflow"] not in events,
              json.dumps(events.get(PORT["quiet_overflow"])))
        counts = {}
        if os.path.exists(summary[label]):
            with open(summary[label]) as f:
                counts = json.load(f)
        check(f"{label}: quiet_overflow: SYN-ACK resent after the handshake's ACK, SYN resent",
              counts.get("synack_after_handshake_ack", 0) >= 1 and
              counts.get("syn_retransmitted", 0) >= 1,
              f"synack_after_handshake_ack {counts.get('synack_after_handshake_ack')}, "
              f"syn_retransmitted {counts.get('syn_retransmitted')}")
    # Each counter from its own case: the quiet overflow's packets alone, then every other case,
    # real handshakes of every kind, which must not count a SYN-ACK after the handshake's ACK.
    for name, pcap_filter, wants_counts in (("quiet_only", f"tcp port {PORT['quiet_overflow']}", True),
                                            ("others", f"not tcp port {PORT['quiet_overflow']}", False)):
        part, part_summary = os.path.join(workdir, f"{name}.pcap"), os.path.join(workdir, f"{name}.json")
        subprocess.run(["tcpdump", "-r", pcap, "-w", part, pcap_filter], capture_output=True,
                       timeout=60, check=True)
        p = subprocess.run([rstscope, "--pcap", part, "--log", os.devnull, "--control", "none",
                            "--quiet", "--config", os.devnull, "--summary-json", part_summary],
                           capture_output=True, text=True, timeout=120)
        counts = {}
        if p.returncode == 0:
            with open(part_summary) as f:
                counts = json.load(f)
        resent = counts.get("synack_after_handshake_ack", -1)
        check(f"capture, {name}: synack_after_handshake_ack {'>= 1' if wants_counts else '0'}",
              p.returncode == 0 and (resent >= 1 if wants_counts else resent == 0),
              f"exit {p.returncode}, counted {resent}")
    verdict_fields = ("cause", "confidence", "rst_by", "rst_origin", "hops_from_endpoint",
                      "conn_state", "history", "evidence")
    for port in sorted(set(capture) | set(live_events)):
        a, b = capture.get(port, {}), live_events.get(port, {})
        same = all(a.get(k) == b.get(k) for k in verdict_fields)
        check(f"live = capture on port {port}", same,
              f"capture {[a.get(k) for k in verdict_fields]} live {[b.get(k) for k in verdict_fields]}")
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
