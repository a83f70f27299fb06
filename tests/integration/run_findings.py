#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Findings end to end (docs/findings.md): rstscope on one generated capture per finding and on a
benign mix, with 1 and 2 workers.

usage: run_findings.py RSTSCOPE RSTSCOPECTL GEN_FINDINGS WORKDIR

For each capture of tools/gen_findings.py:
- exactly the expected findings are raised (kind and subject), each once, and each is cleared
  (by the end of the run at the latest) under the same id; the benign mix raises none;
- a raised finding follows, in the log, every event it names as an example, and those are reset
  events of the run; ids are 1, 2, .. in order of raising;
- a storm's evidence says how many connections the service started in the window and the share
  of them reset (the workers' counts summed); a busy server whose resets reach a storm's rate
  but not its share raises nothing, and does with a lower --findings-storm-share;
- 1 and 2 workers write the same log, byte for byte, the 2-worker run with a control socket:
  what management keeps only for the socket's queries (the recent events, the servers' and
  clients' sketches) must change nothing in the log;
- the summary counts the log's lines apart: events_logged reset lines, findings_logged findings.
Then, live on the loopback interface, a vertical scan replayed with scapy: `rstscopectl findings`
lists it open, `metrics` counts it, and the shutdown clears it in the log.
Exit 0 when all hold, 1 otherwise, 77 (skip) without scapy.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from event_log import exit_problem, numbering_problems, read_events  # noqa: E402

TIMEOUT_S = 120
failures = []


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


def run(binary, pcap, log, workers, summary, options=(), control="none"):
    cmd = [binary, "--pcap", pcap, "--log", log, "--control", control, "--workers",
           str(workers), "--summary-json", summary, "--config", os.devnull, "--quiet", *options]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)


def lines_of(log):
    with open(log, encoding="utf-8") as f:
        return [line for line in f.read().splitlines() if line.strip()]


def subject_matches(finding, subject):
    return all(finding.get("subject", {}).get(k) == v for k, v in subject.items())


def check_capture(binary, workdir, name, spec, pcap, socket_dir):
    findings_by_workers = {}
    log_by_workers = {}
    for workers in (1, 2):
        log = os.path.join(workdir, f"{name}.w{workers}.jsonl")
        summary = os.path.join(workdir, f"{name}.w{workers}.json")
        for stale in (log, summary):  # rstscope appends to a log that exists
            if os.path.exists(stale):
                os.unlink(stale)
        # A short path: a Unix socket's name has room for 107 bytes.
        control = "none" if workers == 1 else os.path.join(socket_dir, f"{name}.sock")
        proc = run(binary, pcap, log, workers, summary, spec.get("options", []), control)
        problem = exit_problem(proc)
        check(f"{name} ({workers} worker(s)): exit 0", problem is None, problem)
        if problem:
            continue
        records = [json.loads(line) for line in lines_of(log)]
        findings = [r for r in records if r.get("type") == "finding"]
        log_by_workers[workers] = lines_of(log)
        findings_by_workers[workers] = [line for line in log_by_workers[workers]
                                        if '"type":"finding"' in line]
        problems = []
        events = read_events(log, problems)
        check(f"{name} ({workers}): the log's events are numbered 1..N",
              not problems and not numbering_problems(events), problems[:2])
        with open(summary, encoding="utf-8") as f:
            s = json.load(f)
        check(f"{name} ({workers}): events_logged counts the reset lines, findings_logged the "
              "finding lines",
              s.get("events_logged") == len(events) and
              s.get("findings_logged") == len(findings),
              {k: s.get(k) for k in ("events_logged", "findings_logged")})
        if workers != 1:
            continue
        raised = [f for f in findings if f["state"] == "raised"]
        for want in spec["findings"]:
            hits = [f for f in raised if f["kind"] == want["kind"] and
                    subject_matches(f, want["subject"])]
            check(f"{name}: {want['kind']} {want['subject']} raised once", len(hits) == 1,
                  [f.get("subject") for f in raised])
            # The evidence it must carry (a storm's connections and share of them reset).
            for key, value in want.get("evidence", {}).items():
                got = [f.get("evidence", {}).get(key) for f in hits]
                check(f"{name}: {want['kind']} evidence {key} = {value}", got == [value], got)
        check(f"{name}: nothing else raised", len(raised) == len(spec["findings"]),
              [(f["kind"], f.get("subject")) for f in raised])
        check(f"{name}: finding ids 1.. in order of raising",
              [f["id"] for f in raised] == list(range(1, len(raised) + 1)),
              [f["id"] for f in raised])
        cleared = {f["id"] for f in findings if f["state"] == "cleared"}
        check(f"{name}: every raised finding is cleared by the end",
              all(f["id"] in cleared for f in raised), sorted(cleared))
        # Each raised record follows its example events.
        seen_ids = set()
        order_ok, examples_ok = True, True
        for r in records:
            if r.get("type") == "reset":
                seen_ids.add(r["id"])
            elif r.get("type") == "finding" and r["state"] == "raised":
                ex = r.get("example_events", [])
                examples_ok &= bool(ex)
                order_ok &= all(i in seen_ids for i in ex)
        check(f"{name}: raised findings name example events written before them",
              order_ok and examples_ok)
        for f in raised:
            print(f"      {json.dumps(f)[:400]}")
    if 1 in findings_by_workers and 2 in findings_by_workers:
        check(f"{name}: 1 and 2 workers write the same finding records",
              findings_by_workers[1] == findings_by_workers[2],
              f"{len(findings_by_workers[1])} vs {len(findings_by_workers[2])} records")
        one, two = log_by_workers[1], log_by_workers[2]
        first = next((i for i, (a, b) in enumerate(zip(one, two)) if a != b),
                     min(len(one), len(two)))
        check(f"{name}: 1 worker without a control socket and 2 with one write the same log",
              one == two, f"{len(one)} vs {len(two)} lines, first differing line {first + 1}")


# Live: a vertical scan on lo, asked with rstscopectl while it is open -------------------------

def ctl(rstscopectl, sock, *args):
    proc = subprocess.run([rstscopectl, "--socket", sock, "--timeout", "5", *args],
                          capture_output=True, text=True, timeout=20)
    return proc.returncode, proc.stdout


def live_scan(binary, rstscopectl, workdir):
    sock = os.path.join(workdir, "control.sock")
    log = os.path.join(workdir, "live.jsonl")
    for path in (sock, log):
        if os.path.exists(path):
            os.unlink(path)
    # A closed port on lo draws a real RST from the kernel; a listener would be a different story.
    proc = subprocess.Popen([binary, "--iface", "lo", "--control", sock, "--log", log,
                             "--linger", "0.2", "--config", os.devnull, "--quiet",
                             "--findings-scan-ports", "10"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            if os.path.exists(sock):
                rc, out = ctl(rstscopectl, sock, "--json", "ping")
                if rc == 0 and json.loads(out).get("ready"):
                    ready = True
                    break
            time.sleep(0.2)
        check("live: rstscope ready on lo", ready)
        if not ready:
            return
        # 30 closed ports of 127.0.0.1 (lo carries the test; no address leaves the host).
        closed = []
        for _ in range(30):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            closed.append(s.getsockname()[1])
            s.close()
        for port in closed:
            c = socket.socket()
            c.settimeout(1)
            try:
                c.connect(("127.0.0.1", port))
            except OSError:
                pass
            finally:
                c.close()
        open_scan = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            rc, out = ctl(rstscopectl, sock, "--json", "findings")
            answer = json.loads(out) if rc == 0 else {}
            scans = [f for f in answer.get("findings", []) if f.get("kind") == "scan"]
            if scans:
                open_scan = scans[0]
                break
            time.sleep(0.3)
        check("live: `rstscopectl findings` lists the open vertical scan",
              open_scan is not None and open_scan["subject"]["shape"] == "vertical" and
              open_scan["subject"]["source"] == "127.0.0.1", open_scan)
        rc, out = ctl(rstscopectl, sock, "findings")
        check("live: the human form names it", rc == 0 and "scan" in out and "open:" in out,
              out[-300:])
        rc, out = ctl(rstscopectl, sock, "top", "--once")
        section = out[out.find("OPEN FINDINGS"):] if "OPEN FINDINGS" in out else ""
        check("live: `rstscopectl top --once` shows it under OPEN FINDINGS",
              rc == 0 and section.startswith("OPEN FINDINGS (1)") and
              open_scan is not None and
              re.search(rf"#{open_scan['id']} scan (raised|updated)", section) is not None,
              out[-400:])
        rc, out = ctl(rstscopectl, sock, "metrics")
        check("live: metrics count it open and raised",
              'rstscope_findings_open{kind="scan"} 1' in out and
              'rstscope_findings_raised_total{kind="scan"} 1' in out, out[-400:])
        ctl(rstscopectl, sock, "shutdown")
        proc.wait(timeout=30)
        records = [json.loads(line) for line in lines_of(log)] if os.path.exists(log) else []
        states = [r["state"] for r in records if r.get("type") == "finding"]
        check("live: the log holds the scan raised, then cleared at shutdown",
              states[:1] == ["raised"] and states[-1:] == ["cleared"], states)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    binary, rstscopectl, gen, workdir = sys.argv[1:]
    python = sys.executable or "/usr/bin/python3"
    if subprocess.run([python, "-c", "import scapy"], capture_output=True,
                      timeout=60).returncode != 0:
        print("SKIP: scapy is not installed")
        return 77
    capdir = os.path.join(workdir, "captures")
    os.makedirs(capdir, exist_ok=True)
    gen_run = subprocess.run([python, gen, capdir], capture_output=True, text=True, timeout=300)
    if gen_run.returncode != 0:
        print(f"FAIL generating captures: {gen_run.stderr[-500:]}")
        return 1
    with open(os.path.join(capdir, "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)
    with tempfile.TemporaryDirectory(prefix="rstscope-findings-") as socket_dir:
        for name, spec in expected.items():
            check_capture(binary, workdir, name, spec, os.path.join(capdir, spec["pcap"]),
                          socket_dir)
    live_scan(binary, rstscopectl, workdir)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
