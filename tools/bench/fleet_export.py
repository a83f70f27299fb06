#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The fleet's figures, side by side in one run (docs/fleet.md, "Sizing"): rstscope --pcap on a
reset storm with and without --export into a nats-server started here; the exporter's and the
server's CPU per million events; the stream's bytes per million; and the same events loaded into
PostgreSQL 15 (rstscope-fleet read --pg) and ClickHouse (its HTTP interface, JSONEachRow) started
here: load rate, disk per million, the example fleet queries' time, and a second load of the same
events (exactly-once or not). Every server is started on random local ports with its own directory
under WORKDIR and stopped at the end, whatever happens.

usage: fleet_export.py RSTSCOPE RSTSCOPE_FLEET GEN_BIG_PCAP [--flows N] [--workdir DIR]
       (tools/bench/fleet_export.sh builds nothing: give it a release build's binaries)
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

PG_BIN = "/usr/lib/postgresql/15/bin"
TICK = os.sysconf("SC_CLK_TCK")
procs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    """utime + stime of a process (all its threads) from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def wait_port(port, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


def start(args, log, **kw):
    f = open(log, "w")
    p = subprocess.Popen(args, stdout=f, stderr=f, **kw)
    f.close()
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGCONT)
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def run(args, timeout=1800, **kw):
    t0 = time.monotonic()
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    took = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({r.returncode}): {r.stderr[-500:]}")
    return r, took


class Postgres:
    def __init__(self, workdir):
        self.dir = tempfile.mkdtemp(prefix="pg-", dir=workdir)
        self.port = free_port()
        self.prefix = []
        if os.geteuid() == 0:  # initdb refuses root
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.conninfo = f"host={self.dir} port={self.port} user=fleet dbname=postgres"

    def start(self):
        data = os.path.join(self.dir, "data")
        run([*self.prefix, f"{PG_BIN}/initdb", "-D", data, "-A", "trust", "-U", "fleet",
             "--no-sync"], timeout=120)
        # fsync stays on: the store's load rate with its real durability.
        self.proc = start([*self.prefix, f"{PG_BIN}/postgres", "-D", data, "-p", str(self.port),
                           "-k", self.dir, "-c", "listen_addresses="],
                          os.path.join(self.dir, "log"))
        deadline = time.monotonic() + 30
        while subprocess.run(["psql", self.conninfo, "-c", "select 1"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("postgres did not start")
            time.sleep(0.2)
        return self

    def sql(self, query):
        r, took = run(["psql", self.conninfo, "-AtF", "|", "-c", query], timeout=600)
        return r.stdout.strip(), took

    def timed(self, query):
        """The server's time for `query` (psql's \\timing), run twice in one session: the second."""
        r = subprocess.run(["psql", self.conninfo, "-At"], input=f"\\timing on\n{query};\n{query};\n",
                           capture_output=True, text=True, timeout=600)
        times = re.findall(r"^Time: ([0-9.]+) ms", r.stdout, re.M)
        if r.returncode != 0 or len(times) != 2:
            raise RuntimeError(f"psql: {r.stderr[-300:]}")
        return float(times[1])


class ClickHouse:
    """Debian's clickhouse-server (18.16) with a config of its own: random HTTP/TCP ports on
    127.0.0.1, its data under WORKDIR."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "clickhouse")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.http = free_port()
        tcp = free_port()
        d = self.dir
        with open(os.path.join(d, "config.xml"), "w") as f:
            f.write(f"""<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/server.err.log</errorlog></logger>
  <http_port>{self.http}</http_port><tcp_port>{tcp}</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>/etc/clickhouse-server/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
</yandex>
""")

    def start(self):
        server = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
        self.proc = start([server, f"--config-file={self.dir}/config.xml"],
                          os.path.join(self.dir, "stdout"))
        wait_port(self.http, "clickhouse-server")
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http}"

    def query(self, sql, data=None, settings=""):
        url = f"{self.url}/?query={urllib.parse.quote(sql)}{settings}"
        t0 = time.monotonic()
        with urllib.request.urlopen(url, data=data, timeout=600) as r:
            out = r.read().decode()
        return out.strip(), time.monotonic() - t0


# One schema for ClickHouse 18.16 and current releases: only types and clauses 18.16 has
# (String for addresses: IPv4/IPv6 types came in 19.x; no LowCardinality, no DateTime64, no
# JSON type), the PARTITION BY / ORDER BY form of MergeTree. ReplacingMergeTree on the key
# (appliance, boot, seq): a second copy of an event is removed when parts merge (OPTIMIZE ...
# FINAL forces it; SELECT ... FINAL reads as if merged).
CH_SCHEMA = """CREATE TABLE IF NOT EXISTS resets (
  appliance String, boot UInt64, seq UInt64, site String, stream_seq UInt64, ts Float64,
  orig_h String, orig_p UInt16, resp_h String, resp_p UInt16, cause String, conn_state String,
  rst_by String, confidence String, event String,
  day Date MATERIALIZED toDate(toDateTime(toUInt32(ts))))
ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (appliance, boot, seq)"""

PG_QUERIES = [
    ("per cause and appliance",
     "SELECT cause, appliance, count(*) FROM resets GROUP BY 1, 2 ORDER BY 3 DESC"),
    ("server reset on several boxes",
     "SELECT resp_h, count(DISTINCT appliance), count(*) FROM resets WHERE rst_by = 'resp' "
     "GROUP BY resp_h HAVING count(DISTINCT appliance) > 1 ORDER BY 3 DESC LIMIT 10"),
    ("one host's resets",
     "SELECT ts, appliance, orig_h, orig_p, resp_h, resp_p, cause FROM resets WHERE "
     "resp_h = '203.0.113.60' OR orig_h = '203.0.113.60' ORDER BY ts DESC LIMIT 50"),
    ("scan across sites",
     "SELECT orig_h, count(DISTINCT site), count(DISTINCT resp_h) FROM resets WHERE "
     "cause = 'refused' GROUP BY orig_h HAVING count(DISTINCT site) > 1 ORDER BY 3 DESC LIMIT 10"),
    ("a field of the event",
     "SELECT event->>'conn_state', count(*) FROM resets GROUP BY 1 ORDER BY 2 DESC LIMIT 10"),
]
CH_QUERIES = [
    ("per cause and appliance",
     "SELECT cause, appliance, count() FROM resets GROUP BY cause, appliance ORDER BY 3 DESC"),
    ("server reset on several boxes",
     "SELECT resp_h, uniqExact(appliance) AS a, count() AS n FROM resets WHERE rst_by = 'resp' "
     "GROUP BY resp_h HAVING a > 1 ORDER BY n DESC LIMIT 10"),
    ("one host's resets",
     "SELECT ts, appliance, orig_h, orig_p, resp_h, resp_p, cause FROM resets WHERE "
     "resp_h = '203.0.113.60' OR orig_h = '203.0.113.60' ORDER BY ts DESC LIMIT 50"),
    ("scan across sites",
     "SELECT orig_h, uniqExact(site) AS s, uniqExact(resp_h) AS h FROM resets WHERE "
     "cause = 'refused' GROUP BY orig_h HAVING s > 1 ORDER BY h DESC LIMIT 10"),
    ("a field of the event",
     "SELECT visitParamExtractString(event, 'conn_state') AS c, count() FROM resets "
     "GROUP BY c ORDER BY 2 DESC LIMIT 10"),
]


def ch_rows(lines, site):
    out = []
    for i, line in enumerate(lines):
        e = json.loads(line)
        out.append(json.dumps({
            "appliance": e["appliance"], "boot": e["boot"], "seq": e["seq"], "site": site,
            "stream_seq": i + 1, "ts": e["ts"], "orig_h": e["orig_h"], "orig_p": e["orig_p"],
            "resp_h": e["resp_h"], "resp_p": e["resp_p"], "cause": e["cause"],
            "conn_state": e["conn_state"], "rst_by": e["rst_by"],
            "confidence": e["confidence"], "event": line}, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rstscope")
    ap.add_argument("fleet")
    ap.add_argument("gen")
    ap.add_argument("--flows", type=int, default=100000, help="storm flows (5 resets each)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "rstscope-fleet-bench"))
    ap.add_argument("--no-clickhouse", action="store_true")
    ap.add_argument("--export-only", action="store_true", help="no consumer, no stores")
    ap.add_argument("--rounds", type=int, default=2, help="runs without and with --export")
    a = ap.parse_args()
    work = os.path.abspath(a.workdir)
    shutil.rmtree(os.path.join(work, "run"), ignore_errors=True)
    os.makedirs(os.path.join(work, "run"))
    run_dir = os.path.join(work, "run")
    if os.geteuid() == 0:
        os.chmod(run_dir, 0o755)
        os.chmod(work, 0o755)
    capture = os.path.join(work, f"storm-{a.flows}.pcap")
    if not os.path.exists(capture):
        run([a.gen, capture, "--storm", "--flows", str(a.flows)])
    base = ["--control", "none", "--config", os.devnull, "--quiet", "--pcap", capture]
    rows = []  # (figure, value, unit)

    def fig(name, value, unit):
        rows.append((name, value, unit))
        print(f"  {name}: {value:.4g} {unit}" if isinstance(value, float)
              else f"  {name}: {value} {unit}", flush=True)

    try:
        # 1. The appliance without and with --export, same capture, back to back.
        nats_port, nats_store = free_port(), os.path.join(run_dir, "js")
        nats = start([shutil.which("nats-server") or "/usr/sbin/nats-server", "-js", "-a",
                      "127.0.0.1", "-p", str(nats_port), "-sd", nats_store],
                     os.path.join(run_dir, "nats.log"))
        wait_port(nats_port, "nats-server")
        url = f"nats://127.0.0.1:{nats_port}"
        run([a.fleet, "stream", "--server", url])
        summ = os.path.join(run_dir, "summary.json")
        # Alternating runs without and with --export (--rounds each); the fastest of each kind
        # is compared, so a burst of load on the machine in one run does not decide the ratio.
        t_plain = t_export = float("inf")
        export_cpu = nats_cpu = cpu_plain = cpu_export = 0.0

        def appliance(log, *extra):
            if os.path.exists(log):
                os.remove(log)  # rstscope appends to its log
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            _, t = run([a.rstscope, *base, "--log", log, "--summary-json", summ, *extra])
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            return t, cpu, json.load(open(summ))

        for _ in range(a.rounds):
            t, cpu, plain = appliance(os.path.join(run_dir, "plain.log"))
            t_plain, cpu_plain = min(t_plain, t), cpu_plain + cpu
            nats_cpu0 = cpu_seconds(nats.pid)
            t, cpu, exp = appliance(os.path.join(run_dir, "export.log"), "--export", url,
                                    "--export-appliance", "a1", "--export-site", "lab")
            time.sleep(0.5)
            nats_cpu += cpu_seconds(nats.pid) - nats_cpu0
            t_export, cpu_export = min(t_export, t), cpu_export + cpu
            export_cpu += exp["export"]["cpu_seconds"]
            if exp["export_acked"] != exp["export_lines"]:
                print(f"  note: export acked {exp['export_acked']} of {exp['export_lines']}")
        n = exp["events_logged"]
        m = n / 1e6
        fig("events logged per run", n, "")
        fig("events/s without --export (best wall time of the runs, incl. EAL start)",
            n / t_plain, "/s")
        fig("events/s with --export (best wall time, incl. waiting for the last acks)",
            n / t_export, "/s")
        fig("with / without --export (wall time ratio)", t_export / t_plain, "")
        fig("rstscope CPU (user+sys, all threads) per million events without --export",
            cpu_plain / a.rounds / m, "s")
        fig("rstscope CPU (user+sys, all threads) per million events with --export",
            cpu_export / a.rounds / m, "s")
        fig("export_lines (last run)", exp["export_lines"], "")
        fig("export_acked (last run)", exp["export_acked"], "")
        fig("export_ring_full (last run)", exp["export_ring_full"], "")
        fig("export_dropped (last run)", exp["export_dropped"], "")
        fig("export_resent_batches (last run)", exp["export_resent_batches"], "")
        fig("exporter CPU per million events (export.cpu_seconds)",
            export_cpu / a.rounds / m, "s")
        fig("nats-server CPU per million events", nats_cpu / a.rounds / m, "s")
        # The stream holds every round's events.
        m_stream, n_stream = m * a.rounds, n * a.rounds
        info = json.loads(run([a.fleet, "stream", "--server", url])[0].stdout)
        fig("stream messages (batches)", info["messages"], "")
        fig("stream store on disk per million events", du(nats_store) / m_stream / 1e6, "MB")
        line_bytes = os.path.getsize(os.path.join(run_dir, "export.log")) / max(plain["events_logged"], 1)
        fig("log line size (mean)", line_bytes, "B")
        if plain["events_logged"] != n:
            print(f"  note: the run without --export logged {plain['events_logged']}")

        # 2. The consumer: the merged stream to a file (NATS read only), then into PostgreSQL.
        if a.export_only:
            raise StopIteration
        merged = os.path.join(run_dir, "merged.jsonl")
        _, t_read = run([a.fleet, "read", "--server", url, "--out", merged, "--idle", "1",
                         "--batch", "256"])
        fig("consumer read to a file", n_stream / max(t_read - 1, 1e-3), "events/s")
        pg = Postgres(run_dir).start()
        try:
            _, t_pg = run([a.fleet, "read", "--server", url, "--pg", pg.conninfo, "--idle", "1",
                           "--batch", "256"])
            count, _ = pg.sql("SELECT count(*) FROM resets")
            fig("PostgreSQL: rows stored", int(count), "")
            fig("PostgreSQL: consumer load rate (read --pg, end to end)",
                n_stream / max(t_pg - 1, 1e-3), "events/s")
            size, _ = pg.sql("SELECT pg_total_relation_size('resets')")
            fig("PostgreSQL: disk per million events (table + indexes)", int(size) / m_stream / 1e6, "MB")
            pg.sql("VACUUM ANALYZE resets")
            for name, q in PG_QUERIES:
                fig(f"PostgreSQL query: {name}", pg.timed(q), "ms (second run, psql \\timing)")
            _, t_again = run([a.fleet, "read", "--server", url, "--pg", pg.conninfo, "--idle",
                              "1", "--batch", "256"])
            again, _ = pg.sql("SELECT count(*) FROM resets")
            fig("PostgreSQL: rows after loading the same stream again (exactly once)",
                int(again), "")
            fig("PostgreSQL: second load rate", n_stream / max(t_again - 1, 1e-3), "events/s")
        finally:
            stop(pg.proc)

        # 3. ClickHouse: the same events, through its HTTP interface.
        if not a.no_clickhouse:
            with open(merged) as f:
                lines = [x.rstrip("\n") for x in f if x.strip()]
            body = ch_rows(lines, "lab")
            ch = ClickHouse(run_dir).start()
            try:
                version, _ = ch.query("SELECT version()")
                fig(f"ClickHouse {version}: rows to load", len(lines), "")
                _, t_che = run([a.fleet, "read", "--server", url, "--clickhouse", ch.url,
                                "--idle", "1", "--batch", "256"])
                count, _ = ch.query("SELECT count() FROM resets")
                fig("ClickHouse: rows stored", int(count), "")
                fig("ClickHouse: consumer load rate (read --clickhouse, end to end)",
                    n_stream / max(t_che - 1, 1e-3), "events/s")
                ch.query(CH_SCHEMA.replace("resets (", "resets_raw ("), data=b"")
                _, t_ch = ch.query("INSERT INTO resets_raw FORMAT JSONEachRow", data=body)
                fig("ClickHouse: store side alone, one HTTP INSERT of all rows (JSONEachRow)",
                    n_stream / t_ch, "events/s")
                ch.query("OPTIMIZE TABLE resets FINAL", data=b"")
                size, _ = ch.query("SELECT sum(bytes_on_disk) FROM system.parts "
                                   "WHERE table = 'resets' AND active")
                fig("ClickHouse: disk per million events (merged parts)", int(size) / m_stream / 1e6,
                    "MB")
                for name, q in CH_QUERIES:
                    q = q.replace("FROM resets", "FROM resets FINAL")
                    ch.query(q)
                    _, took = ch.query(q)
                    fig(f"ClickHouse query: {name}", took * 1000, "ms (second run, FINAL, HTTP)")
                run([a.fleet, "read", "--server", url, "--clickhouse", ch.url, "--idle", "1",
                     "--batch", "256"])
                dup, _ = ch.query("SELECT count() FROM resets")
                fig("ClickHouse: rows after loading the same stream again (before a merge)",
                    int(dup), "")
                final, _ = ch.query("SELECT count() FROM resets FINAL")
                fig("ClickHouse: the same, read with FINAL", int(final), "")
                _, t_opt = ch.query("OPTIMIZE TABLE resets FINAL", data=b"")
                merged_count, _ = ch.query("SELECT count() FROM resets")
                fig("ClickHouse: rows after OPTIMIZE TABLE FINAL", int(merged_count), "")
                fig("ClickHouse: OPTIMIZE TABLE FINAL took", t_opt * 1000, "ms")
            finally:
                stop(ch.proc)
    except StopIteration:
        pass
    finally:
        for p in procs:
            stop(p)
    print()
    print(f"{'figure':<78} {'value':>14}  unit")
    for name, value, unit in rows:
        v = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}"
        print(f"{name:<78} {v:>14}  {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
