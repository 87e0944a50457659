#!/usr/bin/env bash
# Short training runs for the recipe search (weights/experiments.md), one after another.
#
#   bash scripts/recipe-search.sh SPEC_FILE RUNS_DIR [KGPT_BINARY]
#
# SPEC_FILE: one run per line, "name: kgpt train flags" (blank lines and # comments skipped),
# e.g. "lr4e-3_b64_d0: --steps 2500 --batch-size 64 --lr 4e-3 --dropout 0".
# Every run trains on RUNS_DIR/data/train-search.txt with RUNS_DIR/data/dev.txt as its
# validation text (made by scripts/split_dev.py; val.txt is never looked at while tuning), with
# the settings shared by all runs below, then `kgpt eval` scores its weights on dev.txt and on
# ../shared/corpus/val.txt. One TSV row per run goes to RUNS_DIR/results.tsv. A run whose
# directory already has model.safetensors and a results row is skipped, so the script can be
# restarted.
set -euo pipefail
spec="$1"
runs="$2"
kgpt="${3:-target/release/kgpt}"
corpus="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared/corpus"
common=(--schedule cosine --warmup 200 --min-lr-ratio 0.05 --eval-interval 500 --eval-iters 10 --seed 7)
results="$runs/results.tsv"
[ -f "$results" ] || printf 'name\tflags\tsteps\ttokens\twall_s\tdev_bpc\tval_bpc\tval_bpa\tval_bpb\n' > "$results"
bpc() { "$kgpt" eval --weights "$1" --data "$2" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["bits_per_char"], d["bits_per_akshara"], d["bits_per_byte"])'; }
grep -v '^\s*\(#\|$\)' "$spec" | while IFS= read -r line; do
    name="${line%%:*}"
    flags="${line#*:}"
    dir="$runs/$name"
    if grep -q "^$name	" "$results"; then echo "== $name: done, skipping"; continue; fi
    echo "== $name: $flags"
    rm -rf "$dir"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    "$kgpt" train --data "$runs/data/train-search.txt" --val "$runs/data/dev.txt" --out "$dir" \
        "${common[@]}" $flags > "$dir.log" 2>&1
    wall=$(( $(date +%s) - t0 ))
    steps=$(tail -n 1 "$dir/log.csv" | cut -d, -f1)
    batch=$(echo "$flags" | sed -n 's/.*--batch-size \([0-9]*\).*/\1/p')
    read -r dev _ _ < <(bpc "$dir/model.safetensors" "$runs/data/dev.txt")
    read -r val bpa bpb < <(bpc "$dir/model.safetensors" "$corpus/val.txt")
    printf '%s\t%s\t%s\t%s\t%s\t%.4f\t%.4f\t%.4f\t%.4f\n' "$name" "$flags" "$steps" \
        "$(( steps * ${batch:-32} * 128 ))" "$wall" "$dev" "$val" "$bpa" "$bpb" >> "$results"
    tail -n 1 "$results"
done
