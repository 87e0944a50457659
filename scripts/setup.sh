#!/usr/bin/env bash
# Install what Micro-KannadaGPT's build and tests need on a Debian 12 machine.
#
#   bash scripts/setup.sh
#
# Idempotent: every step is skipped when its tool is already there in the right version.
# Network use is limited to package registries: apt (Debian), crates.io (cargo install),
# the Rust toolchain channel (rustup target add) and npm. No other binaries are downloaded;
# in particular binaryen comes from npm (package.json), not from Debian.
#
#   apt:    firefox-esr chromium chromium-driver (+ build-essential pkg-config if no C toolchain)
#   rustup: wasm32-unknown-unknown target
#   cargo:  wasm-pack 0.15.1 (--locked), wasm-bindgen-cli 0.2.130 (NOT --locked: its lockfile
#           does not build), geckodriver 0.37.1 (--locked)
#   npm:    `npm ci` in the repository root (playwright-core, binaryen, @fontsource/noto-sans-kannada)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"

WASM_PACK_VERSION="0.15.1"
WASM_BINDGEN_VERSION="0.2.130"  # must match the `wasm-bindgen = "=..."` pin in Cargo.toml
GECKODRIVER_VERSION="0.37.1"
CARGO_FUZZ_VERSION="0.13.2"     # fuzz smoke run (scripts/fuzz-smoke.sh), RUSTC_BOOTSTRAP=1 on stable

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    SUDO=()
fi

# ---------------------------------------------------------------------------------------------
step "System packages (apt)"
apt_pkgs=()
command -v firefox-esr >/dev/null 2>&1 || apt_pkgs+=(firefox-esr)
command -v chromium >/dev/null 2>&1 || apt_pkgs+=(chromium)
command -v chromedriver >/dev/null 2>&1 || apt_pkgs+=(chromium-driver)
command -v cc >/dev/null 2>&1 || apt_pkgs+=(build-essential)       # ring, zstd-sys (cargo install)
command -v pkg-config >/dev/null 2>&1 || apt_pkgs+=(pkg-config)
command -v node >/dev/null 2>&1 || apt_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_pkgs+=(npm)
if [ "${#apt_pkgs[@]}" -eq 0 ]; then
    info "firefox-esr, chromium, chromedriver, cc, pkg-config, node, npm: already installed, skipping"
else
    if [ "$(id -u)" -ne 0 ] && [ "${#SUDO[@]}" -eq 0 ]; then
        die "need root or sudo to install: ${apt_pkgs[*]}"
    fi
    info "installing: ${apt_pkgs[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${apt_pkgs[@]}"
fi
info "$(firefox-esr --version 2>/dev/null || echo 'firefox-esr: ?')"
info "$(chromium --version 2>/dev/null || echo 'chromium: ?')"
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
# version_of BIN -> second word of the first line of `BIN --version` (e.g. "wasm-pack 0.15.1")
version_of() {
    local bin="$1"
    command -v "$bin" >/dev/null 2>&1 || { echo ""; return 0; }
    "$bin" --version 2>/dev/null | head -n 1 | awk '{print $2}' || true
}

# Wait for somebody else's `cargo install CRATE` (e.g. a provisioning job) instead of racing it.
wait_for_other_install() {
    local crate="$1" waited=0
    command -v pgrep >/dev/null 2>&1 || return 0
    while pgrep -f "cargo install (.* )?${crate}( |\$)" >/dev/null 2>&1; do
        if [ "$waited" -eq 0 ]; then info "another 'cargo install $crate' is running; waiting for it"; fi
        sleep 10
        waited=$((waited + 10))
        if [ "$waited" -ge 3600 ]; then die "gave up waiting for the other 'cargo install $crate'"; fi
    done
}

# cargo_tool CRATE VERSION LOCKED(yes|no) BIN [BIN...]
cargo_tool() {
    local crate="$1" version="$2" locked="$3"
    shift 3
    local bins=("$@") bin ok=1 have
    for bin in "${bins[@]}"; do
        have="$(version_of "$bin")"
        [ "$have" = "$version" ] || ok=0
    done
    if [ "$ok" -eq 1 ]; then
        info "$crate $version: already installed ($(command -v "${bins[0]}")), skipping"
        return 0
    fi
    wait_for_other_install "$crate"
    ok=1
    for bin in "${bins[@]}"; do
        [ "$(version_of "$bin")" = "$version" ] || ok=0
    done
    if [ "$ok" -eq 1 ]; then
        info "$crate $version: installed by the other job, skipping"
        return 0
    fi
    local args=(install "$crate" --version "$version" --force)
    [ "$locked" = yes ] && args+=(--locked)
    local found=()
    for bin in "${bins[@]}"; do
        have="$(version_of "$bin")"
        found+=("$bin ${have:-missing}")
    done
    info "found: $(IFS=,; echo "${found[*]}" | sed 's/,/, /g'); want $version"
    info "cargo ${args[*]}"
    cargo "${args[@]}"
    for bin in "${bins[@]}"; do
        have="$(version_of "$bin")"
        [ "$have" = "$version" ] || die "$bin reports version '$have' after installing $crate $version"
    done
}

step "Cargo tools (crates.io)"
cargo_tool wasm-pack "$WASM_PACK_VERSION" yes wasm-pack
cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" no wasm-bindgen wasm-bindgen-test-runner
cargo_tool geckodriver "$GECKODRIVER_VERSION" yes geckodriver
cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION" yes cargo-fuzz

# ---------------------------------------------------------------------------------------------
step "npm packages (repository root)"
if [ ! -f package.json ]; then
    info "no package.json, skipping"
else
    # npm writes node_modules/.package-lock.json on every install: use it as the install stamp.
    stamp="node_modules/.package-lock.json"
    if [ -d node_modules ] && [ -f "$stamp" ] \
        && { [ ! -f package-lock.json ] || [ ! package-lock.json -nt "$stamp" ]; } \
        && [ ! package.json -nt "$stamp" ]; then
        info "node_modules is up to date with package-lock.json, skipping"
    elif [ -f package-lock.json ]; then
        info "npm ci"
        npm ci --no-audit --no-fund
    else
        info "no package-lock.json: npm install"
        npm install --no-audit --no-fund
    fi
    info "wasm-opt (npm binaryen): $(node_modules/.bin/wasm-opt --version 2>/dev/null || echo missing)"
fi

# Tests only (tests/ddp, scripts/train_ddp.py): PyTorch in a venv outside the repository; the demo does not need it.
bash "$ROOT/scripts/setup-torch.sh"

step "Setup complete"
info "wasm-pack $(version_of wasm-pack), wasm-bindgen $(version_of wasm-bindgen), geckodriver $(version_of geckodriver)"
