#!/usr/bin/env bash
# `make demo`: see Tests/demo/demo.py. Everything it writes stays under .build-demo/.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
exec "$top/.build-toolchains/venv/bin/python" "$top/Tests/demo/demo.py" "${1:?usage: run.sh PATH-TO-PGUI}"
