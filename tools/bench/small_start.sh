#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Start-up and a small capture, whole process: rstscope --pcap against tshark's RST filter,
# tcpdump and a bare libpcap read loop, each counting the capture's RST segments. Wall time is the
# best of TRIES runs (the machine is shared), peak RSS (/usr/bin/time's maximum resident set) that
# of the same run. Prints a markdown table on stdout.
#
# usage: tools/bench/small_start.sh RSTSCOPE PCAP_READ_LOOP CAPTURE [TRIES] [WORKDIR]
set -euo pipefail

rstscope=$1 read_loop=$2 capture=$3 tries=${4:-5} workdir=${5:-${TMPDIR:-/tmp}}
for tool in tshark tcpdump /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "small_start: $tool is required" >&2; exit 1; }
done
out=$workdir/small_start.out
cat "$capture" > /dev/null  # page cache: every reader starts from memory

# One line "seconds KiB" for the fastest of $tries runs of the command.
best_run() {
    local best="" line
    for _ in $(seq "$tries"); do
        line=$(/usr/bin/time -f '%e %M' -o "$workdir/small_start.time" "$@" > "$out" 2>/dev/null; cat "$workdir/small_start.time")
        line=$(tail -1 <<< "$line")
        if [ -z "$best" ] || awk -v a="${line%% *}" -v b="${best%% *}" 'BEGIN {exit !(a < b)}'; then
            best=$line
        fi
    done
    echo "$best"
}
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

rst_v4='tcp[tcpflags] & tcp-rst != 0'
rst_any="($rst_v4) or (ip6[6] == 6 and ip6[53] & 4 != 0)"  # IPv6 without extension headers
rst_all="$rst_any or (vlan and ($rst_any))"

r_rst=$(best_run "$rstscope" --pcap "$capture" --log "$workdir/small_start.jsonl" --control none \
    --quiet --summary-json "$workdir/small_start.json")
n_rst=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['rst_packets'])" "$workdir/small_start.json")
r_tshark=$(best_run sh -c "tshark -r '$capture' -Y 'tcp.flags.reset==1' | wc -l")
n_tshark=$(cat "$out")
r_tcpdump=$(best_run sh -c "tcpdump -nr '$capture' '$rst_all' 2>/dev/null | wc -l")
n_tcpdump=$(cat "$out")
r_read=$(best_run "$read_loop" "$capture")
rm -f "$workdir/small_start.jsonl" "$workdir/small_start.json" "$workdir/small_start.time" "$out"

echo "| reader (capture: $(basename "$capture"), $(tcpdump -nr "$capture" 2>/dev/null | wc -l) packets) | RST found | seconds (best of $tries) | peak RSS MiB | time / rstscope's |"
echo "|---|---:|---:|---:|---:|"
row() {  # name count "seconds KiB"
    echo "| $1 | $2 | ${3%% *} | $(mib "${3##* }") | $(awk -v a="${3%% *}" -v b="${r_rst%% *}" 'BEGIN {printf "%.1f", (b > 0) ? a / b : 0}') |"
}
row "rstscope --pcap" "$n_rst" "$r_rst"
row "tshark -Y tcp.flags.reset==1" "$n_tshark" "$r_tshark"
row "tcpdump (RST filter)" "$n_tcpdump" "$r_tcpdump"
row "bare libpcap read loop (pcap_read_loop)" "-" "$r_read"
