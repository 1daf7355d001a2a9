#!/usr/bin/env bash
# `make demo`: PGUI (the x86_64 firmware) with the simulated meter. Stops on Ctrl-C, or after
# DEMO_SECONDS when that is set. Everything it writes stays under .build-demo/.
set -euo pipefail
pgui=${1:?usage: run.sh PATH-TO-PGUI}
top=$(cd "$(dirname "$0")/../.." && pwd)
demo=$top/.build-demo
rm -rf "$demo"; mkdir -p "$demo/data"
cat >"$demo/pgui.conf" <<CONF
# Demo configuration (docs/config.md lists every key).
device.id = demo-gw-01
data.dir = $demo/data
log.level = info
meter.kind = simulated
meter.period_ms = 1000
CONF
echo "[demo] pgui $("$pgui" --version | cut -d' ' -f2-) with the simulated meter; Ctrl-C stops it"
if [ -n "${DEMO_SECONDS:-}" ]; then
  "$pgui" run --config "$demo/pgui.conf" & pid=$!
  sleep "$DEMO_SECONDS"; kill -TERM "$pid"; wait "$pid"
else
  exec "$pgui" run --config "$demo/pgui.conf"
fi
