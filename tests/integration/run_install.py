#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""`meson install` into a DESTDIR, and the installed service's pieces at work.

usage: run_install.py BUILD_DIR WORKDIR DEMO_PCAP

1. meson install --destdir: every piece where docs/deployment.md says (rstscope in sbin,
   rstscopectl in bin, both man pages, both completions, rstscope.conf and signatures.conf,
   /etc/default/rstscope, the logrotate snippet, the systemd unit).
2. In a private mount namespace (unshare --mount) the DESTDIR's prefix is mounted over the real
   one, /var/log and /run over empty directories: the installed rstscope, without --config,
   reads the installed rstscope.conf (--check-config says which file) and analyses the demo
   capture into /var/log/rstscope/events.jsonl as that file says; systemd-analyze verify accepts
   the unit; the unit's ExecStartPre (--check-config with /etc/default/rstscope's arguments) passes.
3. Both man pages render with `man -l` without a warning and name every option and command the
   programs list; both completions load in bash and complete an option value and a command.
Exit 1 on a failure, 77 when it cannot run here (not root, no unshare, a prefix of /usr).
"""
import json
import os
import re
import shutil
import subprocess
import sys

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail)[:600] if detail and not ok else ''}")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def main():
    build, workdir, demo = (os.path.abspath(a) for a in sys.argv[1:4])
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("SKIP: needs root and unshare for a private mount namespace")
        sys.exit(77)
    options = {o["name"]: o["value"] for o in json.loads(
        run(["meson", "introspect", "--buildoptions", build]).stdout)}
    prefix = options["prefix"]
    join = lambda d: d if os.path.isabs(d) else os.path.join(prefix, d)  # noqa: E731
    sbindir, bindir, sysconfdir = join(options["sbindir"]), join(options["bindir"]), join(options["sysconfdir"])
    mandir, datadir = join(options["mandir"]), join(options["datadir"])
    if prefix in ("/", "/usr") or not os.path.isdir(prefix):
        print(f"SKIP: prefix {prefix} cannot be mounted over in a test")
        sys.exit(77)
    shutil.rmtree(workdir, ignore_errors=True)
    dest = os.path.join(workdir, "dest")
    p = run(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", dest])
    check("meson install --destdir", p.returncode == 0, p.stdout + p.stderr)
    expected = [f"{sbindir}/rstscope", f"{bindir}/rstscopectl", f"{mandir}/man8/rstscope.8",
                f"{mandir}/man1/rstscopectl.1", f"{sysconfdir}/rstscope/rstscope.conf",
                f"{sysconfdir}/rstscope/signatures.conf", f"{sysconfdir}/default/rstscope",
                f"{sysconfdir}/logrotate.d/rstscope", f"{prefix}/lib/systemd/system/rstscope.service",
                f"{datadir}/bash-completion/completions/rstscope",
                f"{datadir}/bash-completion/completions/rstscopectl"]
    missing = [f for f in expected if not os.path.isfile(dest + f)]
    check(f"the layout: {len(expected)} files where expected", not missing, missing)
    check("rstscope is not installed in bin", not os.path.exists(dest + f"{bindir}/rstscope"))
    if missing:
        sys.exit(1)
    unit = f"{prefix}/lib/systemd/system/rstscope.service"
    listed = json.loads(run([dest + sbindir + "/rstscope", "--list-options"]).stdout)
    ctl_listed = json.loads(run([dest + bindir + "/rstscopectl", "--list-options"]).stdout)
    check("the installed rstscope's default configuration is the installed file",
          listed["config"] == f"{sysconfdir}/rstscope/rstscope.conf", listed["config"])

    # In a private mount namespace: the DESTDIR seen at the real paths.
    varlog = os.path.join(workdir, "varlog")
    os.makedirs(varlog)
    mounts = [f"mount --bind {dest}{prefix} {prefix}"]
    if not sysconfdir.startswith(prefix + "/"):
        mounts.append(f"mount --bind {dest}{sysconfdir} {sysconfdir}")
    script = " && ".join(mounts + [
        f"mount --bind {varlog} /var/log", "mount -t tmpfs none /run",
        "mkdir -p /var/log/rstscope /run/rstscope",
        f"{sbindir}/rstscope --check-config > {workdir}/check.json",
        f"{sbindir}/rstscope --pcap {demo} --quiet",
        f"(systemd-analyze verify {unit} > {workdir}/verify.txt 2>&1; echo $? > {workdir}/verify.rc)",
        # The unit's ExecStartPre with /etc/default/rstscope's (example) arguments.
        f"(. {sysconfdir}/default/rstscope; {sbindir}/rstscope $RSTSCOPE_ARGS --iface lo --check-config > /dev/null)",
    ])
    p = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    check("installed rstscope runs with its default configuration", p.returncode == 0,
          p.stdout + p.stderr)
    try:
        effective = json.load(open(os.path.join(workdir, "check.json")))
    except (OSError, ValueError) as e:
        effective = {"error": str(e)}
    check("--check-config: the installed rstscope.conf is read without --config",
          effective.get("config") == f"{sysconfdir}/rstscope/rstscope.conf" and
          effective.get("log") == "/var/log/rstscope/events.jsonl", effective)
    log = os.path.join(varlog, "rstscope", "events.jsonl")
    events = [json.loads(l) for l in open(log)] if os.path.exists(log) else []
    check("the demo capture's events land in /var/log/rstscope/events.jsonl",
          len([e for e in events if e.get("type") == "reset"]) >= 10, f"{len(events)} lines")
    if shutil.which("systemd-analyze"):
        rc = open(os.path.join(workdir, "verify.rc")).read().strip() if os.path.exists(
            os.path.join(workdir, "verify.rc")) else "?"
        out = open(os.path.join(workdir, "verify.txt")).read() if rc != "?" else ""
        # Only this unit's own findings count (the host's other units are not ours).
        own = [l for l in out.splitlines() if "rstscope" in l]
        check("systemd-analyze verify accepts the unit", rc == "0" and not own, out)
    else:
        print("SKIP systemd-analyze: not installed")
    unit_text = open(dest + unit).read()
    check("the unit: Type=notify, check-config first, three capabilities and no more",
          "Type=notify" in unit_text and f"ExecStartPre={sbindir}/rstscope $RSTSCOPE_ARGS --check-config" in unit_text
          and "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN CAP_IPC_LOCK\n" in unit_text)
    logrotate = open(dest + f"{sysconfdir}/logrotate.d/rstscope").read()
    check("logrotate: the configured log, reopened with rstscopectl log-reopen",
          "/var/log/rstscope/events.jsonl {" in logrotate and
          f"{bindir}/rstscopectl --socket {listed['control_socket']} log-reopen" in logrotate and
          "log-reopen" in ctl_listed["commands"])

    # Man pages: rendered without a warning, naming every option and command.
    for page, d in ((f"{mandir}/man8/rstscope.8", listed), (f"{mandir}/man1/rstscopectl.1", ctl_listed)):
        p = run(["man", "--warnings", "-l", dest + page], env=dict(os.environ, MANWIDTH="200",
                                                                     MAN_KEEP_FORMATTING="0"))
        # Bold and underline as overstrikes (no terminal) and typographic hyphens, undone.
        text = re.sub(r".\x08", "", p.stdout)
        for hyphen in ("\u2010", "\u2011", "\u2212"):
            text = text.replace(hyphen, "-")
        names = [f"--{o['name']}" for g in d["groups"] for o in g["options"]]
        names += list(d.get("commands", {}))
        absent = [n for n in names if n not in text]
        check(f"man -l {os.path.basename(page)}: renders without warning, names all {len(names)} "
              "options and commands", p.returncode == 0 and not p.stderr.strip() and not absent,
              f"{p.stderr[:300]} absent={absent}")

    # Completions: load, complete a value and a command.
    comp = dest + f"{datadir}/bash-completion/completions"
    script = (f"source {comp}/rstscope && source {comp}/rstscopectl && complete -p rstscope rstscopectl && "
              "COMP_WORDS=(rstscope --mode i); COMP_CWORD=2; _rstscope; echo \"R1 ${COMPREPLY[*]}\"; "
              "COMP_WORDS=(rstscope --check); COMP_CWORD=1; _rstscope; echo \"R2 ${COMPREPLY[*]}\"; "
              "COMP_WORDS=(rstscopectl --socket /x log-); COMP_CWORD=3; _rstscopectl; echo \"R3 ${COMPREPLY[*]}\"; "
              "COMP_WORDS=(rstscopectl events --cause ref); COMP_CWORD=3; _rstscopectl; echo \"R4 ${COMPREPLY[*]}\"")
    p = run(["bash", "--norc", "-c", script])
    out = p.stdout
    check("bash completion loads and completes values, options and commands",
          p.returncode == 0 and "R1 inline\n" in out and "R2 --check-config\n" in out and
          "R3 log-reopen\n" in out and "R4 refused\n" in out, out + p.stderr)
    failed = results.count(False)
    print(f"{results.count(True)} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
