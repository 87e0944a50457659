# Shared helpers for scripts/setup-demo.sh and scripts/setup.sh (sourced, not run).
#
# Every install helper here is idempotent: it checks the tool (and its version) first and does
# nothing when it is already there. Network use is limited to package registries: apt (Debian),
# crates.io (cargo install), the Rust toolchain channel (rustup target add) and npm.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"

SETUP_NAME="${SETUP_NAME:-setup}"
step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '%s: error: %s\n' "$SETUP_NAME" "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    SUDO=()
fi

# apt_install PKG... : installs the given Debian packages (callers pass only missing ones)
apt_install() {
    [ $# -gt 0 ] || return 0
    if [ "$(id -u)" -ne 0 ] && [ "${#SUDO[@]}" -eq 0 ]; then
        die "need root or sudo to install: $*"
    fi
    info "installing: $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

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

# npm_missing MODE(demo|all) -> prints the locked packages that are not in node_modules at their
# locked version ("demo": package.json's dependencies and what they pull in; "all": devDependencies
# too). Prints nothing when node_modules is complete.
npm_missing() {
    node - "$1" <<'JS'
const fs = require("node:fs");
const mode = process.argv[2];
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
const missing = [];
for (const [path, meta] of Object.entries(lock.packages || {})) {
  if (!path.startsWith("node_modules/")) continue;
  if (mode === "demo" && meta.dev) continue;
  if (meta.optional) continue;
  let have = null;
  try {
    have = JSON.parse(fs.readFileSync(`${path}/package.json`, "utf8")).version;
  } catch {}
  if (have !== meta.version) missing.push(`${path.slice("node_modules/".length)}@${meta.version}`);
}
console.log(missing.join(" "));
JS
}

# npm_packages MODE(demo|all): `npm ci` (without devDependencies for "demo") unless complete.
npm_packages() {
    local mode="$1" missing
    [ -f package-lock.json ] || die "package-lock.json missing"
    missing="$(npm_missing "$mode")"
    if [ -z "$missing" ]; then
        info "node_modules has every locked package ($mode), skipping"
    elif [ "$mode" = demo ]; then
        info "missing: $(echo "$missing" | cut -c1-200)"
        info "npm ci --omit=dev"
        npm ci --omit=dev --no-audit --no-fund
    else
        info "missing: $(echo "$missing" | cut -c1-200)"
        info "npm ci"
        npm ci --no-audit --no-fund
    fi
}
