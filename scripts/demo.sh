#!/usr/bin/env bash
# One-shot demo: install what the page needs, build the wasm package, serve www/ at
# http://127.0.0.1:PORT/.
#
#   bash scripts/demo.sh [--port 8080]
#
# Installs only the demo's tools (scripts/setup-demo.sh: wasm32 target, wasm-bindgen-cli, npm
# binaryen and the font); the browsers and test tools come with scripts/setup.sh (.ci/run).
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

t0=$(date +%s)
echo "==> [1/3] setup (demo only)"
bash scripts/setup-demo.sh
echo "==> [2/3] build wasm"
bash scripts/build-wasm.sh
echo "==> [3/3] serve (ready after $(( $(date +%s) - t0 )) s)"
echo
echo "    Micro-KannadaGPT demo: http://127.0.0.1:${PORT}/   (Ctrl-C to stop)"
echo
exec node scripts/serve.mjs --port "$PORT"
