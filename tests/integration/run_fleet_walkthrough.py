#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""docs/fleet.md's "On one machine, step by step", run as written: the sh block is read from the
document, each command run in order (with `/tmp/fleet` replaced by a work directory, `build/` by
the build directory, the build directory first on PATH; as root the PostgreSQL commands run as
user postgres, since initdb refuses root), `&` commands in the background, `kill %N` stopping the
Nth of them. A renamed option, a wrong path or a step that fails makes this test fail.

usage: run_fleet_walkthrough.py BUILDDIR SOURCEDIR

Checks: every foreground command exits 0; the merged file holds every reset event the two capture
appliances logged; the loader's table holds, per appliance and cause, exactly the events of the
capture runs and the live runs (a refused connection on lo made here, seen by both live
appliances); Prometheus (the fleet's scrape config and rules) counts 2 appliances up; step 7's
psql and curl show them; step 8 stops every background job and PostgreSQL. Runs in a network
namespace of its own (unshare --net: the document's fixed ports are free there); needs root for
that and for the live capture on lo (exit 77 otherwise). Every wait is bounded; whatever happens,
every process started here is stopped here.
"""
import collections
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import urllib.request

BUILD, SOURCE = map(os.path.abspath, sys.argv[1:3])
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail) if detail else ''}", flush=True)


def walkthrough_commands():
    with open(os.path.join(SOURCE, "docs", "fleet.md")) as f:
        doc = f.read()
    section = doc[doc.index("## On one machine, step by step"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands, current = [], ""
    for line in block.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1]
            continue
        commands.append((current + line).strip())
        current = ""
    return commands


def wait_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def refuse(port=9):
    c = socket.socket()
    c.settimeout(2)
    try:
        c.connect(("127.0.0.1", port))
    except OSError:
        pass
    c.close()


def resets(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        out = []
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a line being written
            if e.get("type") == "reset":
                out.append(e)
        return out


def prom(query, port=9090):
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(query)}"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)["data"]["result"]
    except (OSError, ValueError, KeyError):
        return []


def main():
    work = tempfile.mkdtemp(prefix="rstscope-fleet-walk-")
    os.chmod(work, 0o755)
    as_postgres = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(work, pw.pw_uid, pw.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    env = dict(os.environ, PATH=f"{BUILD}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    conninfo = f"host={work} port=5433 user=fleet dbname=postgres"
    jobs = []  # the background commands, in order: %1, %2, ...
    outputs = {}
    pg_data = os.path.join(work, "pg")
    try:
        waited = False
        for n, doc_cmd in enumerate(walkthrough_commands()):
            cmd = doc_cmd.replace("/tmp/fleet", work)
            cmd = re.sub(r"(?<![\w/.-])build/", BUILD + "/", cmd)
            background = cmd.endswith("&")
            if background:
                cmd = cmd[:-1].strip()
            if cmd.startswith("/usr/lib/postgresql/") and as_postgres:
                cmd = " ".join(map(shlex.quote, as_postgres)) + " " + cmd
            if cmd.startswith("kill %"):
                victims = [jobs[int(x[1:]) - 1] for x in cmd.split()[1:]]
                for p in victims:
                    p.terminate()
                ok = True
                for p in victims:
                    try:
                        p.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        ok = False
                check(f"step `{doc_cmd}` stops the background jobs", ok)
                continue
            if not waited and doc_cmd.startswith("psql"):
                waited = True
                live_and_scraped(work, conninfo)
            if background:
                log = open(os.path.join(work, f"job{len(jobs) + 1}.log"), "w")
                p = subprocess.Popen(["bash", "-c", "exec " + cmd], cwd=SOURCE, env=env,
                                     stdout=log, stderr=log)
                log.close()
                jobs.append(p)
                m = re.search(r"(?:-p |--metrics-listen 127\.0\.0\.1:|--web\.listen-address="
                              r"127\.0\.0\.1:)(\d+)", cmd)
                up = wait_port(int(m.group(1))) if m else True
                time.sleep(0.5)
                check(f"`{doc_cmd[:70]}` runs in the background", up and p.poll() is None,
                      f"exit {p.poll()}" if p.poll() is not None else "")
                continue
            r = subprocess.run(["bash", "-c", cmd], cwd=SOURCE, env=env, capture_output=True,
                               text=True, timeout=120)
            outputs[n] = r.stdout
            check(f"`{doc_cmd[:70]}` exits 0", r.returncode == 0,
                  f"{r.returncode}: {r.stderr.strip()[-300:]}" if r.returncode else "")
            if "--out" in doc_cmd and "merged.jsonl" in doc_cmd:
                merged = resets(os.path.join(work, "merged.jsonl"))
                logged = resets(os.path.join(work, "a1.log")) + resets(os.path.join(work,
                                                                                    "a2.log"))
                check("step 5: the merged file holds every reset event of both appliances",
                      len(merged) == len(logged) > 63 and
                      {e["appliance"] for e in merged} == {"a1", "a2"},
                      f"{len(merged)} vs {len(logged)}")
            if doc_cmd.startswith("psql"):
                rows = [line for line in r.stdout.splitlines() if "|" in line]
                check("step 7: psql lists resets of a1 and a2",
                      any(x.split("|")[0].strip() == "a1" for x in rows)
                      and any(x.split("|")[0].strip() == "a2" for x in rows), r.stdout[-300:])
            if doc_cmd.startswith("curl"):
                try:
                    value = json.loads(r.stdout)["data"]["result"][0]["value"][1]
                except (ValueError, KeyError, IndexError):
                    value = r.stdout[:200]
                check("step 7: Prometheus counts 2 appliances up", value == "2", value)
    except Exception:
        traceback.print_exc()
        check("no exception", False)
    else:
        alive = [i + 1 for i, p in enumerate(jobs) if p.poll() is None]
        check("every background job of the walkthrough stopped by its step 8", not alive, alive)
        check("PostgreSQL stopped by step 8",
              not os.path.exists(os.path.join(pg_data, "postmaster.pid")))
    finally:
        for p in jobs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        if not all(results):  # what the background jobs said, before their logs go
            for n in range(1, len(jobs) + 1):
                with open(os.path.join(work, f"job{n}.log"), errors="replace") as f:
                    print(f"job %{n} said: {f.read()[-600:]!r}")
        if os.path.exists(os.path.join(pg_data, "postmaster.pid")):
            subprocess.run([*as_postgres, "/usr/lib/postgresql/15/bin/pg_ctl", "-D", pg_data,
                            "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if results and all(results) else 1


def live_and_scraped(work, conninfo):
    """Before step 7: refused connections on lo until both live appliances logged one and the
    loader's table holds exactly the events of all four logs; Prometheus has scraped both."""
    names = {"a1.log": "a1", "a2.log": "a2", "a1-live.log": "a1", "a2-live.log": "a2"}
    logs = [os.path.join(work, x) for x in names]
    deadline = time.monotonic() + 90
    want = got = None
    while time.monotonic() < deadline:
        refuse()
        want = collections.Counter((names[os.path.basename(log)], e["cause"]) for log in logs
                                   for e in resets(log))
        r = subprocess.run(["psql", conninfo, "-AtF", "|", "-c",
                            "SELECT appliance, cause, count(*) FROM resets GROUP BY 1, 2"],
                           capture_output=True, text=True, timeout=30)
        got = {tuple(x.split("|")[:2]): int(x.split("|")[2]) for x in r.stdout.splitlines()
               if x.count("|") == 2}
        live = all(resets(log) for log in logs[2:])
        if live and got == dict(want):
            break
        time.sleep(1)
    check("live appliances on lo logged the refused connection, and the loader's table holds, "
          "per appliance and cause, exactly the events of the four logs",
          all(resets(log) for log in logs[2:]) and got == dict(want),
          f"{sorted(got.items()) if got else got} vs {sorted(want.items()) if want else want}")
    result = []
    while time.monotonic() < deadline:
        result = prom("fleet:rstscope_appliances_up")
        if result and result[0]["value"][1] == "2":
            break
        time.sleep(1)
    check("Prometheus scraped both live appliances (fleet:rstscope_appliances_up == 2)",
          bool(result) and result[0]["value"][1] == "2", result)


if __name__ == "__main__":
    if os.environ.get("RSTSCOPE_WALK_NETNS") != "1":
        if os.geteuid() != 0:
            print("SKIP: the live step (rstscope --iface lo) and a private network need root")
            sys.exit(77)
        for tool in ("unshare", "ip", "nats-server", "prometheus", "psql", "curl"):
            if not shutil.which(tool):
                print(f"SKIP: {tool} is not installed")
                sys.exit(77)
        env = dict(os.environ, RSTSCOPE_WALK_NETNS="1")
        p = subprocess.run(["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                            sys.executable, *sys.argv], env=env, timeout=280)
        sys.exit(p.returncode)
    sys.exit(main())
