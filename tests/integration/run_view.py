#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The operator's view, tested as a person uses it.

usage: run_view.py RSTSCOPE RSTSCOPECTL WORKDIR DEMO_PCAP GEN_BIG_PCAP

1. The HTML report: `rstscope --pcap DEMO --report report.html` rendered by headless Chromium
   (Debian's `chromium`): its DOM after the page's script ran (`--dump-dom`) shows the numbers of
   the event log (total, per cause, one row per event, findings), the search filters rows
   (`#q=refused` in the address), no error was recorded by the page and none logged on Chromium's
   console; a screenshot shows the timeline (pixels of the causes' colours); nothing is fetched
   (the page's Content-Security-Policy forbids it, and it names no URL).
2. The live view: rstscope live on `lo` (a network namespace of its own) with a control socket,
   refused connections made meanwhile, `rstscopectl top --watch` run inside tmux and its screen
   read with `tmux capture-pane`: the resets by cause, the top servers, a resize redrawn to the
   new width, `q` quits and restores the terminal (exit 0). `top --once` prints the same view as
   plain text without escape sequences. The demo capture replayed onto lo (tools/demo/replay.py,
   the README's way) shows five causes or more in the view.
3. Progress: a capture of 500 000 packets (tools/bench/gen_big_pcap) analysed inside tmux shows
   the progress line (packets of total, %, rate, resets, ETA) while it runs and none once the
   summary is printed; with standard error on a pipe, no progress at all.
Prints one line per check and `N passed, N failed, N skipped`; exit 1 on any failure, 77 when it
cannot run here (no chromium, tmux or root). Every wait is bounded; every process and the tmux
session it starts are stopped.
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import closed_port, refuse  # noqa: E402
from processes import stop  # noqa: E402

results = []
skipped = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail)[:600] if detail and not ok else ''}",
          flush=True)


def skip(name, why):
    skipped.append(name)
    print(f"SKIP {name}: {why}", flush=True)


def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def chromium(args, workdir, timeout=60):
    """Headless Chromium with a profile of its own; returns (stdout, stderr)."""
    profile = os.path.join(workdir, "chromium-profile")
    cmd = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu",
           "--no-first-run", "--disable-extensions", "--disable-background-networking",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        err += "\n(timed out)"
    return out, err


def console_messages(stderr):
    """Lines Chromium logged for the page's console (errors, warnings, uncaught exceptions)."""
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line or "Uncaught" in line or "Refused to" in line]


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA non-interlaced PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace:
                raise ValueError(f"unexpected PNG format depth={depth} colour={colour}")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, rows, channels


def report(rstscope, workdir, demo):
    page = os.path.join(workdir, "report.html")
    log = os.path.join(workdir, "report-events.jsonl")
    for f in (page, log):
        if os.path.exists(f):
            os.unlink(f)
    flight = os.path.join(workdir, "flight")
    shutil.rmtree(flight, ignore_errors=True)
    p = subprocess.run([rstscope, "--pcap", demo, "--log", log, "--report", page, "--control",
                        "none", "--config", os.devnull, "--recorder-dir", flight],
                       capture_output=True, text=True, timeout=120)
    check("rstscope --report: exit 0, the report written", p.returncode == 0 and os.path.exists(page),
          p.stderr[-400:])
    if not os.path.exists(page):
        return
    records = [json.loads(line) for line in open(log) if line.strip()]
    events = [r for r in records if r.get("type", "reset") == "reset"]
    findings = [r for r in records if r.get("type") == "finding"]
    causes = {}
    for e in events:
        causes[e["cause"]] = causes.get(e["cause"], 0) + 1
    html = open(page).read()
    # Each event's pcap cell links its flight-recorder file, relative to the page.
    links = dict(re.findall(r'<tr id="ev-(\d+)"[^\n]*?<a href="([^"]+)" title="\d+ packets', html))
    wanted = {str(e["id"]): "flight/" + e["pcap"]["file"] for e in events if "pcap" in e}
    check("report: each event's pcap cell links its flight-recorder file, which exists",
          wanted and links == wanted and
          all(os.path.exists(os.path.join(workdir, f)) for f in links.values()),
          f"{len(links)} links, {len(wanted)} events with a pcap")
    # Offline: nothing to fetch. The policy forbids it; no URL is named besides SVG's namespace.
    urls = [u for u in re.findall(r"""(?:https?:|ftp:)//[^"'\s<>)]*""", html)
            if u != "http://www.w3.org/2000/svg"]
    check("report: self-contained (CSP default-src 'none', no URL, no src=)",
          "default-src 'none'" in html and not urls and " src=" not in html, urls[:5])
    if not chromium_binary():
        skip("report in Chromium", "no chromium (Debian's chromium package)")
        return
    url = "file://" + os.path.abspath(page)
    dom, err = chromium(["--dump-dom", url], workdir)
    console = console_messages(err)
    check("Chromium: the page's script ran (data-ready) and recorded no error",
          'data-ready="1"' in dom and re.search(r'<div id="errors" hidden="">\s*</div>', dom),
          dom[:300] + err[-300:])
    check("Chromium: nothing on the console", not console, console[:5])
    total = re.search(r'<span id="total" data-value="(\d+)">', dom)
    check("report: total reset connections = the event log's",
          total and int(total.group(1)) == len(events) and len(events) > 0,
          f"page {total and total.group(1)} log {len(events)}")
    page_causes = {m.group(1): int(m.group(2)) for m in re.finditer(
        r'<tr data-cause="([a-z_]+)"><td><span class="swatch"[^>]*></span>[a-z_]+</td>'
        r'<td class="n">(\d+)</td>', dom)}
    check("report: resets by cause = the event log's", page_causes == causes,
          f"page {page_causes} log {causes}")
    rows = re.findall(r'<tr id="ev-(\d+)"', dom)
    check("report: one table row per event, by id",
          sorted(int(r) for r in rows) == sorted(e["id"] for e in events), f"{len(rows)} rows")
    timeline = sum(int(n) for n in re.findall(r'data-count="(\d+)"', dom))
    check("report: the timeline's bars hold every event", timeline == len(events),
          f"{timeline} vs {len(events)}")
    shown = re.search(r'id="findings-count" data-value="(\d+)"', dom)
    check("report: findings counted as in the log", shown and int(shown.group(1)) == len(findings),
          f"page {shown and shown.group(1)} log {len(findings)}")
    # Search: #q=refused leaves the refused events' rows only ("refused" appears in no other
    # column of the demo's events).
    dom, err = chromium(["--dump-dom", url + "#q=refused"], workdir)
    visible = [m for m in re.finditer(r'<tr id="ev-\d+" data-cause="([a-z_]+)"( hidden="")?', dom)
               if not m.group(2)]
    shown_text = re.search(r'<span id="shown">(\d+)</span>', dom)
    check("report: search '#q=refused' shows the refused rows only",
          causes.get("refused", 0) > 0 and len(visible) == causes["refused"] and
          all(m.group(1) == "refused" for m in visible) and shown_text and
          int(shown_text.group(1)) == causes["refused"],
          f"{len(visible)} visible, shown {shown_text and shown_text.group(1)}, "
          f"log {causes.get('refused')}")
    # Screenshot: the timeline's bars are drawn in the causes' colours.
    shot = os.path.join(workdir, "report.png")
    if os.path.exists(shot):
        os.unlink(shot)
    _, err = chromium([f"--screenshot={shot}", "--window-size=1280,1400",
                       "--hide-scrollbars", url], workdir)
    if not os.path.exists(shot):
        check("Chromium: screenshot written", False, err[-300:])
        return
    colours = {m.group(2): m.group(1) for m in re.finditer(
        r'<rect [^>]*fill="#([0-9a-f]{6})" data-cause="([a-z_]+)"', html)}
    width, height, pixels, channels = png_pixels(shot)
    seen = set()
    for row in pixels[:min(height, 900)]:
        for x in range(0, width * channels, channels):
            seen.add(bytes(row[x:x + 3]).hex())
    missing = [cause for cause, colour in colours.items() if colour not in seen]
    check("screenshot: the timeline shows every cause's colour", colours and not missing,
          f"missing {missing} of {colours}")
    print(f"screenshot: {shot} ({width}x{height})")


def tmux(*args, timeout=10):
    return subprocess.run(["tmux", "-L", "rstscope-view-test", *args], capture_output=True,
                          text=True, timeout=timeout)


def screen(session):
    return tmux("capture-pane", "-p", "-t", session).stdout


def wait_screen(session, predicate, timeout=15, poll_s=0.3):
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        text = screen(session)
        if predicate(text):
            return text, True
        time.sleep(poll_s)
    return text, False


def progress(rstscope, workdir, gen_big_pcap):
    if not shutil.which("tmux"):
        skip("progress in tmux", "no tmux")
        return
    big = os.path.join(workdir, "progress.pcap")
    # 1.5 M packets: the analysis must outlast a few of the poll's looks at the terminal (with
    # 500 k it took too little time once the decoder got its fast path).
    subprocess.run([gen_big_pcap, big, "--flows", "150000"], capture_output=True, timeout=60,
                   check=True)
    cmd = [rstscope, "--pcap", big, "--log", os.devnull, "--control", "none", "--config",
           os.devnull]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    check("progress: none when standard error is a pipe",
          p.returncode == 0 and "packets/s" not in p.stderr and "rstscope summary" in p.stderr,
          p.stderr[-300:])
    session = "progress"
    try:
        tmux("kill-server")
        tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "50",
             " ".join(cmd) + "; echo RUN-EXITED $?; sleep 60")
        text, ok = wait_screen(session, lambda t: re.search(
            r"of 1\.5 M packets \(\d+\.\d %\), .* packets/s, \d+ resets, ETA ", t), timeout=60,
            poll_s=0.1)
        check("progress: the line on the terminal while the capture is analysed", ok, text)
        text, ok = wait_screen(session, lambda t: "RUN-EXITED" in t, timeout=120)
        text = tmux("capture-pane", "-p", "-S", "-", "-t", session).stdout  # with the scrollback
        check("progress: cleared before the summary, run exit 0",
              ok and "RUN-EXITED 0" in text and "rstscope summary" in text and
              "packets/s" not in text, text)
    finally:
        tmux("kill-server")
        if os.path.exists(big):
            os.unlink(big)


def live(rstscope, rstscopectl, workdir, demo):
    if not shutil.which("tmux"):
        skip("live view in tmux", "no tmux")
        return
    sock = os.path.join(workdir, "view.sock")
    log = os.path.join(workdir, "view-events.jsonl")
    proc = subprocess.Popen([rstscope, "--iface", "lo", "--control", sock, "--log", log,
                             "--linger", "0.3", "--config", os.devnull],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    session = "view"
    try:
        deadline = time.time() + 30
        ready = False
        while time.time() < deadline and proc.poll() is None:
            p = subprocess.run([rstscopectl, "--socket", sock, "--json", "ping"],
                               capture_output=True, text=True, timeout=10)
            if '"ready":true' in p.stdout:
                ready = True
                break
            time.sleep(0.2)
        check("live: rstscope on lo ready", ready)
        if not ready:
            return
        port = closed_port()
        for _ in range(6):
            refuse(port)
        tmux("kill-server")
        shell = (f"{rstscopectl} --socket {sock} top --watch --interval 0.5; "
                 "echo VIEW-EXITED $?; sleep 60")
        tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "50", shell)
        text, ok = wait_screen(session, lambda t: re.search(r"^  refused\s+\S+\s+6\s*$", t, re.M))
        check("top --watch: resets by cause on the screen (refused, 6)", ok, text)
        ok = f"127.0.0.1:{port}" in text and re.search(
            rf"^127\.0\.0\.1:{port}\s+6\s", text, re.M)
        check("top --watch: the top server with its resets", ok, text)
        check("top --watch: findings, drops and rings sections",
              "OPEN FINDINGS" in text and "DROPS AND LOSSES" in text and "EVENT RINGS" in text and
              re.search(r"0: \d+/\d+ \(", text), text)
        # More resets while it watches: the screen follows.
        for _ in range(4):
            refuse(port)
        text, ok = wait_screen(session, lambda t: re.search(r"^  refused\s+\S+\s+10\s*$", t, re.M))
        check("top --watch: refreshed in place (refused, 10)", ok, text)
        # A narrower terminal: redrawn cut to its width (SIGWINCH).
        tmux("resize-window", "-t", session, "-x", "50", "-y", "40")
        text, ok = wait_screen(session, lambda t: "quits" not in t and "rstscope top" in t)
        lines = text.splitlines()
        check("top --watch: redrawn for a 50-column terminal",
              ok and all(len(line) <= 50 for line in lines) and
              any(line.startswith("packets ") for line in lines), text)
        tmux("send-keys", "-t", session, "q")
        text, ok = wait_screen(session, lambda t: "VIEW-EXITED" in t)
        check("top --watch: q quits with 0 and restores the screen",
              ok and "VIEW-EXITED 0" in text and "RESETS BY CAUSE" not in text, text)
        # --once: plain text, rates over one interval.
        p = subprocess.run([rstscopectl, "--socket", sock, "top", "--once", "--interval", "0.3"],
                           capture_output=True, text=True, timeout=20)
        check("top --once: plain text with the view, exit 0",
              p.returncode == 0 and "\x1b" not in p.stdout and
              re.search(r"^  refused\s+\S+\s+10\s*$", p.stdout, re.M) and
              "TOP SERVERS" in p.stdout, p.stdout + p.stderr)
        p = subprocess.run([rstscopectl, "--socket", sock, "top", "--watch"], capture_output=True,
                           text=True, timeout=20)
        check("top --watch without a terminal: a usage error (2) pointing to --once",
              p.returncode == 2 and "--once" in p.stderr, p.stderr)
        # The README's way to see it on the demo capture: replayed onto lo by tools/demo/replay.py.
        replay = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                              "demo", "replay.py")
        p = subprocess.run(["/usr/bin/python3", replay, demo, "lo"], capture_output=True,
                           text=True, timeout=60)
        deadline, causes = time.time() + 15, set()
        while time.time() < deadline:
            time.sleep(1)
            once = subprocess.run([rstscopectl, "--socket", sock, "top", "--once", "--interval",
                                   "0.2"], capture_output=True, text=True, timeout=20)
            causes = set(re.findall(r"^  ([a-z_]+)\s+\S+\s+\d+\s*$", once.stdout, re.M))
            if len(causes) >= 5:
                break
        check("the demo capture replayed on lo (tools/demo/replay.py): five causes or more in the view",
              p.returncode == 0 and len(causes) >= 5, f"{causes} {p.stderr[-300:]}")
        p = subprocess.run([rstscopectl, "--socket", sock, "shutdown"], capture_output=True,
                           text=True, timeout=20)
        proc.wait(timeout=30)
        p = subprocess.run([rstscopectl, "--socket", sock, "top", "--once"], capture_output=True,
                           text=True, timeout=20)
        check("top --once without a daemon: exit 3", p.returncode == 3, p.stderr)
    finally:
        tmux("kill-server")
        stop(proc)


def main():
    rstscope, rstscopectl, workdir, demo, gen_big_pcap = sys.argv[1:6]
    os.makedirs(workdir, exist_ok=True)
    if os.environ.get("RSTSCOPE_VIEW_NETNS") != "1":
        report(rstscope, workdir, demo)
        progress(rstscope, workdir, gen_big_pcap)
        if os.geteuid() != 0:
            skip("live view", "live capture on lo needs root")
        elif not (shutil.which("unshare") and shutil.which("ip")):
            skip("live view", "needs unshare and ip for a private loopback")
        else:
            # A network namespace of its own: its lo carries only this test's connections.
            env = dict(os.environ, RSTSCOPE_VIEW_NETNS="1")
            p = subprocess.run(["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"',
                                "sh", sys.executable, *sys.argv], env=env, timeout=150)
            results.append(p.returncode in (0, 77))
    else:
        live(rstscope, rstscopectl, workdir, demo)
    failed = results.count(False)
    print(f"{results.count(True)} passed, {failed} failed, {len(skipped)} skipped")
    sys.exit(1 if failed else (77 if skipped and not results else 0))


if __name__ == "__main__":
    main()
