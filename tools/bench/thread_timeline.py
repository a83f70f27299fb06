#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Where a run's wall time goes, thread by thread: runs COMMAND under `perf record -e cpu-clock
-g` and prints each thread's first and last sample (seconds after the run's first sample) and its
sample count, then, with --buckets, each thread's most sampled frames per tenth of a second. The
frame shown is the innermost one that names rstscope, DPDK, EAL or libpcap work, beside the
innermost frame of all (a kernel page clear, a copy). CPU samples only: a thread that sleeps or
waits shows as a gap. The method behind docs/performance.md's per-thread figures.

--flat samples without call graphs: on this project's VM unwinding the kernel's stack at each
sample made page faults look three times dearer than they are (docs/performance.md); each sample
then names only its innermost frame.

usage: tools/bench/thread_timeline.py [--buckets] [--flat] [--frequency HZ] [--keep FILE] -- COMMAND...
Needs `perf` (Debian: linux-perf) and permission to sample (root, or perf_event_paranoid <= 1)."""
import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile

NAMED = ("rstscope::", "rte_", "eal_", "pcap")


def samples(perf_data, flat=False):
    """(tid, thread name, seconds since the first sample, frames innermost first) per sample."""
    out = subprocess.run(["perf", "script", "-i", perf_data, "-F", "comm,tid,time,ip,sym"],
                         capture_output=True, text=True, check=True).stdout
    start = None
    # With call graphs a sample is a block, "comm tid time:" then a frame a line; without, one
    # line, "comm tid time: ip sym".
    for block in out.split("\n" if flat else "\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        head = lines[0].split()
        # comm may hold spaces: the time is the header's last field, or, when the frame follows
        # on its line, the first after comm and tid that ends in ':'.
        at = (next((i for i, f in enumerate(head) if i >= 2 and f.endswith(":")), None) if flat
              else len(head) - 1)
        if at is None:
            continue
        time = float(head[at].rstrip(":"))
        start = time if start is None else start
        if flat:
            frames = [" ".join(head[at + 2:]) or "?"]
        else:
            frames = [line.strip().split(" ", 1)[1] if " " in line.strip() else "?"
                      for line in lines[1:]]
        yield head[at - 1], " ".join(head[:at - 1]), time - start, frames


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buckets", action="store_true", help="top frames per 0.1 s per thread")
    parser.add_argument("--flat", action="store_true", help="no call graphs (innermost frame only)")
    parser.add_argument("--frequency", type=int, default=2000, help="samples a second (100-10000)")
    parser.add_argument("--keep", help="keep perf's data in this file")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    if not 100 <= args.frequency <= 10000:
        parser.error("--frequency: 100 to 10000")
    if shutil.which("perf") is None:
        sys.exit("thread_timeline: perf is required (Debian: linux-perf)")
    workdir = tempfile.mkdtemp(prefix="thread-timeline-")
    perf_data = args.keep or os.path.join(workdir, "perf.data")
    try:
        graph = [] if args.flat else ["-g"]
        run = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(args.frequency)]
                             + graph + ["-o", perf_data, "--"] + command)
        if run.returncode != 0:
            print(f"thread_timeline: the command exited with {run.returncode}", file=sys.stderr)
        first, last, count, names = {}, {}, collections.Counter(), {}
        buckets = collections.defaultdict(collections.Counter)
        for tid, comm, t, frames in samples(perf_data, args.flat):
            first.setdefault(tid, t)
            last[tid] = t
            count[tid] += 1
            names[tid] = comm
            if args.buckets:
                named = next((f for f in frames if any(n in f for n in NAMED)), "-")
                inner = frames[0] if frames else "?"
                buckets[(tid, int(t * 10))][f"{named[:70]} | {inner[:40]}"] += 1
        print(f"{'thread':<20} {'tid':>8} {'first s':>8} {'last s':>8} {'samples':>8}")
        for tid in sorted(first, key=lambda x: first[x]):
            print(f"{names[tid]:<20} {tid:>8} {first[tid]:8.3f} {last[tid]:8.3f} {count[tid]:8d}")
        for (tid, tenth), frames in sorted(buckets.items(), key=lambda kv: (first[kv[0][0]], kv[0][1])):
            print(f"\n{names[tid]} {tid} {tenth / 10:.1f}-{(tenth + 1) / 10:.1f} s: "
                  f"{sum(frames.values())} samples")
            for frame, n in frames.most_common(4):
                print(f"    {n:6d}  {frame}")
        return run.returncode
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
