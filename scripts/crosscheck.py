#!/usr/bin/env python3
"""Cross-check `kgpt` against the PyTorch reference on weights neither has seen before.

For random valid configs, seeds and both inits (gpt.py's and "stress"), this script
  1. writes fresh weights with the reference (`torch_gpt.py init`),
  2. runs `kgpt forward --json` and `kgpt grads` on random ids/targets,
  3. runs `torch_gpt.py forward` (float32, and float64 as the exact answer) on the same input,
and prints the max abs difference of logits, attention, loss and gradients.
Fails (exit 1) if any figure exceeds 1e-4 against PyTorch float32.

Not run in CI (needs PyTorch). Usage, from the repository root:
    /opt/torch-venv/bin/python scripts/crosscheck.py [--trials 12] [--torch-gpt ../shared/reference/torch_gpt.py]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file

TOL = 1e-4


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def max_diff(a, b):
    return (torch.tensor(a, dtype=torch.float64) - torch.tensor(b, dtype=torch.float64)).abs().max().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kgpt", default="target/release/kgpt")
    ap.add_argument("--torch-gpt", default=os.path.join("..", "shared", "reference", "torch_gpt.py"))
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    py = sys.executable
    worst = 0.0
    print("| config (V,C,H,L,T) | init | seed | T | logits | attention | loss | grads | f32 torch vs f64 |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for trial in range(a.trials):
            n_head = rnd.choice([1, 2, 4])
            n_embd = n_head * rnd.choice([4, 8, 16])
            cfg = dict(vocab_size=rnd.randint(2, 100), n_embd=n_embd, n_head=n_head,
                       n_layer=rnd.randint(1, 4), block_size=rnd.choice([1, 3, 8, 16, 32, 128]))
            init = "stress" if trial % 2 else "gpt"
            seed = rnd.randint(0, 10**6)
            w = os.path.join(d, f"w{trial}.safetensors")
            run([py, a.torch_gpt, "init", "--vocab-size", str(cfg["vocab_size"]), "--n-embd", str(n_embd),
                 "--n-head", str(n_head), "--n-layer", str(cfg["n_layer"]), "--block-size", str(cfg["block_size"]),
                 "--seed", str(seed), "--init", init, "--out", w])
            vocab = os.path.join(d, f"v{trial}.txt")
            with open(vocab, "w", encoding="utf-8") as f:  # V distinct characters (gpt.py sorted-set rule)
                f.write("".join(chr(0x4E00 + i) for i in range(cfg["vocab_size"])))
            t = rnd.randint(1, cfg["block_size"])
            ids = [rnd.randrange(cfg["vocab_size"]) for _ in range(t)]
            tg = [rnd.randrange(cfg["vocab_size"]) for _ in range(t)]
            ids_s, tg_s = ",".join(map(str, ids)), ",".join(map(str, tg))
            ours = json.loads(run([a.kgpt, "forward", "--weights", w, "--vocab-from", vocab, "--ids", ids_s,
                                   "--targets", tg_s, "--json"]))
            g_ours = os.path.join(d, f"g{trial}.safetensors")
            run([a.kgpt, "grads", "--weights", w, "--vocab-from", vocab, "--ids", ids_s, "--targets", tg_s,
                 "--out", g_ours])
            refs = {}
            for prec in ("f32", "f64"):
                out = os.path.join(d, f"r{trial}{prec}.json")
                cmd = [py, a.torch_gpt, "forward", "--weights", w, "--ids", ids_s, "--targets", tg_s, "--out", out]
                if prec == "f64":
                    cmd.append("--double")
                else:
                    cmd += ["--grads-out", os.path.join(d, f"g{trial}ref.safetensors")]
                run(cmd)
                refs[prec] = json.load(open(out))
            r = refs["f32"]
            dl = max_diff(ours["logits"], r["logits"])
            da = max_diff(ours["attention"], r["attention"])
            dloss = abs(ours["loss"] - r["loss"])
            gr, go = load_file(os.path.join(d, f"g{trial}ref.safetensors")), load_file(g_ours)
            dg = max((gr[k].double() - go[k].double()).abs().max().item() for k in gr)
            d64 = max_diff(r["logits"], refs["f64"]["logits"])
            worst = max(worst, dl, da, dloss, dg)
            c = cfg
            print(f"| {c['vocab_size']},{c['n_embd']},{c['n_head']},{c['n_layer']},{c['block_size']} | {init} | {seed} "
                  f"| {t} | {dl:.1e} | {da:.1e} | {dloss:.1e} | {dg:.1e} | {d64:.1e} |")
    print(f"\nworst difference against PyTorch float32: {worst:.2e} (tolerance {TOL:g})")
    sys.exit(0 if worst <= TOL else 1)


if __name__ == "__main__":
    main()
