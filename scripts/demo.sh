#!/usr/bin/env bash
# One-shot demo: install tools, build the wasm package, serve www/ at http://127.0.0.1:PORT/.
#
#   bash scripts/demo.sh [--port 8080]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PORT="${PORT:-8080}"
while [ $# -gt 0 ]; do
    case "$1" in
        --port) PORT="${2:?--port needs a value}"; shift 2 ;;
        --port=*) PORT="${1#--port=}"; shift ;;
        *) echo "usage: $0 [--port N]" >&2; exit 2 ;;
    esac
done

echo "==> [1/3] setup"
bash scripts/setup.sh
echo "==> [2/3] build wasm"
bash scripts/build-wasm.sh
echo "==> [3/3] serve"
echo
echo "    Micro-KannadaGPT demo: http://127.0.0.1:${PORT}/   (Ctrl-C to stop)"
echo
exec node scripts/serve.mjs --port "$PORT"
