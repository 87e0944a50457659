#!/usr/bin/env bash
# Install what Micro-KannadaGPT's build and tests need on a Debian 12 machine (.ci/run runs it
# before scripts/test-all.sh):
#
#   bash scripts/setup.sh
#
# First everything the demo needs (scripts/setup-demo.sh: wasm32 target, wasm-bindgen-cli,
# npm "dependencies"), then what only the tests need:
#
#   apt:    firefox-esr chromium chromium-driver
#   cargo:  wasm-pack 0.15.1 (--locked; `wasm-pack test`), geckodriver 0.37.1 (--locked),
#           cargo-fuzz 0.13.2 (--locked; scripts/fuzz-smoke.sh)
#   npm:    `npm ci` with the devDependencies (playwright-core, axe-core, selenium-webdriver)
#
# Idempotent: every step is skipped when its tool is already there in the right version.
# Network use is limited to package registries: apt (Debian), crates.io (cargo install),
# the Rust toolchain channel (rustup target add) and npm. No other binaries are downloaded;
# in particular binaryen comes from npm (package.json), not from Debian.
set -euo pipefail
SETUP_NAME=setup.sh
# shellcheck source=scripts/setup-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup-lib.sh"

WASM_PACK_VERSION="0.15.1"
GECKODRIVER_VERSION="0.37.1"
CARGO_FUZZ_VERSION="0.13.2"     # fuzz smoke run (scripts/fuzz-smoke.sh), RUSTC_BOOTSTRAP=1 on stable

bash scripts/setup-demo.sh

# ---------------------------------------------------------------------------------------------
step "Browsers for the tests (apt)"
apt_pkgs=()
command -v firefox-esr >/dev/null 2>&1 || apt_pkgs+=(firefox-esr)
command -v chromium >/dev/null 2>&1 || apt_pkgs+=(chromium)
command -v chromedriver >/dev/null 2>&1 || apt_pkgs+=(chromium-driver)
if [ "${#apt_pkgs[@]}" -eq 0 ]; then
    info "firefox-esr, chromium, chromedriver: already installed, skipping"
else
    apt_install "${apt_pkgs[@]}"
fi
info "$(firefox-esr --version 2>/dev/null || echo 'firefox-esr: ?')"
info "$(chromium --version 2>/dev/null || echo 'chromium: ?')"

# ---------------------------------------------------------------------------------------------
step "Cargo tools for the tests (crates.io)"
cargo_tool wasm-pack "$WASM_PACK_VERSION" yes wasm-pack
cargo_tool geckodriver "$GECKODRIVER_VERSION" yes geckodriver
cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION" yes cargo-fuzz

# ---------------------------------------------------------------------------------------------
step "npm packages for the tests (repository root, with devDependencies)"
npm_packages all

# Tests only (tests/ddp, scripts/train_ddp.py): PyTorch in a venv outside the repository; the demo does not need it.
bash "$ROOT/scripts/setup-torch.sh"

step "Setup complete"
info "wasm-pack $(version_of wasm-pack), wasm-bindgen $(version_of wasm-bindgen), geckodriver $(version_of geckodriver)"
