#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Every default signature fires on a generated connection and the verdict uses it; benign traffic
with the same words deep in a large body, and a reply split right inside its pattern, change
nothing.

usage: run_signatures.py RSTSCOPE_BINARY GEN_SCENARIOS SIGNATURES_CONF WORKDIR

Builds one capture (with tools/gen_scenarios.py's connection builder) holding, for each rule of
SIGNATURES_CONF, a connection whose server says that rule's words and then resets (rules on the RST
payload: a load balancer's RST carrying the reason), runs
    RSTSCOPE_BINARY --pcap X --signatures SIGNATURES_CONF --config /dev/null --control none
and checks each event: the rule's id in `signatures`, the rule's cause as `cause`, `server_error`
or `rst_reason` in `evidence`. A rule without a connection here fails the test. Exit 0 when all
pass, 1 otherwise, 77 (skip) when scapy is missing.
"""
import importlib.util
import os
import subprocess
import sys

from event_log import load_schema, read_events, schema_problems

# What each default rule's server (or load balancer) says; port, client request, server bytes.
HTTP_GET = b"GET /index.html HTTP/1.1\r\nHost: shop.example\r\n\r\n"
REPLIES = {
    "http_503": (80, HTTP_GET, [b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"]),
    "http_429": (80, HTTP_GET, [b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n"]),
    "http_retry_after": (80, HTTP_GET,
                         [b"HTTP/1.1 302 Found\r\nLocation: /queue\r\nRetry-After: 30\r\n\r\n"]),
    "reply_421": (25, b"", [b"421 4.7.0 mx.example.net Too many connections, try later\r\n"]),
    "tls_fatal_alert": (443, b"\x16\x03\x01\x00\x04\x01\x00\x00\x00", [b"\x15\x03\x03\x00\x02\x02\x28"]),
    "mysql_too_many": (3306, b"", [b"\x17\x00\x00\x00\xff\x10\x04Too many connections"]),
    "postgres_too_many": (5432, b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
                          [b"E\x00\x00\x00\x4bSFATAL\x00C53300\x00Msorry, too many clients already\x00\x00"]),
    "redis_max_clients": (6379, b"", [b"-ERR max number of clients reached\r\n"]),
    "mongodb_conn_limit": (27017, b"\x3a\x00\x00\x00", [
        b"\x5a\x00\x00\x00errmsg\x00connection refused because too many open connections: 819\x00"]),
    "ldap_busy": (389, b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00",
                  [b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x33\x04\x00\x04\x00"]),
}
RST_REASONS = {
    "lb_remote_rst": b"BIG-IP: [0x2409a71:704] {peer} TCP RST from remote system",
    "lb_idle_timeout": b"BIG-IP: [0x2c1b6d0:2048] Flow expired (sweeper)",
    "lb_no_pool_member": b"BIG-IP: [0x1a3e4f2:1012] No pool member available",
    "lb_port_denied": b"Port denied",
    "lb_policy": b"Policy action",
    "lb_handshake_timeout": b"Handshake timeout",
}
# Also an FTP 421, which shares reply_421 with SMTP.
EXTRA = {"ftp_421": ("reply_421", 21, b"", [b"421 Too many users - please try again later.\r\n"])}


def client_hello(name):
    """A TLS 1.3 ClientHello record carrying server_name `name` after a GREASE extension and a
    1216-byte key share (as current browsers send: over one segment)."""
    def ext(kind, body):
        return kind.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body
    sni = b"\x00" + len(name).to_bytes(2, "big") + name
    exts = (ext(0x1A1A, b"") + ext(0x0033, b"\x42" * 1216) +
            ext(0, len(sni).to_bytes(2, "big") + sni) + ext(0x0010, b"\x00\x03\x02h2"))
    body = (b"\x03\x03" + bytes(32) + b"\x20" + bytes(range(32)) + b"\x00\x04\x3a\x3a\x13\x01" +
            b"\x01\x00" + len(exts).to_bytes(2, "big") + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def load_generator(path):
    spec = importlib.util.spec_from_file_location("gen_scenarios", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def default_rules(conf):
    """(id, cause) of each rule, from the file the binary reads."""
    rules = []
    with open(conf, encoding="ascii") as f:
        for line in f:
            words = line.split()
            if words and not words[0].startswith("#"):
                rules.append((words[0], words[3]))
    return rules


def build(gen, path):
    """The capture, and what each connection's event must show: port -> (rule id or None, cause,
    evidence) where None means no signature at all."""
    cap = gen.Capture()
    expect = {}
    apps = {}  # client port -> the event's app object
    n = 0

    def conversation(port, request, replies, rst_payload=b"", rst_ttl=None):
        nonlocal n
        n += 1
        cport = 41000 + n
        c = gen.Conn(cap, gen.client(10, cport), gen.server(20 + n, port))
        t = c.handshake(n * 1.0)
        if isinstance(request, list):  # several segments
            for i, data in enumerate(request):
                c.send(t + 0.001 + 0.0001 * i, True, "PA", data)
        elif request:
            c.send(t + 0.001, True, "PA", request)
        for i, data in enumerate(replies):
            c.send(t + 0.010 + 0.001 * i, False, "PA", data)
        c.send(t + 0.050, False, "RA", rst_payload, ttl=rst_ttl)
        return cport

    for rule, (port, request, replies) in REPLIES.items():
        cport = conversation(port, request, replies)
        expect[cport] = (rule, "server_error")
        if rule == "http_503":
            apps[cport] = {"proto": "http", "method": "GET", "host": "shop.example", "status": 503}
        elif rule == "reply_421":  # the greeting is longer than the 48 bytes kept
            apps[cport] = {"proto": "smtp", "banner": replies[0][:48].decode(), "truncated": True}
    for rule, reason in RST_REASONS.items():
        # A load balancer's own RST: its TTL is not the server's.
        expect[conversation(80, HTTP_GET, [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
                            reason, rst_ttl=255)] = (rule, "rst_reason")
    for _, (rule, port, request, replies) in EXTRA.items():
        cport = conversation(port, request, replies)
        expect[cport] = (rule, "server_error")
        apps[cport] = {"proto": "ftp", "banner": replies[0].decode().strip()}
    # Application identity without a signature: a ClientHello split over two segments, greetings.
    hello = client_hello(b"pay.example.org")
    cport = conversation(443, [hello[:700], hello[700:]],
                         [b"\x16\x03\x03\x00\x04\x02\x00\x00\x00"])
    expect[cport] = (None, "resp_abort")
    apps[cport] = {"proto": "tls", "sni": "pay.example.org"}
    for port, greeting, proto in [(22, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", "ssh"),
                                  (110, b"+OK Dovecot (Debian) ready.\r\n", "pop3"),
                                  (143, b"* OK [CAPABILITY IMAP4rev1] ready\r\n", "imap")]:
        cport = conversation(port, b"", [greeting])
        expect[cport] = (None, "resp_abort")
        apps[cport] = {"proto": proto, "banner": greeting.decode().strip()}
    # Benign: the same words deep in a large body (beyond every rule's BYTES) change nothing.
    body = b"x" * 5000 + b"HTTP/1.1 503 Service Unavailable\r\nToo many connections\r\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    data = head + body
    segments = [data[i:i + 1400] for i in range(0, len(data), 1400)]
    expect[conversation(80, HTTP_GET, segments)] = (None, "resp_abort")
    # Block mode: a reply split right inside its pattern is not matched (signature_scanner.h).
    expect[conversation(80, HTTP_GET, [b"HTTP/1.1 50", b"3 Service Unavailable\r\n\r\n"])] = (
        None, "resp_abort")
    cap.write(path)
    return expect, apps


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    binary, gen_path, conf, workdir = sys.argv[1:]
    try:
        gen = load_generator(gen_path)
    except ImportError as e:
        print(f"SKIP: scapy missing ({e})")
        return 77
    os.makedirs(workdir, exist_ok=True)
    pcap = os.path.join(workdir, "signatures.pcap")
    log = os.path.join(workdir, "signatures.jsonl")
    expect, apps = build(gen, pcap)
    if os.path.exists(log):
        os.remove(log)
    summary = os.path.join(workdir, "summary.json")
    proc = subprocess.run([binary, "--pcap", pcap, "--log", log, "--signatures", conf,
                           "--summary-json", summary,
                           "--config", "/dev/null", "--control", "none", "--quiet"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        print(f"FAIL: exit code {proc.returncode}: {proc.stderr.strip()[-500:]}")
        return 1
    # A bad pattern stops the start with one line naming file, line and Hyperscan's message.
    bad = os.path.join(workdir, "bad.conf")
    with open(bad, "w", encoding="ascii") as f:
        f.write("# bad\nbroken resp 64 overload - /a(b/ unbalanced\n")
    proc = subprocess.run([binary, "--pcap", pcap, "--log", os.devnull, "--signatures", bad,
                           "--config", "/dev/null", "--control", "none", "--quiet"],
                          capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    if proc.returncode == 0 or len(lines) != 1 or f"{bad}:2: pattern of broken: " not in lines[0]:
        print(f"FAIL: bad pattern: exit {proc.returncode}, stderr {proc.stderr.strip()!r}")
        return 1
    schema = load_schema(binary)
    failures = []
    events = {ev["orig_p"]: ev for ev in read_events(log, failures)}
    causes = dict(default_rules(conf))
    fired = set()
    for port, (rule, evidence) in sorted(expect.items()):
        ev = events.get(port)
        if ev is None:
            failures.append(f"port {port}: no event")
            continue
        failures += [f"port {port}: {p}" for p in schema_problems(ev, schema)]
        ids = [s["id"] for s in ev.get("signatures", [])]
        if rule is None:
            if ids or ev["cause"] != evidence:
                failures.append(f"port {port}: benign, got cause {ev['cause']} signatures {ids}")
            continue
        want_cause = causes.get(rule)
        ok = rule in ids and ev["cause"] == want_cause and evidence in ev["evidence"]
        print(f"{'ok  ' if ok else 'FAIL'} {rule}: cause {ev['cause']} (want {want_cause}), "
              f"signatures {ids}, evidence {ev['evidence']}")
        if ok:
            fired.add(rule)
        else:
            failures.append(f"{rule} did not fire or was not used")
    for rule, _ in default_rules(conf):
        if rule not in fired:
            failures.append(f"default rule {rule} has no connection here that fires it")
    # app: what the parsers found, exactly.
    for port, want in sorted(apps.items()):
        got = events.get(port, {}).get("app")
        print(f"{'ok  ' if got == want else 'FAIL'} app of port {port}: {got}")
        if got != want:
            failures.append(f"port {port}: app {got}, want {want}")
    # stats: matches per signature, each rule's connections counted (reply_421 twice: SMTP, FTP).
    import json
    with open(summary, encoding="utf-8") as f:
        matches = json.load(f).get("signatures", {})
    for rule, _ in default_rules(conf):
        want = 2 if rule == "reply_421" else 1
        if matches.get(rule) != want:
            failures.append(f"stats signatures.{rule} = {matches.get(rule)}, want {want}")
    for f in failures:
        print("  " + f)
    print(f"{len(fired)} rules fired and used, {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
