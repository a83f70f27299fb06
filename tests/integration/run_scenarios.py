#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Run rstscope on the generated reset scenarios and compare its events with the expected ones.

usage: run_scenarios.py RSTSCOPE_BINARY GEN_SCRIPT WORKDIR [SCENARIO ...]

Runs GEN_SCRIPT WORKDIR/captures (tools/gen_scenarios.py; it needs scapy, so it runs under
$RSTSCOPE_PYTHON, else /usr/bin/python3, else this interpreter), then for each scenario
    RSTSCOPE_BINARY --pcap X.pcap --log WORKDIR/logs/X.jsonl --control none [$RSTSCOPE_EXTRA_ARGS]
with a 60 s timeout. Expected events are matched to logged events by (orig_h, orig_p, resp_h,
resp_p); each expected field must be equal (floats within 10 us, idle_before within 1 ms),
`evidence_includes` / `evidence_excludes` / `cause_not` / `fields_absent` are checked, and every
logged event must be expected (no extras) and match the event schema the binary prints
(`RSTSCOPE_BINARY --list-vocabulary`), against which expected.json is checked first. One verdict line per scenario, its
differences indented below it, then `N passed, N failed`. Exit 0 when all pass, 1 otherwise,
77 (skip) when scapy is missing.
"""
import ipaddress
import json
import os
import shlex
import subprocess
import sys

from event_log import (exit_problem, load_schema, numbering_problems, read_events,
                       schema_problems)

TIMEOUT_S = 60

FLOAT_TOLERANCE = {"idle_before": 1e-3}
DEFAULT_FLOAT_TOLERANCE = 1e-5
SPECIAL = {"evidence_includes", "evidence_excludes", "cause_not", "fields_absent"}


def norm_addr(a):
    try:
        return str(ipaddress.ip_address(a))
    except (ValueError, TypeError):
        return str(a)


def flow_key(ev):
    return (norm_addr(ev.get("orig_h")), ev.get("orig_p"), norm_addr(ev.get("resp_h")),
            ev.get("resp_p"))


def expectation_problems(expected, schema):
    """Expected events that name a field, cause or evidence the binary does not know: a typo in
    tools/gen_scenarios.py must fail here, not pass as an absent field."""
    fields = {f["name"]: f for f in schema["event_fields"]}
    vocab = schema["vocabularies"]
    problems = []
    for name, spec in sorted(expected.items()):
        for want in spec["events"]:
            for field, value in want.items():
                if field in SPECIAL:
                    continue
                if field not in fields:
                    problems.append(f"{name}: expects unknown field {field!r}")
                elif fields[field]["values"] and value not in fields[field]["values"]:
                    problems.append(f"{name}: expects {field}={value!r}, not in the vocabulary")
            for key, words in (("evidence_includes", vocab["evidence"]),
                               ("evidence_excludes", vocab["evidence"]),
                               ("cause_not", vocab["cause"]),
                               ("fields_absent", list(fields))):
                for word in want.get(key, []):
                    if word not in words:
                        problems.append(f"{name}: {key} names unknown {word!r}")
    return problems


def same_value(field, want, got):
    if isinstance(want, bool) or isinstance(got, bool):
        return type(want) is type(got) and want == got
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        if isinstance(want, int) and isinstance(got, int):
            return want == got
        return abs(want - got) <= FLOAT_TOLERANCE.get(field, DEFAULT_FLOAT_TOLERANCE)
    return want == got


def compare_event(want, got):
    """Differences between one expected event and the logged one, as readable strings."""
    diffs = []
    evidence = got.get("evidence") if isinstance(got.get("evidence"), list) else []
    for field, value in want.items():
        if field in SPECIAL:
            continue
        if field not in got:
            diffs.append(f"{field}: expected {value!r}, field missing")
        elif not same_value(field, value, got[field]):
            diffs.append(f"{field}: expected {value!r}, got {got[field]!r}")
    for name in want.get("evidence_includes", []):
        if name not in evidence:
            diffs.append(f"evidence: expected to include {name!r}, got {evidence}")
    for name in want.get("evidence_excludes", []):
        if name in evidence:
            diffs.append(f"evidence: must not include {name!r}, got {evidence}")
    if got.get("cause") in want.get("cause_not", []):
        diffs.append(f"cause: must not be {got.get('cause')!r}")
    for field in want.get("fields_absent", []):
        if field in got:
            diffs.append(f"{field}: must be absent, got {got[field]!r}")
    return diffs


def fmt_key(k):
    return f"{k[0]}:{k[1]} -> {k[2]}:{k[3]}"


def check_scenario(binary, schema, name, spec, capdir, logdir, extra_args):
    """Returns (problems, n_events)."""
    pcap = os.path.join(capdir, spec["pcap"])
    log = os.path.join(logdir, name + ".jsonl")
    if os.path.exists(log):
        os.unlink(log)
    cmd = [binary, "--pcap", pcap, "--log", log, "--control", "none"] + extra_args
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                              errors="replace")
    except subprocess.TimeoutExpired:
        return [f"timed out after {TIMEOUT_S} s: {shlex.join(cmd)}"], 0
    with open(os.path.join(logdir, name + ".stderr"), "w", encoding="utf-8") as f:
        f.write(proc.stderr)
    problems = []
    why = exit_problem(proc)
    if why:
        problems.append(f"rstscope {why}")
    if "Sanitizer" in proc.stderr:
        problems.append("sanitizer report on stderr (see " + name + ".stderr)")
    actual = read_events(log, problems) if (os.path.exists(log) or proc.returncode == 0) else []

    for ev in actual:
        for p in schema_problems(ev, schema):
            problems.append(f"schema {fmt_key(flow_key(ev))}: {p}")
    problems += numbering_problems(actual)

    by_key = {}
    for ev in actual:
        by_key.setdefault(flow_key(ev), []).append(ev)
    for want in spec["events"]:
        k = flow_key(want)
        got_list = by_key.get(k)
        if not got_list:
            swapped = (k[2], k[3], k[0], k[1])
            if by_key.get(swapped):
                got = by_key[swapped].pop(0)
                problems.append(f"{fmt_key(k)}: found with originator and responder swapped "
                                f"(orig_guessed={got.get('orig_guessed')!r}, "
                                f"cause={got.get('cause')!r})")
            else:
                problems.append(f"{fmt_key(k)}: missing (expected cause {want.get('cause')!r})")
            continue
        got = got_list.pop(0)
        for d in compare_event(want, got):
            problems.append(f"{fmt_key(k)}: {d}")
    for k, rest in by_key.items():
        for ev in rest:
            problems.append(f"{fmt_key(k)}: extra event (cause {ev.get('cause')!r}, "
                            f"conn_state {ev.get('conn_state')!r})")
    return problems, len(actual)


def pick_python():
    if os.environ.get("RSTSCOPE_PYTHON"):
        return os.environ["RSTSCOPE_PYTHON"]
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    binary, gen, workdir = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    only = set(sys.argv[4:])
    if not os.access(binary, os.X_OK):
        print(f"run_scenarios: {binary}: not an executable file", file=sys.stderr)
        return 2
    capdir = os.path.join(workdir, "captures")
    logdir = os.path.join(workdir, "logs")
    os.makedirs(logdir, exist_ok=True)
    python = pick_python()
    probe = subprocess.run([python, "-c", "import scapy"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        print(f"SKIP: scapy is not importable by {python} (set RSTSCOPE_PYTHON)")
        return 77
    try:
        gen_run = subprocess.run([python, gen, capdir], capture_output=True, text=True,
                                 timeout=300)
    except subprocess.TimeoutExpired:
        print(f"run_scenarios: {gen} timed out", file=sys.stderr)
        return 1
    if gen_run.returncode != 0:
        print(f"run_scenarios: {gen} failed:\n{gen_run.stderr}", file=sys.stderr)
        return 1
    with open(os.path.join(capdir, "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)
    unknown = only - set(expected)
    if unknown:
        print(f"run_scenarios: unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    extra_args = shlex.split(os.environ.get("RSTSCOPE_EXTRA_ARGS", ""))
    schema = load_schema(binary)
    bad_expectations = expectation_problems(expected, schema)
    if bad_expectations:
        print("run_scenarios: expected.json does not match the binary's schema:")
        for p in bad_expectations:
            print(f"    {p}")
        return 1

    passed = failed = 0
    for name in sorted(expected):
        if only and name not in only:
            continue
        spec = expected[name]
        problems, n = check_scenario(binary, schema, name, spec, capdir, logdir, extra_args)
        if problems:
            failed += 1
            print(f"FAIL {name}: {len(problems)} difference(s), {n} event(s) logged, "
                  f"{len(spec['events'])} expected")
            for p in problems:
                print(f"    {p}")
        else:
            passed += 1
            print(f"PASS {name} ({n} event(s))")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
