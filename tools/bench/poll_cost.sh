#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# What control-socket clients cost the packet path (issue 12): the same capture analysed with no
# client and with one polling `stats` and `events` 10 times a second, runs alternating so that the
# machine's load falls on both alike. Prints each run's wall time and the ratio of the medians.
# usage: poll_cost.sh RSTSCOPE RSTSCOPECTL CAPTURE [RUNS] [WORKDIR]
set -euo pipefail
rstscope=$1 ctl=$2 capture=$3 runs=${4:-3} work=${5:-$(mktemp -d)}
mkdir -p "$work"
sock="$work/control.sock"

one_run() {  # $1: with or without; prints seconds
    local poller=""
    local start end
    start=$(date +%s.%N)
    "$rstscope" --pcap "$capture" --log "$work/events.jsonl" --control "$sock" --quiet \
        --config /dev/null --workers 1 &
    local pid=$!
    if [ "$1" = with ]; then
        (while kill -0 "$pid" 2>/dev/null; do
             "$ctl" --socket "$sock" --timeout 1 stats >/dev/null 2>&1 || true
             "$ctl" --socket "$sock" --timeout 1 events --limit 20 >/dev/null 2>&1 || true
             sleep 0.1
         done) &
        poller=$!
    fi
    wait "$pid"
    end=$(date +%s.%N)
    [ -n "$poller" ] && wait "$poller" 2>/dev/null || true
    echo "$end - $start" | bc
}

without=() with=()
for ((i = 0; i < runs; i++)); do
    without+=("$(one_run without)")
    with+=("$(one_run with)")
    echo "run $i: no client ${without[-1]} s, polling client ${with[-1]} s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m0=$(median "${without[@]}") m1=$(median "${with[@]}")
echo "median: no client $m0 s, polling client $m1 s, ratio $(echo "scale=3; $m1 / $m0" | bc)"
