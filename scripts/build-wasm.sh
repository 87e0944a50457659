#!/usr/bin/env bash
# Build the WebAssembly packages for the browser viewer: www/pkg/ (simd128) and
# www/pkg-relaxed/ (simd128 + relaxed SIMD; the page uses it where the browser validates it).
#
#   bash scripts/build-wasm.sh [--target web|nodejs] [--out-dir DIR] [--kernels both|simd128|relaxed]
#
# The relaxed package goes next to DIR, as DIR-relaxed (www/pkg-relaxed, target/pkg-node-relaxed).
# (scripts/bench-compare.sh builds the Node packages with `--target nodejs --out-dir
# target/pkg-node`, so the benchmark measures the same optimised modules as the page.)
#
# Three steps per package, no wasm-pack (it stays the test runner: `wasm-pack test`, scripts/test-all.sh):
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
KERNELS=both
while [ $# -gt 0 ]; do
    case "$1" in
        --target) [ $# -ge 2 ] || die "--target needs web or nodejs"; TARGET="$2"; shift ;;
        --out-dir) [ $# -ge 2 ] || die "--out-dir needs a folder"; OUT_DIR="$2"; shift ;;
        --kernels) [ $# -ge 2 ] || die "--kernels needs both, simd128 or relaxed"; KERNELS="$2"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
case "$TARGET" in
    web|nodejs) ;;
    *) die "--target must be web or nodejs, not '$TARGET'" ;;
esac
case "$KERNELS" in
    both|simd128|relaxed) ;;
    *) die "--kernels must be both, simd128 or relaxed, not '$KERNELS'" ;;
esac
OUT_DIR="${OUT_DIR%/}"

command -v cargo >/dev/null 2>&1 || die "cargo not found; run scripts/setup-demo.sh"
command -v wasm-bindgen >/dev/null 2>&1 || die "wasm-bindgen not found; run scripts/setup-demo.sh"
have_bindgen="$(wasm-bindgen --version | awk '{print $2}')"
[ "$have_bindgen" = "$WASM_BINDGEN_VERSION" ] \
    || die "wasm-bindgen $have_bindgen found, the crate pins $WASM_BINDGEN_VERSION; run scripts/setup-demo.sh"
rustup target list --installed 2>/dev/null | grep -qx 'wasm32-unknown-unknown' \
    || die "rust target wasm32-unknown-unknown not installed; run scripts/setup-demo.sh"

TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"

# shellcheck source=scripts/wasm-relaxed.env
. "$ROOT/scripts/wasm-relaxed.env"   # RELAXED_RUSTFLAGS, RELAXED_TARGET_SUBDIR
grep -q 'getrandom_backend="wasm_js"' .cargo/config.toml && grep -q 'target-feature=+simd128' .cargo/config.toml \
    || die ".cargo/config.toml's wasm32 rustflags changed: update RELAXED_RUSTFLAGS in scripts/wasm-relaxed.env to match"

# build_one KERNEL OUT: KERNEL is simd128 or relaxed.
build_one() {
    local kernel="$1" out="$2" target_dir="$TARGET_DIR" opt_features=""
    if [ "$kernel" = relaxed ]; then
        target_dir="$TARGET_DIR/$RELAXED_TARGET_SUBDIR"
        opt_features="--enable-relaxed-simd"
    fi
    local wasm_in="$target_dir/wasm32-unknown-unknown/release/kgpt.wasm"

    echo "==> [$kernel] cargo build --lib --release --target wasm32-unknown-unknown (fat LTO, 1 codegen unit)"
    # Smallest and fastest wasm: whole-program LTO in one codegen unit (only for this build; the
    # native release profile keeps thin LTO so `cargo build --release` stays quick). The simd128
    # build's rustflags (simd128, getrandom backend) come from .cargo/config.toml.
    if [ "$kernel" = relaxed ]; then
        RUSTFLAGS="$RELAXED_RUSTFLAGS" CARGO_TARGET_DIR="$target_dir" \
            CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
            cargo build --lib --release --target wasm32-unknown-unknown
    else
        CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
            cargo build --lib --release --target wasm32-unknown-unknown
    fi

    # Second run: nothing to do when cargo left the module alone and OUT was made from it.
    local stamp_file="$out/.built-from"
    local stamp
    stamp="$(stat -c '%n %s %Y' "$wasm_in") $TARGET wasm-bindgen $have_bindgen $kernel"
    if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && [ -f "$out/kgpt_bg.wasm" ] && [ -f "$out/kgpt.js" ]; then
        echo "==> $out is up to date with $wasm_in, skipping wasm-bindgen and wasm-opt"
        return 0
    fi
    rm -f "$stamp_file"

    echo "==> [$kernel] wasm-bindgen $have_bindgen --target $TARGET --out-dir $out"
    mkdir -p "$out"
    # the same flags wasm-pack passed (it added --typescript and nothing else for this crate)
    wasm-bindgen "$wasm_in" --out-dir "$out" --typescript --target "$TARGET"
    # www/pkg is a build output: keep it out of git even when the root .gitignore is not used
    printf '*\n' >"$out/.gitignore"
    # Node reads the module type from the nearest package.json; the repository's says "module",
    # but `--target nodejs` glue is CommonJS (what wasm-pack's generated package.json settled).
    local module_type
    if [ "$TARGET" = nodejs ]; then module_type=commonjs; else module_type=module; fi
    printf '{ "name": "kgpt", "private": true, "type": "%s", "main": "kgpt.js", "types": "kgpt.d.ts" }\n' \
        "$module_type" >"$out/package.json"

    local wasm="$out/kgpt_bg.wasm"
    local wasm_opt="$ROOT/node_modules/.bin/wasm-opt"
    if [ -x "$wasm_opt" ] && "$wasm_opt" --version | grep -q 'version 132'; then
        local before
        before=$(stat -c %s "$wasm")
        # shellcheck disable=SC2086 # opt_features is empty or one flag
        "$wasm_opt" -O3 --enable-simd $opt_features --enable-bulk-memory --enable-sign-ext \
            --enable-nontrapping-float-to-int --enable-mutable-globals --enable-reference-types \
            --enable-multivalue "$wasm" -o "$wasm.opt"
        mv "$wasm.opt" "$wasm"
        echo "==> [$kernel] wasm-opt -O3 (binaryen 132): $before -> $(stat -c %s "$wasm") bytes, $(gzip -9c "$wasm" | wc -c) gzipped"
    else
        die "npm binaryen 132 (wasm-opt) not in node_modules; run scripts/setup-demo.sh"
    fi

    echo "$stamp" >"$stamp_file"
    echo "==> built $out:"
    ls -l "$out"
}

if [ "$KERNELS" != relaxed ]; then build_one simd128 "$OUT_DIR"; fi
if [ "$KERNELS" != simd128 ]; then build_one relaxed "$OUT_DIR-relaxed"; fi
