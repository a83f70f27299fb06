#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Do two rstscope builds write the same event log? Runs both binaries on every generated scenario
# capture (tools/gen_scenarios.py), every shared trace (../shared/traces, when present) and the
# demo capture, with 1 and 2 workers, and prints each run whose log or exit code differs, then
# `runs=N differing=M`. Exit 1 when any differs. For changes that must not change what rstscope
# says (speed, memory): issue 9's "byte-identical" check.
#
# usage: tools/bench/compare_logs.sh OLD_RSTSCOPE NEW_RSTSCOPE WORKDIR [EXTRA_OPTION...]
set -uo pipefail

if [ $# -lt 3 ]; then
    sed -n '3,9p' "$0" >&2
    exit 2
fi
old=$1 new=$2 out=$3
shift 3
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out/scenarios" "$out/old" "$out/new"
if [ -z "$(ls "$out/scenarios" 2>/dev/null)" ]; then
    /usr/bin/python3 "$root/tools/gen_scenarios.py" "$out/scenarios" >/dev/null || exit 1
fi
captures=("$out"/scenarios/*.pcap "$root"/tools/demo/resets-demo.pcap)
for trace in "$root"/../shared/traces/*.pcap; do
    [ -f "$trace" ] && captures+=("$trace")
done
runs=0 differing=0
for capture in "${captures[@]}"; do
    for workers in 1 2; do
        name=$(basename "$capture" .pcap).w$workers
        # rstscope appends to its log (O_APPEND): a work directory used before must not add its
        # old lines to either side.
        rm -f "$out/old/$name.log" "$out/new/$name.log"
        "$old" --pcap "$capture" --log "$out/old/$name.log" --control none --quiet \
            --workers $workers --config /dev/null "$@" >/dev/null 2>"$out/old/$name.err"
        old_rc=$?
        "$new" --pcap "$capture" --log "$out/new/$name.log" --control none --quiet \
            --workers $workers --config /dev/null "$@" >/dev/null 2>"$out/new/$name.err"
        new_rc=$?
        runs=$((runs + 1))
        if [ $old_rc != $new_rc ] || ! cmp -s "$out/old/$name.log" "$out/new/$name.log"; then
            differing=$((differing + 1))
            echo "DIFF $name: exit $old_rc / $new_rc"
        fi
    done
done
echo "runs=$runs differing=$differing"
[ $differing = 0 ]
