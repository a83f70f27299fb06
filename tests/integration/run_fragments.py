#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Run rstscope on captures whose TCP segments travel as IP fragments
(tests/integration/gen_fragment_captures.py) and check the reassembly.

usage: run_fragments.py RSTSCOPE_BINARY GEN_FRAGMENT_CAPTURES WORKDIR

For every capture, with 1 worker and with 2: the expected number of events, valid against the
binary's schema; the event identical to its unfragmented reference capture's, when it has one
(the reassembled segments are analysed as the whole ones); the fragment counters as expected
(taken, reassembled, and each kind of drop); and the events of 2 workers identical to 1 worker's
(a datagram is reassembled by the worker that reads the capture and handed to its flow's owner).
Exit status 0 when all pass, 1 otherwise.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from event_log import generated_captures, load_schema, schema_problems  # noqa: E402


def run(rstscope, workdir, name, want, workers):
    stem = os.path.join(workdir, f"{name}.w{workers}")
    log, summary_path = stem + ".jsonl", stem + ".summary.json"
    for path in (log, summary_path):
        if os.path.exists(path):
            os.unlink(path)
    p = subprocess.run([rstscope, "--pcap", os.path.join(workdir, want["pcap"]), "--log", log,
                        "--control", "none", "--summary-json", summary_path, "--workers",
                        str(workers), *want["args"]],
                       capture_output=True, text=True, timeout=120)
    problems = []
    if p.returncode != 0:
        problems.append(f"exit status {p.returncode}: {p.stderr.strip()[-300:]}")
    events, summary = [], {}
    if os.path.exists(log):
        with open(log) as f:
            events = [json.loads(line) for line in f if line.strip()]
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
    else:
        problems.append("no summary written")
    return events, summary, problems


def main():
    rstscope, generator, workdir = sys.argv[1:4]
    expected = generated_captures(generator, workdir)
    schema = load_schema(rstscope)
    results = {}
    failures = 0
    # References first: the fragmented captures compare with them.
    for name in sorted(expected, key=lambda n: expected[n]["reference"] is not None):
        want = expected[name]
        for workers in (1, 2):
            events, summary, problems = run(rstscope, workdir, name, want, workers)
            results[(name, workers)] = events
            if len(events) != want["events"]:
                problems.append(f"{len(events)} events, expected {want['events']}")
            for ev in events:
                problems += schema_problems(ev, schema)
            for counter, value in want["counters"].items():
                got = summary.get(counter, summary.get("drops", {}).get(counter))
                if got != value:
                    problems.append(f"{counter} = {got}, expected {value}")
            reference = want["reference"]
            if reference is not None and events != results.get((reference, workers)):
                problems.append(f"events differ from {reference}'s: {events} vs "
                                f"{results.get((reference, workers))}")
            if workers == 2 and events != results[(name, 1)]:
                problems.append(f"2 workers: events differ from 1 worker's: {events} vs "
                                f"{results[(name, 1)]}")
            print(f"{'PASS' if not problems else 'FAIL'} {name} ({workers} worker"
                  f"{'s' if workers > 1 else ''})" + ("" if not problems else ": " +
                                                      "; ".join(problems)))
            failures += bool(problems)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
