#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# feature_cost.sh BUILD_DIR [--flows N] [--runs R] [--packets P] [--callgrind-only|--wall-only]
#                 [--workdir DIR]
#
# What signatures (issue 13: conf/signatures.conf, with application identity) and the flight
# recorder (issue 14: --recorder-packets 8, --recorder-snap 160, rstscope's defaults) cost the
# worker path, side by side in one run, with BUILD_DIR a release bench build:
#   meson setup build-bench --buildtype=release -Db_lto=true -Dbench=true -Dtests=disabled
#   ninja -C build-bench tools/bench/worker_bench
# Prints three tables (markdown):
#   1. instructions/packet under callgrind (worker_bench --callgrind --callgrind-flows N: one warm
#      pass over N flows, then 200 000 packets collected) for off, signatures, recorder, both,
#      and the ratio to off: the stable figure, the same to the instruction from run to run;
#   2. wall clock: worker_bench --flows N, the four configurations interleaved R times, the median
#      of each configuration's best-segment Mpps and mean cycles/packet, and the ratio to off
#      (the machine is shared: compare within one run only);
#   3. one responder scan of 32 to 4096 bytes (worker_bench --scan-bytes under callgrind,
#      instructions per scan, text and random bytes) and the per-byte slope between 512 and 4096.
# Memory per flow each feature adds is printed by worker_bench itself (its stderr, kept in
# WORKDIR/*.err) and summarised at the end.
# Time at 1 M flows: part 1 plays two passes of 10 M packets under valgrind per configuration,
# (32 to 35 minutes of wall time each when the four ran in parallel at load
# average 13 on 2 vCPUs); part 2 about 3 minutes with R=5; part 3 1 minute. --flows 100000 gives
# the same mix in a tenth of the time.
set -euo pipefail

usage() { sed -n '3,5p' "$0" >&2; exit 2; }
[ $# -ge 1 ] || usage
build=$1
shift
flows=1000000 runs=5 packets=10000000 parts="callgrind wall scan"
workdir=/tmp/rstscope-feature-cost
while [ $# -gt 0 ]; do
  case $1 in
    --flows) flows=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --packets) packets=$2; shift 2 ;;
    --callgrind-only) parts="callgrind scan"; shift ;;
    --wall-only) parts="wall"; shift ;;
    --workdir) workdir=$2; shift 2 ;;
    *) usage ;;
  esac
done
here=$(cd "$(dirname "$0")/../.." && pwd)
bench=$build/tools/bench/worker_bench
sigs=$here/conf/signatures.conf
[ -x "$bench" ] || { echo "feature_cost: no $bench (build with -Dbench=true)" >&2; exit 2; }
mkdir -p "$workdir"

declare -A args=(
  [off]=""
  [signatures]="--signatures $sigs"
  [recorder]="--recorder 8 --recorder-snap 160"
  [both]="--signatures $sigs --recorder 8 --recorder-snap 160"
)
configs="off signatures recorder both"

# Instructions collected by one callgrind run (the "totals:" line of its output file).
collected() { awk '/^(totals|summary):/ {print $2; exit}' "$1"; }

if [[ $parts == *callgrind* ]]; then
  echo "## Instructions per packet, worker path, $flows flows (callgrind)"
  echo
  echo "| configuration | Ir collected | packets | Ir/packet | vs off |"
  echo "|---|---:|---:|---:|---:|"
  base=""
  for c in $configs; do
    out=$workdir/cg.$c.out
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out" \
      "$bench" --callgrind --callgrind-flows "$flows" ${args[$c]} \
      >"$workdir/cg.$c.txt" 2>"$workdir/cg.$c.err"
    ir=$(collected "$out")
    n=$(sed -n 's/.*callgrind_packets=\([0-9]*\).*/\1/p' "$workdir/cg.$c.txt")
    per=$(awk -v a="$ir" -v b="$n" 'BEGIN {printf "%.1f", a / b}')
    [ -n "$base" ] || base=$per
    echo "| $c | $ir | $n | $per | $(awk -v a="$per" -v b="$base" 'BEGIN {printf "%+.1f %%", (a / b - 1) * 100}') |"
  done
  echo
fi

if [[ $parts == *wall* ]]; then
  echo "## Wall clock, worker path, $flows flows ($runs interleaved runs, median)"
  echo
  for r in $(seq 1 "$runs"); do
    for c in $configs; do
      # shellcheck disable=SC2086
      "$bench" --flows "$flows" --packets "$packets" ${args[$c]} \
        >"$workdir/wall.$c.$r.txt" 2>"$workdir/wall.$c.$r.err"
    done
  done
  echo "| configuration | Mpps (median of best segments) | cycles/packet (median of means) | Mpps vs off | runs (Mpps) |"
  echo "|---|---:|---:|---:|---|"
  base=""
  for c in $configs; do
    # Row: | mode | flows | workers | Mpps | cycles/pkt | mean cycles/pkt | ...
    mpps=$(cat "$workdir"/wall.$c.*.txt | awk -F'|' '/^\| worker path/ {gsub(/ /, "", $5); print $5}' | sort -n)
    mean=$(cat "$workdir"/wall.$c.*.txt | awk -F'|' '/^\| worker path/ {gsub(/ /, "", $7); print $7}' | sort -n)
    med() { awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
    m=$(echo "$mpps" | med)
    cy=$(echo "$mean" | med)
    [ -n "$base" ] || base=$m
    echo "| $c | $m | $cy | $(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.3f", a / b}') | $(echo $mpps | tr ' ' ',') |"
  done
  echo
fi

if [[ $parts == *scan* ]]; then
  echo "## One responder scan (callgrind, 10 000 scans each)"
  echo
  echo "| bytes | text: Ir/scan | binary: Ir/scan |"
  echo "|---:|---:|---:|"
  declare -A per_scan
  for len in 32 128 512 1460 4096; do
    row="| $len |"
    for kind in text binary; do
      out=$workdir/scan.$kind.$len.out
      valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out" \
        "$bench" --signatures "$sigs" --scan-bytes "$len" --scan-kind $kind --scans 10000 \
        --callgrind >"$workdir/scan.$kind.$len.txt" 2>&1
      per_scan[$kind.$len]=$(awk -v a="$(collected "$out")" 'BEGIN {printf "%.0f", a / 10000}')
      row="$row ${per_scan[$kind.$len]} |"
    done
    echo "$row"
  done
  for kind in text binary; do
    echo "$kind: $(awk -v a="${per_scan[$kind.512]}" -v b="${per_scan[$kind.4096]}" \
      'BEGIN {printf "%.2f", (b - a) / (4096 - 512)}') Ir per byte (512 -> 4096 bytes)"
  done
  echo
fi

echo "## Memory (worker_bench's own statement)"
echo
grep -h -m1 '^memory: app table' "$workdir"/*signatures*.err 2>/dev/null | head -1 || true
grep -h -m1 '^flight recorder:' "$workdir"/*recorder*.err 2>/dev/null | head -1 || true
grep -h 'flight store' "$workdir"/*recorder*.err 2>/dev/null | head -1 || true
