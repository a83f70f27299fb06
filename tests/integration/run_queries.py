#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The control socket's queries on a running instance, live on the loopback interface.

usage: run_queries.py RSTSCOPE RSTSCOPECTL WORKDIR CONTROL_MD

1. docs/control.md's "Try it on lo" block, run exactly as written (bash, in an empty directory,
   the build's binaries on the PATH): every command succeeds and the refused connection it makes
   is found by `events --cause refused`, counted by `metrics` and `top`; `shutdown` ends with 0.
2. Each command with its filters, in both output forms: events (cause, host prefix, port,
   conn_state, since/until, limit), top (by, window, cause), config, metrics checked by
   `promtool check metrics`, log-reopen after the log was moved (as logrotate does) and SIGHUP
   likewise, wrong arguments (a JSON error, exit 1), JSON requests, a client as user nobody
   (exit 4), no daemon (exit 3), shutdown (exit 0, summary, socket removed).
Prints one line per check and `N passed, N failed, N skipped`. Exit 1 on any failure; 77 when it
cannot run here (not root: live capture needs it); every wait is bounded, every process it starts
is stopped. It runs in a network namespace of its own (unshare --net), so that its loopback
carries nothing but its own connections.
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import closed_port, refuse  # noqa: E402
from processes import stop  # noqa: E402

results = []
skipped = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail[:400] if detail and not ok else ''}")


def skip(name, why):
    skipped.append(name)
    print(f"SKIP {name}: {why}")


def walkthrough(rstscope, rstscopectl, workdir, control_md):
    """The documented commands, exactly: the ```sh block after "## Try it on `lo`"."""
    text = open(control_md).read()
    section = text[text.index("## Try it on `lo`"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    wdir = os.path.join(workdir, "walkthrough")
    shutil.rmtree(wdir, ignore_errors=True)
    os.makedirs(wdir)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join({os.path.dirname(os.path.abspath(rstscope)),
                                   os.path.dirname(os.path.abspath(rstscopectl))}) + os.pathsep + env["PATH"]
    # A failing line must not leave the documented `rstscope &` running.
    guarded = "trap 'rc=$?; kill $(jobs -p) 2>/dev/null || :; exit $rc' EXIT\n" + block
    p = subprocess.Popen(["bash", "-e", "-c", guarded], cwd=wdir, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        check("walkthrough: finishes within 90 s", False, err[-300:])
        return
    check("walkthrough: every documented command succeeds, rstscope exits 0", p.returncode == 0,
          f"rc={p.returncode} {err[-400:]}")
    check("walkthrough: stats printed for people", re.search(r"^rst_packets +[1-9]", out, re.M) is not None, out[:300])
    check("walkthrough: top --by servers lists 127.0.0.1:9", re.search(r"^127\.0\.0\.1:9 +[1-9]", out, re.M) is not None, out)
    check("walkthrough: events --cause refused shows the refusal as a table",
          re.search(r"originator +responder.*\n.*127\.0\.0\.1:9 +resp +REJ +refused +high", out) is not None, out)
    check("walkthrough: --json events is one JSON line with the event",
          any(l.startswith('{"ok":true,"events":[{') and '"resp_p":9,' in l for l in out.splitlines()), out)
    check("walkthrough: flow shows the refused connection's state (REJ, Sr) from its worker",
          re.search(r"^ +[0-9.]+ +REJ +Sr +", out, re.M) is not None, out)
    check("walkthrough: metrics counts the refusals",
          re.search(r'^rstscope_resets_total\{cause="refused"\} [1-9]$', out, re.M) is not None, out[-500:])
    check("walkthrough: shutdown answered", re.search(r"^stopping +true", out, re.M) is not None, out[-300:])
    check("walkthrough: summary printed", "rstscope summary" in err, err[-300:])


class Daemon:
    def __init__(self, rstscope, rstscopectl, workdir):
        self.ctl_path = rstscopectl
        self.sock = os.path.join(workdir, "queries.sock")
        self.log = os.path.join(workdir, "queries.jsonl")
        for f in os.listdir(workdir):
            if f.startswith("queries."):
                os.unlink(os.path.join(workdir, f))
        self.metrics_port = closed_port()
        # A report-only signature (cause -: the verdicts stay as they are) on the client's
        # "hello" of abort_connection, for the matches stats, metrics and rstscopectl show.
        signatures = os.path.join(workdir, "queries.signatures.conf")
        with open(signatures, "w", encoding="ascii") as f:
            f.write("client_hello orig 64 - - /^hello/ the abort test's client greeting\n")
        self.proc = subprocess.Popen(
            [rstscope, "--iface", "lo", "--control", self.sock, "--log", self.log, "--linger", "0.3",
             "--recent-events", "100", "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
             "--signatures", signatures, "--config", os.devnull],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()  # whatever failed (a missing rstscopectl), rstscope must not outlive us
            raise

    def wait_ready(self):
        deadline = time.time() + 30
        while not os.path.exists(self.sock) and time.time() < deadline and self.proc.poll() is None:
            time.sleep(0.1)
        # The capture is up once it sees packets: UDP datagrams, which make no reset events.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            while time.time() < deadline and os.path.exists(self.sock):
                probe.sendto(b"ready?", ("127.0.0.1", 9))
                rc, answer = self.json("stats")
                if rc == 0 and answer.get("packets", 0) > 0:
                    break
                time.sleep(0.2)

    def ctl(self, *args, user=None):
        cmd = [self.ctl_path, "--socket", self.sock, "--timeout", "5", *args]
        if user:
            cmd = ["setpriv", "--reuid", user, "--regid", "nogroup", "--clear-groups"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return p.returncode, p.stdout, p.stderr

    def json(self, *args):
        rc, out, err = self.ctl("--json", *args)
        try:
            return rc, json.loads(out)
        except ValueError:
            return rc, {"unparsed": out, "stderr": err}

    def raw(self, payload):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.sock)
        s.sendall(payload)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return json.loads(data)

    def stop(self):
        out, err, _ = stop(self.proc)
        return out, err


def abort_connection():
    """A server that resets its client (SO_LINGER 0): a resp_abort on its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = socket.socket()
    client.settimeout(5)
    client.connect(("127.0.0.1", port))
    conn, _ = server.accept()
    client.sendall(b"hello")
    conn.recv(10)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    time.sleep(0.1)
    client.close()
    server.close()
    return port


def wait_events(log, ports, timeout=15):
    deadline = time.time() + timeout
    events = []
    while time.time() < deadline:
        if os.path.exists(log):
            with open(log) as f:
                events = [json.loads(l) for l in f if l.strip()]
        if ports <= {e["resp_p"] for e in events}:
            break
        time.sleep(0.2)
    return events


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, "", ""
    except OSError as e:
        return None, "", str(e)


def http_endpoint(port, workdir):
    """--metrics-listen: a GET, a wrong path, and a real Prometheus scraping it."""
    status, ctype, body = http_get(f"http://127.0.0.1:{port}/metrics")
    check("--metrics-listen: GET /metrics answers the exposition",
          status == 200 and ctype.startswith("text/plain; version=0.0.4") and
          'rstscope_resets_total{cause="refused"} 3\n' in body, f"{status} {ctype} {body[:200]}")
    status, _, _ = http_get(f"http://127.0.0.1:{port}/")
    check("--metrics-listen: another path is 404", status == 404, str(status))
    prometheus = shutil.which("prometheus")
    if not prometheus:
        skip("prometheus scrape", "prometheus (Debian's prometheus package) is not installed")
        return
    pdir = os.path.join(workdir, "prometheus")
    shutil.rmtree(pdir, ignore_errors=True)
    os.makedirs(pdir)
    config = os.path.join(pdir, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: rstscope\n"
                f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
    web = closed_port()
    proc = subprocess.Popen([prometheus, f"--config.file={config}",
                             f"--storage.tsdb.path={os.path.join(pdir, 'data')}",
                             f"--web.listen-address=127.0.0.1:{web}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    value, answer = None, ""
    try:
        query = urllib.parse.quote('rstscope_resets_total{cause="refused"}')
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            status, _, answer = http_get(f"http://127.0.0.1:{web}/api/v1/query?query={query}")
            if status == 200:
                result = json.loads(answer)["data"]["result"]
                if result:
                    value = result[0]["value"][1]
                    break
            time.sleep(0.5)
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    # At least the 3 refusals made here (Prometheus's own start may add a refused connection).
    check("a real Prometheus scrapes --metrics-listen: refused >= 3 through its HTTP API",
          value is not None and int(value) >= 3, f"value={value} {answer[:200]} {err[-300:] if value is None else ''}")


def check_flow(d):
    """`flow` on a connection kept open on lo: answered by the worker that owns it, live fields."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn, _ = server.accept()
    try:
        client.sendall(b"hello flow")
        conn.recv(100)
        conn.sendall(b"a reply of 22 bytes...")
        client.recv(100)
        client_port = client.getsockname()[1]
        flows, a = [], {}
        deadline = time.time() + 10
        while time.time() < deadline:
            rc, a = d.json("flow", "--host", "127.0.0.1", "--port", str(port))
            flows = a.get("flows", [])
            if flows and flows[0].get("resp_bytes") == 22:
                break
            time.sleep(0.2)
        f = flows[0] if len(flows) == 1 else {}
        check("flow --host --port: the open connection, its live state",
              rc == 0 and a.get("cut") is False and a.get("unanswered_workers") == []
              and f.get("orig_h") == "127.0.0.1" and f.get("orig_p") == client_port
              and f.get("resp_p") == port and f.get("conn_state") == "S1"
              and f.get("history", "").startswith("ShA") and f.get("orig_bytes") == 10
              and f.get("resp_bytes") == 22 and f.get("orig_pkts", 0) >= 3
              and f.get("orig_ttl") == 64 and f.get("vlan") is None
              and f.get("age_s", -1) >= f.get("idle_s", -2) >= 0, json.dumps(a)[:600])
        rc, a = d.json("flow", "--host", "127.0.0.1", "--port", str(port), "--peer", "127.0.0.1",
                       "--peer-port", str(client_port + 1 if client_port < 65535 else 1))
        check("flow with a 5-tuple that does not exist: no flow", rc == 0 and a.get("flows") == [],
              json.dumps(a)[:300])
        rc, out, _ = d.ctl("flow", "--host", "127.0.0.1", "--port", str(port))
        check("flow as a table names the connection", rc == 0 and str(client_port) in out, out)
        rc, a = d.json("flow", "--host", "not-an-address")
        check("flow with a bad host: an error", rc == 1 and "error" in a, json.dumps(a)[:300])
    finally:
        client.close()
        conn.close()
        server.close()


def misuse_while_running(d):
    """Hostile local clients against the running daemon: 200 idle connections, one sending a
    10 MiB line, one random bytes, one that never reads its answers. `stats` must still be
    answered, the packet counters keep advancing and a reset made meanwhile is logged."""
    _, before = d.json("stats")
    idle = []
    for _ in range(200):
        c = socket.socket(socket.AF_UNIX)
        c.setblocking(False)
        try:
            c.connect(d.sock)
        except (BlockingIOError, OSError):
            pass
        idle.append(c)
    hostile = []
    try:
        big = socket.socket(socket.AF_UNIX)
        big.connect(d.sock)
        big.settimeout(0.05)
        try:
            big.sendall(b"x" * (10 << 20))
        except OSError:  # timeout or reset: the daemon stopped reading it, as it should
            pass
        noise = socket.socket(socket.AF_UNIX)
        noise.connect(d.sock)
        noise.sendall(os.urandom(4096))
        deaf = socket.socket(socket.AF_UNIX)
        deaf.connect(d.sock)
        deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        deaf.sendall(b"stats\n" * 2000)
        hostile = [big, noise, deaf]
        started = time.time()
        p = subprocess.run([d.ctl_path, "--socket", d.sock, "--timeout", "1", "stats"],
                           capture_output=True, text=True, timeout=20)
        rc, err = p.returncode, p.stderr
        check("200 idle clients, a 10 MiB line, random bytes, a deaf client: stats answered within 1 s",
              rc == 0 and time.time() - started < 1.5, f"rc={rc} {err[-200:]}")
        port = closed_port()
        refuse(port)
        events = wait_events(d.log, {port})
        _, after = d.json("stats")
        check("meanwhile packets keep being counted and a reset is logged",
              after.get("packets", 0) > before.get("packets", 0) and
              port in [e["resp_p"] for e in events], f"{before.get('packets')} -> {after.get('packets')} {events}")
    finally:
        for c in idle + hostile:
            c.close()


def queries(rstscope, rstscopectl, workdir):
    d = Daemon(rstscope, rstscopectl, workdir)
    try:
        if not os.path.exists(d.sock):
            check("queries: control socket appears", False)
            return
        t0 = time.time()
        refused = [closed_port() for _ in range(3)]
        for p in refused:
            refuse(p)
        aborted = abort_connection()
        logged = wait_events(d.log, set(refused) | {aborted})
        # Newest first is the log's order reversed (events enter the ring as they are written).
        log_order = [e["resp_p"] for e in logged if e["resp_p"] in refused][::-1]

        check_flow(d)

        rc, a = d.json("events", "--cause", "refused")
        ports = [e["resp_p"] for e in a.get("events", [])]
        check("events --cause refused: the three refusals, newest first",
              rc == 0 and a.get("ok") is True and sorted(ports) == sorted(refused) and
              ports == log_order, f"{ports} {log_order}")
        rc, a = d.json("events", "--port", str(aborted))
        check("events --port: the abort only",
              rc == 0 and [e["cause"] for e in a["events"]] == ["resp_abort"], json.dumps(a)[:300])
        rc, a = d.json("events", "--conn-state", "RSTR")
        check("events --conn-state RSTR: the abort", rc == 0 and a["matched"] == 1, json.dumps(a)[:300])
        rc, a = d.json("events", "--host", "127.0.0.0/8", "--limit", "2")
        check("events --host prefix --limit 2: two shown of four", rc == 0 and len(a["events"]) == 2 and a["matched"] == 4, json.dumps(a)[:300])
        rc, a = d.json("events", "--host", "::1/128")
        check("events --host v6: none", rc == 0 and a["matched"] == 0, json.dumps(a)[:300])
        rc, a = d.json("events", "--since", "10m", "--confidence", "high")
        check("events --since 10m --confidence high: all four", rc == 0 and a["matched"] == 4, json.dumps(a)[:300])
        rc, a = d.json("events", "--until", f"{t0 - 60:.0f}")
        check("events --until before the test: none", rc == 0 and a["matched"] == 0, json.dumps(a)[:300])
        rc, out, _ = d.ctl("events", "--cause", "refused")
        check("events for people: an aligned table", rc == 0 and
              re.search(r"time \(UTC\) +originator +responder +rst_by +state +cause +confidence", out) is not None
              and out.count(" refused ") == 3, out)

        rc, a = d.json("top", "--by", "servers")
        hosts = {r["host"]: r["resets"] for r in a.get("top", [])}
        check("top --by servers: host:port rows from the sketch",
              rc == 0 and a["source"] == "sketch" and all(hosts.get(f"127.0.0.1:{p}") == 1 for p in refused + [aborted]), json.dumps(a)[:300])
        rc, a = d.json("top", "--window", "1m", "--cause", "refused")
        check("top --window 1m --cause refused: the resetter 127.0.0.1 with 3, exact",
              rc == 0 and a["source"] == "recent_events" and a["complete"] is True and
              a["top"] == [{"host": "127.0.0.1", "resets": 3, "error": 0}], json.dumps(a)[:300])
        rc, a = d.json("top", "--by", "clients", "--window", "10m")
        check("top --by clients --window 10m", rc == 0 and a["top"][0]["resets"] == 4, json.dumps(a)[:300])
        rc, out, _ = d.ctl("top")
        check("top for people: a table", rc == 0 and re.search(r"^host +resets +error\n127\.0\.0\.1 +4 +0$", out, re.M) is not None, out)

        rc, a = d.json("config")
        check("config: the effective configuration", rc == 0 and a.get("recent-events") == 100 and
              a.get("control") == d.sock and a.get("iface") == "lo" and a.get("linger") == 0.3, json.dumps(a)[:300])
        rc, a = d.json("stats")
        check("stats: per-worker rows", rc == 0 and len(a.get("per_worker", [])) == 1 and
              a["per_worker"][0]["rst_packets"] == a["rst_packets"], json.dumps(a)[:300])
        matches = a.get("signatures", {}).get("client_hello", 0)
        check("stats: matches per signature", rc == 0 and matches >= 1, json.dumps(a.get("signatures")))
        rc, out, _ = d.ctl("stats")
        check("rstscopectl stats shows matches per signature",
              rc == 0 and re.search(r"^signatures\n  client_hello +%d$" % matches, out, re.M) is not None,
              out[-400:])

        rc, out, _ = d.ctl("metrics")
        promtool = shutil.which("promtool")
        if promtool:
            p = subprocess.run([promtool, "check", "metrics"], input=out, capture_output=True, text=True, timeout=30)
            check("metrics: promtool check metrics accepts it", rc == 0 and p.returncode == 0, p.stdout + p.stderr)
        else:
            skip("metrics: promtool check", "promtool (Debian's prometheus package) is not installed")
        check("metrics: the refusals counted", 'rstscope_resets_total{cause="refused"} 3\n' in out, out[:300])
        check("metrics: matches per signature",
              re.search(r'^rstscope_signature_matches_total\{id="client_hello"\} [1-9]', out, re.M)
              is not None, out[-600:])
        http_endpoint(d.metrics_port, workdir)

        # logrotate: the log is moved, then rstscope is told to reopen it.
        for how in ("log-reopen", "SIGHUP"):
            moved = d.log + "." + how
            os.rename(d.log, moved)
            if how == "log-reopen":
                rc, a = d.json("log-reopen")
                check("log-reopen: answered", rc == 0 and a == {"ok": True, "reopened": True}, json.dumps(a))
            else:
                d.proc.send_signal(signal.SIGHUP)
                time.sleep(0.5)
            port = closed_port()
            refuse(port)
            events = wait_events(d.log, {port})
            with open(moved) as f:
                old = [json.loads(l) for l in f if l.strip()]
            check(f"{how}: the new event in the new file, none in the moved one",
                  [e["resp_p"] for e in events] == [port] and port not in {e["resp_p"] for e in old}, f"{events} / {len(old)}")

        rc, out, err = d.ctl("events", "--port", "99999")
        check("wrong argument: exit 1 and a clear message", rc == 1 and
              "invalid value for port of events: expected an integer from 0 to 65535" in err, err)
        a = d.raw(b'{"cmd":"events","port":"80"}\n')
        check("JSON request with a wrong type: a JSON error", a.get("error", "").startswith("invalid value for port"), json.dumps(a))
        a = d.raw(b'{"cmd":"events","cause":"refused","limit":1}\n')
        check("JSON request: answered", a.get("ok") is True and len(a["events"]) == 1, json.dumps(a)[:200])
        a = d.raw(b'{"cmd":"events",\n')
        check("invalid JSON: a JSON error", "invalid JSON" in a.get("error", ""), json.dumps(a))

        misuse_while_running(d)

        if os.geteuid() == 0 and shutil.which("setpriv"):
            rc, out, err = d.ctl("ping", user="nobody")
            check("a client as user nobody: permission denied, exit 4", rc == 4 and "ermission denied" in err, f"rc={rc} {err}")
        else:
            skip("user nobody", "needs root and setpriv")
        rc, out, err = d.ctl("--socket", os.path.join(workdir, "absent.sock"), "ping")
        p = subprocess.run([rstscopectl, "--socket", os.path.join(workdir, "absent.sock"), "ping"],
                           capture_output=True, text=True, timeout=20)
        check("no daemon: exit 3 with a hint", p.returncode == 3 and "is rstscope running" in p.stderr, p.stderr)

        rc, a = d.json("shutdown")
        check("shutdown: answered", rc == 0 and a == {"ok": True, "stopping": True}, json.dumps(a))
        try:
            out, err = d.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            out, err = d.stop()
        check("shutdown: exit 0 with the summary, socket removed", d.proc.returncode == 0 and
              "rstscope summary" in err and not os.path.exists(d.sock), err[-300:])
    finally:
        d.stop()


def main():
    rstscope, rstscopectl, workdir, control_md = sys.argv[1:5]
    os.makedirs(workdir, exist_ok=True)
    if os.geteuid() != 0:
        print("SKIP: live capture on lo needs root")
        sys.exit(77)
    os.chmod(workdir, 0o755)  # user nobody must reach the socket to be refused by it
    # A network namespace of its own: its lo carries only this test's connections (other tests
    # and other users of the machine reset connections on the shared lo), so counts are exact.
    if os.environ.get("RSTSCOPE_QUERIES_NETNS") != "1":
        if not (shutil.which("unshare") and shutil.which("ip")):
            print("SKIP: needs unshare and ip (util-linux, iproute2) for a private loopback")
            sys.exit(77)
        env = dict(os.environ, RSTSCOPE_QUERIES_NETNS="1")
        p = subprocess.run(["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                            sys.executable, *sys.argv], env=env, timeout=280)
        sys.exit(p.returncode)
    walkthrough(rstscope, rstscopectl, workdir, control_md)
    queries(rstscope, rstscopectl, workdir)
    failed = results.count(False)
    print(f"{results.count(True)} passed, {failed} failed, {len(skipped)} skipped")
    sys.exit(1 if failed else (77 if skipped and not results else 0))


if __name__ == "__main__":
    main()
