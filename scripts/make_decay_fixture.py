#!/usr/bin/env python3
"""PyTorch reference for `kgpt train --weight-decay W --decay-scope S` (tests/weight_decay.rs).

    /opt/torch-venv/bin/python scripts/make_decay_fixture.py

Starts from tests/fixtures/tiny_gpt.safetensors and the batch grad.ids/grad.targets of
tiny_gpt.expected.safetensors (no random numbers are drawn here, so the output does not depend
on PyTorch's RNG), and takes 3 torch.optim.AdamW steps (lr 1e-3, dropout off) with two parameter
groups, `weight_decay=20` for the decayed tensors and 0 for the others, for each scope:

  all       every parameter (one group; gpt.py's use)
  matrices  tensors with >= 2 dims: linear weights and both embedding tables (nanoGPT)
  linear    linear-layer weights only (no embeddings, LayerNorm or biases)

Writes tests/fixtures/tiny_gpt.decay.safetensors: `<scope>.<param>` after the 3 steps and
`<scope>.losses` (loss before each step). Not run in CI.
"""
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import GPTLanguageModel, OUT_DIR  # noqa: E402  (gpt.py's model)

# A weight decay far above any useful value, so that each group's decay (lr·wd = 2 % per step)
# moves even the 0.02-sized embedding weights well past the test's tolerance.
LR, WD = 1e-3, 20.0
SCOPES = {
    "all": lambda name, p: True,
    "matrices": lambda name, p: p.dim() >= 2,
    "linear": lambda name, p: p.dim() >= 2 and "embedding_table" not in name,
}


def main():
    weights = load_file(os.path.join(OUT_DIR, "tiny_gpt.safetensors"))
    expected = load_file(os.path.join(OUT_DIR, "tiny_gpt.expected.safetensors"))
    ids, targets = expected["grad.ids"].long(), expected["grad.targets"].long()
    with safe_open(os.path.join(OUT_DIR, "tiny_gpt.safetensors"), framework="pt") as f:
        cfg = json.loads(f.metadata()["config"])
    out = {}
    for scope, decays in SCOPES.items():
        model = GPTLanguageModel(cfg)
        missing, unexpected = model.load_state_dict(weights, strict=False)
        assert not unexpected and all(k.endswith(".tril") for k in missing)
        model.eval()
        named = list(model.named_parameters())
        groups = [
            {"params": [p for n, p in named if decays(n, p)], "weight_decay": WD},
            {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=LR)
        losses = []
        for _ in range(3):
            _, loss = model(ids, targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        out[f"{scope}.losses"] = torch.tensor(losses, dtype=torch.float32)
        for n, p in named:
            out[f"{scope}.{n}"] = p.detach().float().contiguous().clone()
        print(scope, "decayed:", [n for n, p in named if decays(n, p)], "losses", losses)
    path = os.path.join(OUT_DIR, "tiny_gpt.decay.safetensors")
    save_file(out, path, metadata={"torch": torch.__version__, "lr": str(LR), "weight_decay": str(WD)})
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
