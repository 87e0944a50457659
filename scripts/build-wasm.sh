#!/usr/bin/env bash
# Build the WebAssembly package for the browser viewer into www/pkg/.
#
#   bash scripts/build-wasm.sh
#
# Uses wasm-pack/wasm-bindgen from ~/.cargo/bin and binaryen's wasm-opt from node_modules/.bin
# (npm package; never Debian's binaryen). Install them with scripts/setup.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$ROOT/node_modules/.bin:$PATH"

die() { printf 'build-wasm.sh: error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo not found; run scripts/setup.sh"
command -v wasm-pack >/dev/null 2>&1 || die "wasm-pack not found; run scripts/setup.sh"
command -v wasm-bindgen >/dev/null 2>&1 || die "wasm-bindgen not found; run scripts/setup.sh"
rustup target list --installed 2>/dev/null | grep -qx 'wasm32-unknown-unknown' \
    || die "rust target wasm32-unknown-unknown not installed; run scripts/setup.sh"

echo "==> wasm-pack build --release --target web --out-dir www/pkg --mode no-install"
echo "    $(wasm-pack --version), $(wasm-bindgen --version)$(command -v wasm-opt >/dev/null 2>&1 && echo ", $(wasm-opt --version)")"
wasm-pack build --release --target web --out-dir www/pkg --mode no-install

echo "==> built www/pkg:"
ls -l www/pkg
