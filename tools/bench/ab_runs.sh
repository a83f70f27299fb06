#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Two rstscope binaries (or one against itself, to see the noise) on one capture, whole process,
# in ABBA order: on the development VM a run's speed depends on what ran just before it (memory
# the host took back, docs/performance.md "Method and caveats"), and strict alternation (ABAB)
# favoured whichever binary ran first in each pair. Prints each run, then per binary the median,
# lowest and highest wall time and the medians of user CPU, system CPU and peak RSS.
#
# usage: tools/bench/ab_runs.sh [--rounds N] BINARY_A BINARY_B CAPTURE [RSTSCOPE OPTIONS...]
#   --rounds N  ABBA rounds (default 4: eight runs of each binary)
# Each run: BINARY --pcap CAPTURE --log (a fresh file, removed after) --control none --quiet
# --config /dev/null [RSTSCOPE OPTIONS...]. Wall times of a few hundredths apart are within this
# machine's noise; compare user CPU too, and instruction counts (callgrind) where they decide.
set -euo pipefail

rounds=4
if [ "${1:-}" = "--rounds" ] && [ $# -ge 2 ]; then
    rounds=$2
    shift 2
fi
if [ $# -lt 3 ] || ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
    sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
a=$1 b=$2 capture=$3
shift 3
for binary in "$a" "$b"; do
    [ -x "$binary" ] || { echo "ab_runs.sh: $binary is not an executable" >&2; exit 2; }
done
[ -r "$capture" ] || { echo "ab_runs.sh: cannot read $capture" >&2; exit 2; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
runs=$scratch/runs
for _ in $(seq "$rounds"); do
    for which in A B B A; do
        binary=$a
        [ "$which" = B ] && binary=$b
        rm -f "$scratch/events.log"
        /usr/bin/time -f "%e %U %S %M" -o "$scratch/time" "$binary" --pcap "$capture" \
            --log "$scratch/events.log" --control none --quiet --config /dev/null "$@" \
            > /dev/null 2> "$scratch/stderr" || {
            echo "ab_runs.sh: $binary failed:" >&2
            cat "$scratch/stderr" >&2
            exit 1
        }
        echo "$which $(tail -1 "$scratch/time")" | tee -a "$runs"
    done
done
/usr/bin/python3 - "$runs" "$a" "$b" <<'EOF'
import statistics
import sys

rows = {}
for line in open(sys.argv[1]):
    which, wall, user, system, rss_kib = line.split()
    rows.setdefault(which, []).append((float(wall), float(user), float(system), int(rss_kib)))
for which, binary in (("A", sys.argv[2]), ("B", sys.argv[3])):
    wall, user, system, rss = zip(*rows[which])
    print(f"{which} {binary}: runs={len(wall)} wall median {statistics.median(wall):.3f} s "
          f"(lowest {min(wall):.2f}, highest {max(wall):.2f}), user {statistics.median(user):.3f} s, "
          f"system {statistics.median(system):.3f} s, peak RSS {statistics.median(rss) / 1024:.0f} MiB")
EOF
