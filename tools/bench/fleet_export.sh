#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The fleet's figures (docs/fleet.md, "Sizing"), side by side in one run: rstscope --pcap on a
# reset storm without and with --export into a nats-server started here, exporter and server CPU
# per million events, stream bytes per million, and the same events loaded into PostgreSQL 15 and
# ClickHouse (load rate, disk per million, the example queries, a second load). Every server runs
# on random local ports with its own directory and is stopped at the end. Prints a table.
#
# usage: tools/bench/fleet_export.sh BUILDDIR [--flows N (100000: 500 000 events)] [--workdir DIR]
#        [--rounds N (2)] [--export-only] [--no-clickhouse]     (BUILDDIR: a release build, e.g. meson setup build-rel --buildtype=release)
set -euo pipefail
build=$(cd "$1" && pwd)
shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
exec /usr/bin/python3 "$root/tools/bench/fleet_export.py" "$build/rstscope" \
    "$build/rstscope-fleet" "$build/tools/gen_big_pcap" "$@"
