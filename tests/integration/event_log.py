"""Shared by the integration scripts: reading rstscope's JSON-lines event log and judging its exit."""
import json
import os


def exit_problem(proc):
    """What was wrong with a finished rstscope run, or None."""
    if proc.returncode < 0:
        return f"killed by signal {-proc.returncode}"
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return f"exit code {proc.returncode}: {' | '.join(tail)}"
    return None


def read_events(log, problems):
    """The events of a log, each line checked to be one JSON object; faults go to `problems`."""
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
                events.append(ev)
            else:
                problems.append(f"log line {i} is not a JSON object")
    return events
