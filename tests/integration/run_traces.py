#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Run rstscope on the real captures in ../shared/traces and check it against tshark and Zeek.

usage: run_traces.py RSTSCOPE_BINARY TRACES_DIR WORKDIR

For every *.pcap / *.pcapng in TRACES_DIR:
    RSTSCOPE_BINARY --pcap F --log WORKDIR/F.jsonl --control none --summary-json WORKDIR/F.summary.json
(timeout 120 s, plus $RSTSCOPE_EXTRA_ARGS), then check:
  - exit code 0, no signal, no sanitizer report; every log line a JSON object;
  - SUMMARY.json `rst_packets` == `tshark -r F -Y tcp.flags.reset==1 | wc -l` (computed live) and
    `packets` == the number of frames tshark reads;
  - where the trace has a Zeek conn.log oracle (F.oracle.zeek-conn.log or .zeek-conn.log.cut):
    ../tools/zeek_compare.py ORACLE EVENTS, printed, with `found` and `same conn_state` required
    to be 100% and no event for a connection Zeek did not see reset; a cut baseline without the
    4-tuple is compared on the number of reset connections and their histories, both exact;
  - ORACLE_EVENTS below: the fields other tools' oracles fix, and for an oracle that lists every
    session (arkime's), no event for a connection it does not list.
Known exceptions, each with its reason, are in EXCEPTIONS below.
Prints one verdict line per trace (details indented), then `N passed, N failed`. Exit 0 when all
pass, 1 otherwise, 77 (skip) when TRACES_DIR or tshark is absent.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

from event_log import (exit_problem, load_schema, numbering_problems, read_events,
                       schema_problems)

TIMEOUT_S = 120

# Traces whose check differs from the default, and why.
EXCEPTIONS = {
    "esnet__nmap_80_w_service_detection.pcap": {
        "reason": "tshark's tcp.flags.reset filter also matches 6 TCP headers quoted inside ICMP "
                  "'administratively prohibited' errors; those are not segments on the wire, so "
                  "rstscope's rst_packets is compared with the RSTs outside ICMP",
        "tshark_filter": "tcp.flags.reset==1 && !icmp",
    },
}

ORACLE_SUFFIXES = (".oracle.zeek-conn.log", ".oracle.zeek-conn.log.cut")


def tshark_count(path, display_filter=None):
    """Frames tshark reads (matching the filter): `tshark -r F -Y FILTER | wc -l`, but printing
    only frame numbers, since a summary line may hold payload bytes that look like line breaks."""
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-e", "frame.number"]
    if display_filter:
        cmd += ["-Y", display_filter]
    proc = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S)
    return sum(1 for line in proc.stdout.split(b"\n") if line.strip())


def run_rstscope(binary, trace, log, summary, extra_args):
    for p in (log, summary):
        if os.path.exists(p):
            os.unlink(p)
    cmd = [binary, "--pcap", trace, "--log", log, "--control", "none", "--summary-json",
           summary] + extra_args
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                              errors="replace"), None
    except subprocess.TimeoutExpired:
        return None, f"timed out after {TIMEOUT_S} s: {shlex.join(cmd)}"


def normalise_oracle(oracle, workdir, base):
    """zeek_compare.py reads Zeek's `#fields` header; btest `.cut` baselines carry a bare header
    line instead. Returns (path zeek_compare can read, its column names)."""
    with open(oracle, encoding="utf-8", errors="replace") as f:
        lines = [l.rstrip("\n") for l in f]
    for line in lines:
        if line.startswith("#fields"):
            return oracle, line.split("\t")[1:]
    body = [l for l in lines if l and not l.startswith("#")]
    if not body:
        return oracle, []
    fields = body[0].split("\t")
    out = os.path.join(workdir, base + ".oracle-conn.log")
    with open(out, "w", encoding="utf-8") as f:
        f.write("#fields\t" + "\t".join(fields) + "\n")
        for row in body[1:]:
            f.write(row + "\n")
    return out, fields


def check_zeek(oracle, events_log, events, compare_tool, workdir, base, problems, notes):
    path, fields = normalise_oracle(oracle, workdir, base)
    name = os.path.basename(oracle)
    if not {"id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"} <= set(fields):
        # A cut baseline without the 4-tuple: zeek_compare cannot match rows, so compare the
        # number of reset connections (and show the histories side by side).
        rows = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                rows.append(dict(zip(fields, line.rstrip("\n").split("\t"))))
        resets = [r for r in rows if any(c in r.get("history", "") for c in "Rr")]
        notes.append(f"zeek oracle {name} has no 4-tuple columns: comparing counts and histories")
        notes.append(f"  zeek reset connections: {len(resets)}, rstscope events: {len(events)}")
        want = sorted(str(r.get("history")) for r in resets)
        got = sorted(str(e.get("history")) for e in events)
        notes.append(f"  zeek histories: {want}; rstscope histories: {got}")
        if not resets:
            problems.append("zeek oracle: no reset connection in the oracle")
        elif len(events) != len(resets):
            # One event per reset connection: an extra event is one the oracle does not expect.
            problems.append(f"zeek oracle: {len(resets)} reset connections, rstscope wrote "
                            f"{len(events)} events")
        elif "history" in fields and want != got:
            problems.append(f"zeek oracle: histories {want}, rstscope {got}")
        return
    if not os.path.exists(compare_tool):
        problems.append(f"zeek oracle present but {compare_tool} is missing")
        return
    proc = subprocess.run([sys.executable, compare_tool, path, events_log], capture_output=True,
                          text=True, timeout=TIMEOUT_S, errors="replace")
    notes.append(f"zeek_compare.py {name}:")
    notes.extend("  " + l for l in proc.stdout.rstrip().splitlines())
    if proc.stderr.strip():
        notes.extend("  stderr: " + l for l in proc.stderr.strip().splitlines()[-3:])
    total = re.search(r"^zeek reset connections:\s*(\d+)", proc.stdout, re.M)
    found = re.search(r"^found by rstscope:\s*(\d+)", proc.stdout, re.M)
    same_state = re.search(r"^same conn_state:\s*(\d+)", proc.stdout, re.M)
    extra = re.search(r"^rstscope events not reset in zeek:\s*(\d+)", proc.stdout, re.M)
    if not total or not found or not same_state or not extra:
        problems.append("zeek_compare.py output not understood")
        return
    if int(total.group(1)) == 0 or found.group(1) != total.group(1):
        problems.append(f"zeek oracle: found {found.group(1)} of {total.group(1)} reset "
                        f"connections (must be 100%)")
    if same_state.group(1) != total.group(1):
        problems.append(f"zeek oracle: same conn_state for {same_state.group(1)} of "
                        f"{total.group(1)} reset connections (must be 100%)")
    if int(extra.group(1)) != 0:
        problems.append(f"zeek oracle: {extra.group(1)} rstscope event(s) for connections Zeek "
                        f"did not see reset")


def check_trace(binary, schema, trace, workdir, compare_tool, extra_args):
    """Returns (problems, notes)."""
    base = os.path.basename(trace)
    log = os.path.join(workdir, base + ".jsonl")
    summary_path = os.path.join(workdir, base + ".summary.json")
    exc = EXCEPTIONS.get(base, {})
    problems, notes = [], []
    if exc:
        notes.append("exception: " + exc["reason"])
    proc, timeout = run_rstscope(binary, trace, log, summary_path, extra_args)
    if timeout:
        return [timeout], notes
    with open(os.path.join(workdir, base + ".stderr"), "w", encoding="utf-8") as f:
        f.write(proc.stderr)
    if "Sanitizer" in proc.stderr:
        problems.append(f"sanitizer report on stderr (see {base}.stderr)")

    if exc.get("expect_error"):
        lines = [l for l in proc.stderr.splitlines() if l.strip()]
        if proc.returncode == 0:
            problems.append("exit code 0: expected a non-zero exit with an error message")
        elif proc.returncode < 0:
            problems.append(f"killed by signal {-proc.returncode}: expected a clean error exit")
        if not lines:
            problems.append("no error message on stderr")
        elif not any(base in l for l in lines):
            problems.append(f"error message does not name the file: {lines[-1][:200]!r}")
        else:
            notes.append(f"exit code {proc.returncode}: {lines[-1][:200]}")
        return problems, notes

    why = exit_problem(proc)
    if why:
        problems.append("rstscope " + why)
    events = read_events(log, problems)
    # Every event well-formed by the binary's own schema; the first few faults are enough.
    schema_faults = [f"event {i}: {p}" for i, ev in enumerate(events, 1)
                     for p in schema_problems(ev, schema)]
    problems.extend(schema_faults[:5])
    problems += numbering_problems(events)

    summary = None
    try:
        with open(summary_path, encoding="utf-8") as f:
            summary = json.load(f)
    except FileNotFoundError:
        problems.append("no summary JSON written")
    except json.JSONDecodeError as e:
        problems.append(f"summary JSON does not parse: {e}")
    want_rst = tshark_count(trace, exc.get("tshark_filter", "tcp.flags.reset==1"))
    want_pkts = tshark_count(trace)
    if isinstance(summary, dict):
        got_rst, got_pkts = summary.get("rst_packets"), summary.get("packets")
        if exc.get("tshark_filter"):
            notes.append(f"tshark -Y {exc['tshark_filter']!r}: {want_rst}; plain "
                         f"tcp.flags.reset==1: {tshark_count(trace, 'tcp.flags.reset==1')}")
        if got_rst != want_rst:
            problems.append(f"rst_packets {got_rst!r}, tshark counts {want_rst}")
        if got_pkts != want_pkts:
            problems.append(f"packets {got_pkts!r}, tshark reads {want_pkts} frames")
        notes.insert(0, f"rst_packets={got_rst!r} (tshark {want_rst}), packets={got_pkts!r} "
                        f"(tshark {want_pkts}), events={len(events)}")
    elif summary is not None:
        problems.append("summary JSON is not an object")

    check_oracle_events(base, events, problems)
    stem = re.sub(r"\.pcap(ng)?$", "", trace)
    for suffix in ORACLE_SUFFIXES:
        oracle = stem + suffix
        if os.path.exists(oracle) and os.path.exists(log):
            check_zeek(oracle, log, events, compare_tool, workdir, base, problems, notes)
    return problems, notes


# What the other tools' oracles (traces/README.md) say about individual reset connections, as
# event fields: (orig_h, orig_p, resp_h, resp_p) -> fields every event of that connection must
# have. `last_rst_count` is the rst_count of the connection's last event (a RST the receiver had
# to ignore gets its own event, so arkime's per-session total is the last one's count; every
# event before the last must then be such an out_of_window one).
ORACLE_EVENTS = {
    "arkime__aerospike.pcap": {
        ("10.0.0.1", 53226, "10.0.0.2", 3000): {"last_rst_count": 2, "vlan": None},
    },
    "arkime__mpls-basic.pcap": {
        ("10.1.2.1", 11001, "10.34.0.1", 23): {"last_rst_count": 3, "rst_by": "resp"},
    },
    "arkime__CVE-2018-6794.pcap": {
        ("192.168.235.1", port, "192.168.235.136", 8089): {"last_rst_count": 1, "rst_by": "orig"}
        for port in (53648, 53649, 53656)
    },
    "sv__bug-6244-tcp-rst-with-data.pcap": {
        ("1.1.1.1", 12345, "2.2.2.2", 8080): {"rst_by": "orig", "payload_in_rst": "Access Denied"},
    },
    "sv__bug-2646-02.pcap": {
        ("192.168.0.253", 50282, "151.101.36.133", 443): {"rst_by": "orig"},
    },
    "sv__pgsql-simple-query-rollback.pcap": {
        ("192.168.1.102", 44848, "192.168.1.74", 5432): {"rst_by": "resp"},
    },
}


# Oracles that list every session of the capture (arkime's session documents, rst count included):
# an event for a connection they do not list with a RST is one they do not expect.
COMPLETE_ORACLES = {"arkime__aerospike.pcap", "arkime__mpls-basic.pcap",
                    "arkime__CVE-2018-6794.pcap"}


def check_oracle_events(name, events, problems):
    expected = ORACLE_EVENTS.get(name, {})
    if name in COMPLETE_ORACLES:
        for e in events:
            key = (e.get("orig_h"), e.get("orig_p"), e.get("resp_h"), e.get("resp_p"))
            if key not in expected:
                problems.append(f"oracle: event for {key}, which the oracle does not list as reset")
    for key, want in expected.items():
        mine = [e for e in events if (e.get("orig_h"), e.get("orig_p"), e.get("resp_h"),
                                      e.get("resp_p")) == key]
        if not mine:
            problems.append(f"oracle: no event for {key}")
            continue
        for field, value in want.items():
            if field == "last_rst_count":
                if mine[-1].get("rst_count") != value:
                    problems.append(f"oracle: {key} rst_count {mine[-1].get('rst_count')}, want {value}")
                ignored = [e.get("cause") for e in mine[:-1]]
                if any(c != "out_of_window" for c in ignored):
                    problems.append(f"oracle: {key} has {len(mine)} events; before the last, "
                                    f"causes {ignored}, want only out_of_window")
            elif field == "vlan":
                if "vlan" not in mine[0]:
                    problems.append(f"oracle: {key} has no vlan field (the trace is 802.1Q-tagged)")
            elif any(e.get(field) != value for e in mine):
                problems.append(f"oracle: {key} {field} {[e.get(field) for e in mine]}, want {value!r}")


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    binary, traces, workdir = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    if not os.path.isdir(traces):
        print(f"SKIP: traces directory {traces} is absent (the shared captures are optional)")
        return 77
    if not shutil.which("tshark"):
        print("SKIP: tshark is not installed; it provides the reference RST counts")
        return 77
    if not os.access(binary, os.X_OK):
        print(f"run_traces: {binary}: not an executable file", file=sys.stderr)
        return 2
    os.makedirs(workdir, exist_ok=True)
    compare_tool = os.path.join(os.path.dirname(os.path.abspath(traces.rstrip("/"))), "tools",
                                "zeek_compare.py")
    extra_args = shlex.split(os.environ.get("RSTSCOPE_EXTRA_ARGS", ""))
    schema = load_schema(binary)
    files = sorted(f for f in os.listdir(traces) if f.endswith((".pcap", ".pcapng")))
    passed = failed = 0
    for f in files:
        problems, notes = check_trace(binary, schema, os.path.join(traces, f), workdir,
                                      compare_tool, extra_args)
        if problems:
            failed += 1
            print(f"FAIL {f}: " + "; ".join(problems))
        else:
            passed += 1
            print(f"PASS {f}")
        for n in notes:
            print("    " + n)
    stale = sorted(set(EXCEPTIONS) - set(files))
    if stale:
        print(f"note: exceptions for absent traces: {', '.join(stale)}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
