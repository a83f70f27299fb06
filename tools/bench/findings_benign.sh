#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The findings' benign mix at scale (docs/findings.md): N connections (default a million) over
# N/500 s, 1 in 100 reset (refusals of two clients on one closed port, aborts by either side over
# 50 servers of one /24), written by tools/gen_findings.py and read by rstscope with 1 and 2
# workers. It must raise no finding. Prints the resets, the finding records (0) and the wall time
# of each run; exit 1 when a finding is raised. Too slow for the test suite (the capture alone
# takes minutes to write), which runs the same mix with 3 000 connections (run_findings.py).
#
# usage: tools/bench/findings_benign.sh RSTSCOPE [N] [WORKDIR]
set -euo pipefail

rstscope=$1 n=${2:-1000000} workdir=${3:-${TMPDIR:-/tmp}/rstscope-findings-bench}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$workdir"
capture=$workdir/benign-$n.pcap
[ -s "$capture" ] || /usr/bin/python3 "$root/tools/gen_findings.py" --benign-only "$n" "$capture"
status=0
for workers in 1 2; do
    log=$workdir/benign-$n.w$workers.jsonl
    start=$(date +%s.%N)
    "$rstscope" --pcap "$capture" --workers "$workers" --log "$log" --control none \
        --config /dev/null --quiet
    end=$(date +%s.%N)
    resets=$(grep -c '"type":"reset"' "$log" || true)
    findings=$(grep -c '"type":"finding"' "$log" || true)
    printf 'workers=%s connections=%s resets=%s findings=%s seconds=%.1f\n' "$workers" "$n" \
        "$resets" "$findings" "$(echo "$end - $start" | bc)"
    if [ "$findings" != 0 ]; then
        grep '"type":"finding"' "$log" | head -5
        status=1
    fi
done
exit $status
