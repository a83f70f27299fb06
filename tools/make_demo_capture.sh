#!/usr/bin/env bash
# Rebuilds tools/demo/resets-demo.pcap, the capture the README's run command analyses: every
# scenario of tools/gen_scenarios.py (one reset cause or trap each) merged into one file.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 tools/gen_scenarios.py "$work" >/dev/null
mergecap -F pcap -w tools/demo/resets-demo.pcap $(ls "$work"/*.pcap | grep -v no_reset)
echo "wrote tools/demo/resets-demo.pcap"
