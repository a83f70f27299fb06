#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Rebuilds tools/demo/resets-demo.pcap, the capture the README's run command analyses: every
# Ethernet scenario of tools/gen_scenarios.py (one reset cause or trap each) merged into one file.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 tools/gen_scenarios.py "$work" >/dev/null
# One link type per pcap file: the Ethernet scenarios (the others test other link types).
ethernet=()
for f in "$work"/*.pcap; do
  case "$f" in *no_reset*) continue ;; esac
  [ "$(capinfos -T -r -E "$f" | cut -f2)" = "ether" ] && ethernet+=("$f")
done
mergecap -F pcap -w tools/demo/resets-demo.pcap "${ethernet[@]}"
echo "wrote tools/demo/resets-demo.pcap"
