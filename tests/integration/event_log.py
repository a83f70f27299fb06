# SPDX-License-Identifier: BSD-3-Clause
"""Shared by the integration scripts: reading rstscope's JSON-lines event log, checking each event
against the schema the binary itself prints (`rstscope --list-vocabulary`), and judging its exit."""
import json
import os
import subprocess


def exit_problem(proc):
    """What was wrong with a finished rstscope run, or None."""
    if proc.returncode < 0:
        return f"killed by signal {-proc.returncode}"
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return f"exit code {proc.returncode}: {' | '.join(tail)}"
    return None


def generated_captures(generator, workdir):
    """Runs a capture generator (GENERATOR WORKDIR) and returns the expected.json it wrote."""
    os.makedirs(workdir, exist_ok=True)
    subprocess.run(["/usr/bin/python3", generator, workdir], check=True, timeout=300)
    with open(os.path.join(workdir, "expected.json"), encoding="utf-8") as f:
        return json.load(f)


def read_events(log, problems, record_type="reset"):
    """The reset events of a log (records of `record_type`; None: every record), each line
    checked to be one JSON object; faults go to `problems`. Finding records ("type":"finding",
    docs/findings.md) share the log with the events and are left out unless asked for."""
    events = []
    if not os.path.exists(log):
        problems.append("no event log written")
        return events
    with open(log, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"log line {i} is not JSON ({e}): {line.strip()[:120]}")
                continue
            if isinstance(ev, dict):
                if record_type is None or ev.get("type") == record_type:
                    events.append(ev)
            else:
                problems.append(f"log line {i} is not a JSON object")
    return events


def numbering_problems(events):
    """A run's fresh log, nothing lost: its reset events are numbered 1, 2, .. in log order."""
    ids = [ev.get("id") for ev in events if ev.get("type") == "reset"]
    if ids != list(range(1, len(ids) + 1)):
        return [f"event ids are not 1..{len(ids)} in log order: {ids[:8]}"]
    return []


def load_schema(binary):
    """The event fields and vocabularies as `binary` knows them (include/rstscope/mgmt/
    vocabulary.h): nothing here retypes them, so the checker cannot drift from the binary."""
    proc = subprocess.run([binary, "--list-vocabulary"], capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{binary} --list-vocabulary: exit code {proc.returncode}: "
                           f"{proc.stderr.strip()[-300:]}")
    return json.loads(proc.stdout)


def _type_ok(kind, value):
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "string_list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "object_list":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    return False


def schema_problems(ev, schema):
    """What is wrong with one event against the schema: missing fields, fields the schema does
    not know, wrong types, values outside their vocabulary; objects' members likewise."""
    return _fields_problems(ev, schema["event_fields"])


def _fields_problems(ev, field_list, prefix=""):
    fields = {f["name"]: f for f in field_list}
    missing = [name for name, f in fields.items() if f["always"] and name not in ev]
    problems = [f"missing field(s) {prefix}{', '.join(missing)}"] if missing else []
    unknown = [name for name in ev if name not in fields]
    if unknown:
        problems.append(f"field(s) not in the schema: {prefix}{', '.join(unknown)}")
    for name, value in ev.items():
        f = fields.get(name)
        if f is None:
            continue
        if not _type_ok(f["type"], value):
            problems.append(f"{prefix}{name}={value!r} is not {f['type']}")
            continue
        if f["type"] == "object":
            problems += _fields_problems(value, f.get("members", []), prefix + name + ".")
            continue
        allowed = set(f["values"])
        if allowed:
            outside = [v for v in (value if isinstance(value, list) else [value])
                       if v not in allowed]
            if outside:
                problems.append(f"{prefix}{name}: {outside!r} not in {sorted(allowed)}")
    return problems
