#!/usr/bin/env bash
# Build the WebAssembly package for the browser viewer into www/pkg/.
#
#   bash scripts/build-wasm.sh [--target web|nodejs] [--out-dir DIR]
#
# (scripts/bench-compare.sh builds the Node package with `--target nodejs --out-dir
# target/pkg-node`, so the benchmark measures the same optimised module as the page.)
#
# Uses wasm-pack/wasm-bindgen from ~/.cargo/bin and binaryen's wasm-opt from node_modules/.bin
# (npm package; never Debian's binaryen). Install them with scripts/setup.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$ROOT/node_modules/.bin:$PATH"

die() { printf 'build-wasm.sh: error: %s\n' "$*" >&2; exit 1; }

TARGET=web
OUT_DIR=www/pkg
while [ $# -gt 0 ]; do
    case "$1" in
        --target) [ $# -ge 2 ] || die "--target needs web or nodejs"; TARGET="$2"; shift ;;
        --out-dir) [ $# -ge 2 ] || die "--out-dir needs a folder"; OUT_DIR="$2"; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

command -v cargo >/dev/null 2>&1 || die "cargo not found; run scripts/setup.sh"
command -v wasm-pack >/dev/null 2>&1 || die "wasm-pack not found; run scripts/setup.sh"
command -v wasm-bindgen >/dev/null 2>&1 || die "wasm-bindgen not found; run scripts/setup.sh"
rustup target list --installed 2>/dev/null | grep -qx 'wasm32-unknown-unknown' \
    || die "rust target wasm32-unknown-unknown not installed; run scripts/setup.sh"

echo "==> wasm-pack build --release --target $TARGET --out-dir $OUT_DIR --mode no-install"
echo "    $(wasm-pack --version), $(wasm-bindgen --version)$(command -v wasm-opt >/dev/null 2>&1 && echo ", $(wasm-opt --version)")"
# Smallest and fastest wasm: whole-program LTO in one codegen unit (only for this build; the
# native release profile keeps thin LTO so `cargo build --release` stays quick).
CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    wasm-pack build --release --target "$TARGET" --out-dir "$OUT_DIR" --mode no-install

# wasm-pack's own wasm-opt pass is off (Cargo.toml) so that it can never pick up Debian's
# binaryen 108, which emits a module the page cannot load. Run npm's binaryen explicitly.
WASM="$OUT_DIR/kgpt_bg.wasm"
WASM_OPT="$ROOT/node_modules/.bin/wasm-opt"
if [ -x "$WASM_OPT" ] && "$WASM_OPT" --version | grep -q 'version 132'; then
    before=$(stat -c %s "$WASM")
    "$WASM_OPT" -O3 --enable-simd --enable-bulk-memory --enable-sign-ext \
        --enable-nontrapping-float-to-int --enable-mutable-globals --enable-reference-types \
        --enable-multivalue "$WASM" -o "$WASM.opt"
    mv "$WASM.opt" "$WASM"
    echo "==> wasm-opt -O3 (binaryen 132): $before -> $(stat -c %s "$WASM") bytes, $(gzip -9c "$WASM" | wc -c) gzipped"
else
    echo "==> wasm-opt skipped: npm binaryen 132 not in node_modules (run scripts/setup.sh)"
fi

echo "==> built $OUT_DIR:"
ls -l "$OUT_DIR"
