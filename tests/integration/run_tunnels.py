#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Run rstscope on captures of tunnelled connections and other link types
(tests/integration/gen_tunnel_captures.py) and check that each yields the inner connection's reset.

usage: run_tunnels.py RSTSCOPE_BINARY GEN_TUNNEL_CAPTURES WORKDIR

For every capture: exactly one event, valid against the binary's schema, whose addresses, ports
and counters are the inner connection's (never the tunnel endpoints') and whose `tunnel` object
describes the tunnel (type, VNI/TEID, outer addresses), or is absent when there is none; and a
summary whose tunnel_packets counts every tunnelled frame and whose drops are all zero. A capture
may be run with options (its `args`): one connection seen on two VLANs, with and without
--vlan-in-key. Exit status 0 when all pass, 1 otherwise.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from event_log import generated_captures, load_schema, schema_problems  # noqa: E402


def main():
    rstscope, generator, workdir = sys.argv[1:4]
    expected = generated_captures(generator, workdir)
    schema = load_schema(rstscope)
    failures = 0
    for name, want in sorted(expected.items()):
        log = os.path.join(workdir, name + ".jsonl")
        summary_path = os.path.join(workdir, name + ".summary.json")
        for path in (log, summary_path):
            if os.path.exists(path):
                os.unlink(path)
        p = subprocess.run([rstscope, "--pcap", os.path.join(workdir, want["pcap"]), "--log", log,
                            "--control", "none", "--summary-json", summary_path,
                            *want.get("args", [])],
                           capture_output=True, text=True, timeout=120)
        problems = []
        if p.returncode != 0:
            problems.append(f"exit status {p.returncode}: {p.stderr.strip()[-300:]}")
        events = []
        if os.path.exists(log):
            with open(log) as f:
                events = [json.loads(line) for line in f if line.strip()]
        if len(events) != 1:
            problems.append(f"{len(events)} events, expected 1")
        else:
            problems += schema_problems(events[0], schema)
            for field, value in want["event"].items():
                if events[0].get(field) != value:
                    problems.append(f"{field} = {events[0].get(field)!r}, expected {value!r}")
        if os.path.exists(summary_path):
            with open(summary_path) as f:
                summary = json.load(f)
            if summary.get("tunnel_packets") != want["tunnel_packets"]:
                problems.append(f"tunnel_packets = {summary.get('tunnel_packets')}, "
                                f"expected {want['tunnel_packets']}")
            if summary.get("dropped") != 0:
                problems.append(f"dropped = {summary.get('dropped')}: {summary.get('drops')}")
        else:
            problems.append("no summary written")
        print(f"{'PASS' if not problems else 'FAIL'} {name}" +
              ("" if not problems else ": " + "; ".join(problems)))
        failures += bool(problems)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
