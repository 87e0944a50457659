#!/usr/bin/env bash
# Install only what `scripts/demo.sh` needs to build and serve the page (Debian 12):
#
#   bash scripts/setup-demo.sh
#
#   apt:    cc (build-essential), pkg-config, node, npm -- only when missing (usually present)
#   rustup: wasm32-unknown-unknown target
#   cargo:  wasm-bindgen-cli 0.2.130 (NOT --locked: its lockfile does not build)
#   npm:    `npm ci --omit=dev` (package.json "dependencies": binaryen for wasm-opt, the font)
#
# No browsers, geckodriver, wasm-pack, cargo-fuzz or test packages: scripts/setup.sh adds those
# for the tests. Idempotent: every step is skipped when its tool is already there in the right
# version, so a second run takes seconds. binaryen comes from npm, never from Debian.
set -euo pipefail
SETUP_NAME=setup-demo.sh
# shellcheck source=scripts/setup-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup-lib.sh"

WASM_BINDGEN_VERSION="0.2.130"  # must match the `wasm-bindgen = "=..."` pin in Cargo.toml

# ---------------------------------------------------------------------------------------------
step "System packages the demo needs (apt, only if missing)"
apt_pkgs=()
command -v cc >/dev/null 2>&1 || apt_pkgs+=(build-essential)       # the linker for cargo install
command -v pkg-config >/dev/null 2>&1 || apt_pkgs+=(pkg-config)
command -v node >/dev/null 2>&1 || apt_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_pkgs+=(npm)
if [ "${#apt_pkgs[@]}" -eq 0 ]; then
    info "cc, pkg-config, node, npm: already installed, skipping"
else
    apt_install "${apt_pkgs[@]}"
fi
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
info "node $(node --version 2>/dev/null || echo '?'), npm $(npm --version 2>/dev/null || echo '?')"
if [ "$node_major" -lt 20 ]; then
    info "WARNING: Node >= 20 is expected (scripts/serve.mjs, node --test); found major version $node_major"
fi

# ---------------------------------------------------------------------------------------------
step "Rust toolchain"
command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup first; looked in $CARGO_BIN and PATH)"
command -v rustup >/dev/null 2>&1 || die "rustup not found (needed for the wasm32-unknown-unknown target)"
info "$(cargo --version)"
if rustup target list --installed | grep -qx 'wasm32-unknown-unknown'; then
    info "target wasm32-unknown-unknown: already installed, skipping"
else
    info "adding target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

# ---------------------------------------------------------------------------------------------
# The npm download runs while cargo compiles wasm-bindgen-cli (it is network-bound, cargo is
# CPU-bound); its output is replayed afterwards so the two logs do not interleave.
step "npm packages for the page build (repository root, in the background)"
npm_log="$(mktemp)"
npm_packages demo >"$npm_log" 2>&1 &
npm_pid=$!

step "wasm-bindgen-cli (crates.io)"
cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" no wasm-bindgen wasm-bindgen-test-runner

step "npm packages for the page build (repository root)"
npm_rc=0
wait "$npm_pid" || npm_rc=$?
cat "$npm_log"
rm -f "$npm_log"
[ "$npm_rc" -eq 0 ] || die "npm install failed (exit $npm_rc)"
info "wasm-opt (npm binaryen): $(node_modules/.bin/wasm-opt --version 2>/dev/null || echo missing)"

step "Demo setup complete"
info "wasm-bindgen $(version_of wasm-bindgen), $(node_modules/.bin/wasm-opt --version 2>/dev/null)"
