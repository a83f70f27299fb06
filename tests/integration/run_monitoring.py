#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The alerting rules and the Grafana dashboard in tools/monitoring/ against a running rstscope.

usage: run_monitoring.py RSTSCOPE MONITORING_DIR WORKDIR

1. `promtool check rules` on the rules and `promtool test rules` on their unit tests.
2. rstscope live on lo with --metrics-listen; a refused connection; one scrape. Every metric
   (rstscope_*) and every cause/reason/conn_state label value the rules and the dashboard name
   is in that scrape: a renamed counter fails here.
3. A real Prometheus scrapes it with the rules loaded: every rule evaluates with health "ok",
   RstscopeDown is not firing, and every dashboard query (with $instance = .* and
   $__rate_interval = 1m) is accepted by its query API; the refused reset is seen through the
   dashboard's "Resets/s by cause" query.
Prints one line per check and `N passed, N failed, N skipped`; exit 1 on a failure, 77 when it
cannot run here (not root, no promtool). Runs in a network namespace of its own (unshare --net);
every process it starts is stopped, every wait bounded.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import closed_port, refuse  # noqa: E402
from processes import stop  # noqa: E402

RULES = "rstscope-alerts.yml"
RULE_TESTS = "rstscope-alerts.test.yml"
DASHBOARD = "rstscope-dashboard.json"

results = []
skipped = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail[:600] if detail and not ok else ''}")


def skip(name, why):
    skipped.append(name)
    print(f"SKIP {name}: {why}")


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return None, str(e)


def promtool_checks(promtool, mdir):
    p = subprocess.run([promtool, "check", "rules", RULES], cwd=mdir, capture_output=True,
                       text=True, timeout=60)
    check("promtool check rules", p.returncode == 0, p.stdout + p.stderr)
    p = subprocess.run([promtool, "test", "rules", RULE_TESTS], cwd=mdir, capture_output=True,
                       text=True, timeout=120)
    check("promtool test rules (each alert fires on its series, not on its look-alike)",
          p.returncode == 0, p.stdout + p.stderr)


def dashboard_queries(mdir):
    with open(os.path.join(mdir, DASHBOARD)) as f:
        dash = json.load(f)
    queries = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["expr"]))
    return dash, queries


def scrape_families(text):
    """{family: set of "label=value"} of one exposition."""
    families = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? ', line)
        if not m:
            continue
        labels = families.setdefault(m.group(1), set())
        for name, value in re.findall(r'([a-z_]+)="([^"]*)"', m.group(3) or ""):
            labels.add(f"{name}={value}")
    return families


def names_used(text):
    """Metric names and (label, value) pairs a PromQL text names."""
    metrics = set(re.findall(r"\b(rstscope_[a-z_]+)", text))
    labels = set()
    for name, _, value in re.findall(r'\b(cause|reason|conn_state)\s*(=|!=|=~|!~)\s*"([^"]*)"',
                                     text):
        for alternative in value.split("|"):
            labels.add(f"{name}={alternative}")
    return metrics, labels


def prometheus_run(prometheus, mdir, workdir, port, queries, target):
    pdir = os.path.join(workdir, "prometheus")
    shutil.rmtree(pdir, ignore_errors=True)
    os.makedirs(pdir)
    config = os.path.join(pdir, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                f"rule_files:\n  - {os.path.join(mdir, RULES)}\n"
                "scrape_configs:\n  - job_name: rstscope\n"
                f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
    web = closed_port()
    base = f"http://127.0.0.1:{web}/api/v1"
    proc = subprocess.Popen([prometheus, f"--config.file={config}",
                             f"--storage.tsdb.path={os.path.join(pdir, 'data')}",
                             f"--web.listen-address=127.0.0.1:{web}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        rules, answer = [], ""
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            status, answer = http_get(f"{base}/rules")
            if status == 200:
                groups = json.loads(answer)["data"]["groups"]
                rules = [r for g in groups for r in g["rules"]]
                if rules and all(r.get("lastEvaluation", "").startswith("20") and
                                 r.get("health") != "unknown" for r in rules):
                    # Refusals between scrapes, until a rate over them is seen.
                    refuse(target)
                    q = urllib.parse.quote('rate(rstscope_resets_total{cause="refused"}[1m]) > 0')
                    status, body = http_get(f"{base}/query?query={q}")
                    if status == 200 and json.loads(body)["data"]["result"]:
                        break
            time.sleep(0.5)
        with open(os.path.join(mdir, RULES)) as f:
            expected = len(re.findall(r"^\s*- alert:", f.read(), re.M))
        bad = [f"{r['name']}: {r.get('health')} {r.get('lastError', '')}" for r in rules
               if r.get("health") != "ok"]
        check(f"a real Prometheus loads the {expected} rules and evaluates each with health ok",
              len(rules) == expected and not bad, f"{len(rules)} rules; {bad} {answer[:300]}")
        firing = [r["name"] for r in rules if r.get("state") == "firing"]
        check("RstscopeDown is not firing while rstscope is scraped", "RstscopeDown" not in firing,
              str(firing))
        failures = []
        refused_seen = False
        for title, expr in queries:
            q = expr.replace("$__rate_interval", "1m").replace("$instance", ".*")
            status, body = http_get(f"{base}/query?query={urllib.parse.quote(q)}")
            if status != 200 or json.loads(body).get("status") != "success":
                failures.append(f"{title}: {q}: {status} {body[:200]}")
                continue
            if title == "Resets/s by cause":
                for series in json.loads(body)["data"]["result"]:
                    if series["metric"].get("cause") == "refused" and float(series["value"][1]) > 0:
                        refused_seen = True
        check(f"Prometheus accepts all {len(queries)} dashboard queries", not failures,
              "; ".join(failures))
        check("the dashboard's resets-by-cause query shows the refused reset", refused_seen)
    finally:
        _, err, _ = stop(proc)
        if proc.returncode not in (0, -signal.SIGTERM):
            print(f"prometheus exit {proc.returncode}: {err[-300:]}")


def main():
    rstscope, mdir, workdir = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    if not promtool:
        print("SKIP: promtool (Debian's prometheus package) is not installed")
        sys.exit(77)
    if os.environ.get("RSTSCOPE_MONITORING_NETNS") != "1":
        if os.geteuid() != 0:
            print("SKIP: live capture on lo needs root")
            sys.exit(77)
        if not (shutil.which("unshare") and shutil.which("ip")):
            print("SKIP: needs unshare and ip (util-linux, iproute2) for a private loopback")
            sys.exit(77)
        env = dict(os.environ, RSTSCOPE_MONITORING_NETNS="1")
        p = subprocess.run(["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                            sys.executable, *sys.argv], env=env, timeout=170)
        sys.exit(p.returncode)
    os.makedirs(workdir, exist_ok=True)
    promtool_checks(promtool, mdir)
    dash, queries = dashboard_queries(mdir)
    check("the dashboard is Grafana JSON with panels and queries",
          dash.get("uid") == "rstscope" and len(dash["panels"]) >= 10 and len(queries) >= 20,
          f"{len(dash.get('panels', []))} panels, {len(queries)} queries")

    port = closed_port()
    sock = os.path.join(workdir, "monitoring.sock")
    proc = subprocess.Popen(
        [rstscope, "--iface", "lo", "--control", sock, "--log", os.path.join(workdir, "events.jsonl"),
         "--linger", "0.2", "--flow-table-size", "4096", "--metrics-listen", f"127.0.0.1:{port}",
         "--config", os.devnull],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        body = ""
        deadline = time.time() + 30
        target = closed_port()
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while time.time() < deadline and proc.poll() is None:
            probe.sendto(b"ready?", ("127.0.0.1", 9))
            refuse(target)
            status, body = http_get(f"http://127.0.0.1:{port}/metrics")
            if status == 200 and re.search(r'rstscope_resets_total\{cause="refused"\} [1-9]', body):
                break
            time.sleep(0.3)
        probe.close()
        families = scrape_families(body)
        check("a scrape of --metrics-listen with a refused reset counted",
              re.search(r'rstscope_resets_total\{cause="refused"\} [1-9]', body) is not None,
              body[:300])
        exposed = set(families)
        exposed_labels = set().union(*families.values()) if families else set()
        for name in (RULES, DASHBOARD):
            with open(os.path.join(mdir, name)) as f:
                text = f.read()
            if name == DASHBOARD:
                text = "\n".join(expr for _, expr in queries)
            metrics, labels = names_used(text)
            check(f"{name}: every metric it names is exposed ({len(metrics)})",
                  metrics and metrics <= exposed, str(sorted(metrics - exposed)))
            check(f"{name}: every cause/reason/conn_state it names is exposed ({len(labels)})",
                  labels <= exposed_labels, str(sorted(labels - exposed_labels)))
        if prometheus:
            prometheus_run(prometheus, mdir, workdir, port, queries, target)
        else:
            skip("prometheus", "prometheus (Debian's prometheus package) is not installed")
    finally:
        _, err, _ = stop(proc)
        check("rstscope stops with exit 0", proc.returncode == 0, err[-400:])
    failed = results.count(False)
    print(f"{results.count(True)} passed, {failed} failed, {len(skipped)} skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
