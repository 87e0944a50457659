#!/usr/bin/env bash
# Build the WebAssembly package for the browser viewer into www/pkg/.
#
#   bash scripts/build-wasm.sh [--target web|nodejs] [--out-dir DIR]
#
# (scripts/bench-compare.sh builds the Node package with `--target nodejs --out-dir
# target/pkg-node`, so the benchmark measures the same optimised module as the page.)
#
# Three steps, no wasm-pack (it stays the test runner: `wasm-pack test`, scripts/test-all.sh):
#   1. cargo build --lib --release --target wasm32-unknown-unknown   (fat LTO, 1 codegen unit)
#   2. wasm-bindgen 0.2.130 --target web|nodejs                     (~/.cargo/bin)
#   3. wasm-opt -O3 from npm binaryen 132                            (node_modules/.bin; never
#      Debian's binaryen, whose version 108 emits a module the page cannot load)
# Install the tools with scripts/setup-demo.sh (scripts/demo.sh runs it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$ROOT/node_modules/.bin:$PATH"

die() { printf 'build-wasm.sh: error: %s\n' "$*" >&2; exit 1; }

WASM_BINDGEN_VERSION="0.2.130"  # must match the `wasm-bindgen = "=..."` pin in Cargo.toml
TARGET=web
OUT_DIR=www/pkg
while [ $# -gt 0 ]; do
    case "$1" in
        --target) [ $# -ge 2 ] || die "--target needs web or nodejs"; TARGET="$2"; shift ;;
        --out-dir) [ $# -ge 2 ] || die "--out-dir needs a folder"; OUT_DIR="$2"; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
case "$TARGET" in
    web|nodejs) ;;
    *) die "--target must be web or nodejs, not '$TARGET'" ;;
esac

command -v cargo >/dev/null 2>&1 || die "cargo not found; run scripts/setup-demo.sh"
command -v wasm-bindgen >/dev/null 2>&1 || die "wasm-bindgen not found; run scripts/setup-demo.sh"
have_bindgen="$(wasm-bindgen --version | awk '{print $2}')"
[ "$have_bindgen" = "$WASM_BINDGEN_VERSION" ] \
    || die "wasm-bindgen $have_bindgen found, the crate pins $WASM_BINDGEN_VERSION; run scripts/setup-demo.sh"
rustup target list --installed 2>/dev/null | grep -qx 'wasm32-unknown-unknown' \
    || die "rust target wasm32-unknown-unknown not installed; run scripts/setup-demo.sh"

TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
WASM_IN="$TARGET_DIR/wasm32-unknown-unknown/release/kgpt.wasm"

echo "==> cargo build --lib --release --target wasm32-unknown-unknown (fat LTO, 1 codegen unit)"
# Smallest and fastest wasm: whole-program LTO in one codegen unit (only for this build; the
# native release profile keeps thin LTO so `cargo build --release` stays quick). The target's
# rustflags (simd128, getrandom backend) come from .cargo/config.toml.
CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    cargo build --lib --release --target wasm32-unknown-unknown

# Second run: nothing to do when cargo left the module alone and OUT_DIR was made from it.
STAMP="$OUT_DIR/.built-from"
stamp="$(stat -c '%n %s %Y' "$WASM_IN") $TARGET wasm-bindgen $have_bindgen"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$stamp" ] && [ -f "$OUT_DIR/kgpt_bg.wasm" ] && [ -f "$OUT_DIR/kgpt.js" ]; then
    echo "==> $OUT_DIR is up to date with $WASM_IN, skipping wasm-bindgen and wasm-opt"
    exit 0
fi
rm -f "$STAMP"

echo "==> wasm-bindgen $have_bindgen --target $TARGET --out-dir $OUT_DIR"
mkdir -p "$OUT_DIR"
# the same flags wasm-pack passed (it added --typescript and nothing else for this crate)
wasm-bindgen "$WASM_IN" --out-dir "$OUT_DIR" --typescript --target "$TARGET"
# www/pkg is a build output: keep it out of git even when the root .gitignore is not used
printf '*\n' >"$OUT_DIR/.gitignore"
# Node reads the module type from the nearest package.json; the repository's says "module",
# but `--target nodejs` glue is CommonJS (what wasm-pack's generated package.json settled).
if [ "$TARGET" = nodejs ]; then module_type=commonjs; else module_type=module; fi
printf '{ "name": "kgpt", "private": true, "type": "%s", "main": "kgpt.js", "types": "kgpt.d.ts" }\n' \
    "$module_type" >"$OUT_DIR/package.json"

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
    die "npm binaryen 132 (wasm-opt) not in node_modules; run scripts/setup-demo.sh"
fi

echo "$stamp" >"$STAMP"
echo "==> built $OUT_DIR:"
ls -l "$OUT_DIR"
