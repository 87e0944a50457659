#!/usr/bin/env bash
# Fuzz smoke run for CI: build the cargo-fuzz targets (fuzz/) and run each for a few seconds
# from its committed corpus. Fails on any crash, panic, leak or timeout libFuzzer reports.
#
#   bash scripts/fuzz-smoke.sh            # 5 s per target
#   FUZZ_SECONDS=600 bash scripts/fuzz-smoke.sh checkpoint forward   # a real run of two targets
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer=address); with the stable toolchain
# RUSTC_BOOTSTRAP=1 enables them. New corpus entries go to a temporary directory, never into
# fuzz/corpus (keep that small: see docs/reliability.md for `cargo fuzz cmin`). A crash input
# is written to fuzz/artifacts/<target>/ (git-ignored) and the script exits non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export RUSTC_BOOTSTRAP=1
SECONDS_PER_TARGET="${FUZZ_SECONDS:-5}"
# Fuzzing must not slow down anything else on the machine (e.g. a training run).
NICE=(nice -n 19)

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz (crates.io)"
    "${NICE[@]}" cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(checkpoint checkpoint_metadata tokenizer_akshara translit forward)
fi

dict_of() {
    case "$1" in
        checkpoint | checkpoint_metadata) echo "-dict=dict/checkpoint.dict" ;;
        translit) echo "-dict=dict/translit.dict" ;;
        tokenizer_akshara) echo "-dict=dict/tokenizer_akshara.dict" ;;
    esac
}

echo "==> cargo fuzz build -O"
"${NICE[@]}" cargo fuzz build -O

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
summary=()
for t in "${targets[@]}"; do
    echo "==> fuzz $t for ${SECONDS_PER_TARGET}s"
    mkdir -p "$work/$t"
    log="$work/$t.log"
    # shellcheck disable=SC2046
    if "${NICE[@]}" cargo fuzz run -O "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 $(dict_of "$t") >"$log" 2>&1; then
        runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
        cov="$(grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -1 | grep -o 'cov: [0-9]*' || echo 'cov: ?')"
        summary+=("PASS $t: $runs executions, $cov")
    else
        tail -40 "$log"
        echo "fuzz-smoke.sh: $t failed (crash input in fuzz/artifacts/$t/)" >&2
        exit 1
    fi
done
printf '%s\n' "${summary[@]}"
echo "${#summary[@]} passed, 0 failed"
