#!/usr/bin/env bash
# Run every test suite in order; stop at the first failure and print a summary.
#
#   bash scripts/test-all.sh
#
#   1. cargo fmt --all -- --check
#   2. cargo clippy --all-targets -- -D warnings (native, wasm32, wasm32 with relaxed SIMD)
#   3. cargo test --release
#   4. wasm-pack test --headless --firefox --release --mode no-install   (wasm32, in Firefox), and the
#      same suite compiled with relaxed SIMD in Chromium (--chrome, chromedriver; kernels, parity, ...)
#   5. scripts/build-wasm.sh                                            (www/pkg, www/pkg-relaxed)
#   6. kgpt bench --quick, the wasm bench and the data-parallel training bench under Node --quick,
#      a fuzz smoke run (benchmarks only have to run here; their timings are not asserted)
#   7. tests/ddp (scripts/train_ddp.py under torchrun, against kgpt; PyTorch from scripts/setup-torch.sh)
#   8. node --test tests/e2e/                                           (if tests/e2e/ exists;
#      Chromium via playwright-core, incl. the axe-core audit and the _site test from
#      scripts/build-site.sh, and the Firefox ESR smoke test via geckodriver + selenium-webdriver)
#
# Tools come from scripts/setup.sh (~/.cargo/bin, node_modules/.bin); .ci/run runs it first.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$ROOT/node_modules/.bin:$PATH"

# the relaxed-SIMD build's RUSTFLAGS and target subdir (shared with scripts/build-wasm.sh)
# shellcheck source=scripts/wasm-relaxed.env
. "$ROOT/scripts/wasm-relaxed.env"
RELAXED_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/$RELAXED_TARGET_SUBDIR"
CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || true)}"

# wasm-pack test --firefox: use our geckodriver (never let wasm-pack download one)
if [ -z "${GECKODRIVER:-}" ] && command -v geckodriver >/dev/null 2>&1; then
    GECKODRIVER="$(command -v geckodriver)"
    export GECKODRIVER
fi

names=()
results=()
times=()
t_all=$(date +%s)

summary() {
    local i
    echo
    echo "================ test-all summary ================"
    for i in "${!names[@]}"; do
        printf '  %-6s %-58s %5ss\n' "${results[$i]}" "${names[$i]}" "${times[$i]}"
    done
    echo "  total $(( $(date +%s) - t_all ))s"
    echo "=================================================="
}

# run NAME CMD...
run() {
    local name="$1" t0 rc
    shift
    echo
    echo "==> [$(( ${#names[@]} + 1 ))] $name"
    t0=$(date +%s)
    if "$@"; then
        rc=0
    else
        rc=$?
    fi
    names+=("$name")
    times+=("$(( $(date +%s) - t0 ))")
    if [ "$rc" -eq 0 ]; then
        results+=("PASS")
    else
        results+=("FAIL")
        summary
        echo "test-all.sh: '$name' failed (exit $rc); stopping." >&2
        exit "$rc"
    fi
}

skip() {
    echo
    echo "==> $1: skipped ($2)"
    names+=("$1")
    times+=("0")
    results+=("SKIP")
}

run "cargo fmt --all -- --check" cargo fmt --all -- --check
run "cargo clippy --all-targets -- -D warnings" cargo clippy --all-targets -- -D warnings
run "cargo clippy (wasm32)" cargo clippy --target wasm32-unknown-unknown --all-targets -- -D warnings
run "cargo clippy (wasm32, relaxed SIMD)" env RUSTFLAGS="$RELAXED_RUSTFLAGS" CARGO_TARGET_DIR="$RELAXED_TARGET_DIR" \
    cargo clippy --target wasm32-unknown-unknown --all-targets -- -D warnings
run "cargo test --release" cargo test --release
run "kgpt bench --quick (smoke)" cargo run --release --quiet -- bench --quick --threads 1,2 --json-out target/bench-smoke.json
run "wasm-pack test --headless --firefox --release" \
    wasm-pack test --headless --firefox --release --mode no-install
run "wasm-pack test --headless --chrome --release (relaxed SIMD)" \
    env RUSTFLAGS="$RELAXED_RUSTFLAGS" CARGO_TARGET_DIR="$RELAXED_TARGET_DIR" CHROMEDRIVER="$CHROMEDRIVER" \
    wasm-pack test --headless --chrome --release --mode no-install
run "scripts/build-wasm.sh" bash scripts/build-wasm.sh
run "wasm bench under Node --quick (smoke)" node scripts/bench-wasm.mjs --pkg www/pkg --pkg www/pkg-relaxed --quick --json-out target/bench-wasm-smoke.json
run "data-parallel training bench under Node --quick (smoke)" node scripts/bench-train-workers.mjs --pkg www/pkg --quick --json-out target/bench-train-workers-smoke.json
run "fuzz smoke (each target a few seconds)" bash scripts/fuzz-smoke.sh
run "PyTorch DDP trainer (tests/ddp: torchrun, gloo)" "${TORCH_VENV:-/opt/torch-venv}/bin/python" -m unittest discover -s tests/ddp -v
if [ -d tests/e2e ]; then
    run "node --test tests/e2e/" node --test tests/e2e/
else
    skip "node --test tests/e2e/" "no tests/e2e directory"
fi

summary
echo "All suites passed."
