#!/usr/bin/env python3
"""PyTorch / NumPy references for "inside the model" (issue 11): head knock-out, the logit lens
and the head scores, written to tests/fixtures/inside.expected.safetensors and
tests/fixtures/inside.heads.json.

Regenerate (from the repository root; needs the torch venv, see scripts/setup-torch.sh; not
run in CI):

    /opt/torch-venv/bin/python scripts/make_inside_fixture.py

Model: tests/fixtures/product_stress.safetensors (the product config with peaked attention,
so every head matters) through the shared reference model ../shared/reference/torch_gpt.py.
Text: www/data/proverbs.txt (written for this project), characters outside the vocabulary
skipped.

- Knock-out: a forward hook on `blocks[l].sa.heads[h]` returns zeros instead of the head's
  output (its attention-weighted sum of values), before `proj`.
- Logit lens: `lm_head(ln_f(x_l))` for the residual stream after each block (torch_gpt's
  `hidden=` list).
- Head scores: the definitions of src/analysis/heads.rs, re-implemented here from the issue's
  text with NumPy (loops written independently of the Rust code), on the attention PyTorch
  captures; the induction texts come from a Python port of the project's SplitMix64.
"""
import json
import math
import os
import sys
import unicodedata

import numpy as np
import torch
from safetensors.torch import save_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "..", "shared", "reference"))
import torch_gpt  # noqa: E402

FIX = os.path.join(REPO, "tests", "fixtures")
KNOCKOUTS = ["0.1", "1.0,3.2", "2.0,2.1,2.2,2.3", "0.0,1.1,2.2,3.3", "3.3"]
WINDOWS = 3
ROLE_THRESHOLD = 0.3
INDUCTION_SEQUENCES = 4
INDUCTION_SEED = 0x1D0C
M64 = (1 << 64) - 1


# --- the project's SplitMix64 (src/rng.rs) ----------------------------------------------------
class Rng:
    def __init__(self, seed):
        self.state = seed & M64

    @staticmethod
    def for_stream(seed, stream):
        r = Rng(seed)
        for s in stream:
            r.state ^= (s * 0x9E3779B97F4A7C15) & M64
            r.next_u64()
        return r

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, n):
        return ((self.next_u64() >> 32) * n) >> 32


def induction_sequences(vocab_size, block_size):
    half = max(block_size // 2, 1)
    out = []
    for i in range(INDUCTION_SEQUENCES):
        rng = Rng.for_stream(INDUCTION_SEED, [i])
        if half <= vocab_size:
            pool = list(range(vocab_size))
            for j in range(half):
                pick = j + rng.below(vocab_size - j)
                pool[j], pool[pick] = pool[pick], pool[j]
            run = pool[:half]
        else:
            run = [rng.below(vocab_size) for _ in range(half)]
        out.append(run + run)
    return out


# --- Kannada character classes and aksharas (from the Unicode block) ---------------------------
def kind(c):
    o = ord(c)
    if o in (0x0C8D, 0x0C91, 0x0CA9, 0x0CB4, 0x0CC5, 0x0CC9):
        return "other"
    if 0x0C95 <= o <= 0x0CB9 or o in (0x0CDD, 0x0CDE):
        return "C"
    if 0x0C85 <= o <= 0x0C94 or o in (0x0CE0, 0x0CE1):
        return "V"
    if o == 0x0CBC:
        return "nukta"
    if o == 0x0CCD:
        return "virama"
    if 0x0CBE <= o <= 0x0CCC or o in (0x0CE2, 0x0CE3):
        return "sign"
    if o in (0x0CD5, 0x0CD6):
        return "length"
    if 0x0C81 <= o <= 0x0C83 or o == 0x0CF3:
        return "mod"
    return "other"


def akshara_starts(chars):
    """Start index of the akshara each character belongs to (consonant clusters joined by
    virama, vowel signs, length marks and a final modifier attached)."""
    starts, i, n = [0] * len(chars), 0, len(chars)
    while i < n:
        j = i + 1
        k = kind(chars[i])
        if k == "C":
            while True:
                if j < n and kind(chars[j]) == "nukta":
                    j += 1
                if j < n and kind(chars[j]) == "virama":
                    if j + 1 < n and kind(chars[j + 1]) == "C":
                        j += 2
                        continue
                    j += 1
                    break
                while j < n and kind(chars[j]) == "sign":
                    j += 1
                if j < n and kind(chars[j]) == "length":
                    j += 1
                if j < n and kind(chars[j]) == "mod":
                    j += 1
                break
        elif k == "V" and j < n and kind(chars[j]) == "mod":
            j += 1
        for p in range(i, j):
            starts[p] = i
        i = j
    return starts


# --- head scores, from the definitions ---------------------------------------------------
def scores_of_windows(atts, windows_chars, block):
    """atts: list over windows of array [L*H, T, T]. Returns per head the dict of pattern scores
    and the distance-profile baselines."""
    n_heads = atts[0].shape[0]
    res = []
    for h in range(n_heads):
        acc = {k: [] for k in ("prev_char", "self", "first", "mean_distance", "entropy_bits")}
        sa, cj, ws = [], [], []
        # queries with their key offsets, to build the baselines after the profile is known
        sa_q, cj_q, ws_q = [], [], []
        prof_sum = np.zeros(block + 1)
        prof_n = np.zeros(block + 1)
        for att, chars in zip(atts, windows_chars):
            a = att[h].astype(np.float64)
            T = len(chars)
            st = akshara_starts(chars)
            for q in range(1, T):
                row = a[q, : q + 1]
                acc["prev_char"].append(row[q - 1])
                acc["self"].append(row[q])
                acc["first"].append(row[0])
                acc["mean_distance"].append(sum(row[k] * (q - k) for k in range(q + 1)))
                acc["entropy_bits"].append(-sum(x * math.log2(x) for x in row if x > 0))
                for d in range(q + 1):
                    prof_sum[d] += row[q - d]
                    prof_n[d] += 1
                s = st[q]
                if s > 0 and s < q:
                    sa.append(row[s:q].sum())
                    sa_q.append(q - s)
                if q >= 2 and kind(chars[q]) == "C" and kind(chars[q - 1]) == "virama":
                    k = q - 3 if chars[q - 2] == "\u0cbc" else q - 2
                    if k >= 0 and kind(chars[k]) == "C":
                        cj.append(row[k])
                        cj_q.append(q - k)
                if not chars[q].isspace():
                    w = q
                    while w > 0 and not chars[w - 1].isspace():
                        w -= 1
                    if w > 0 and w < q:
                        ws.append(row[w])
                        ws_q.append(q - w)
        prof = np.where(prof_n > 0, prof_sum / np.maximum(prof_n, 1), 0.0)
        mean = lambda xs: float(np.mean(xs)) if xs else 0.0  # noqa: E731
        out = {k: mean(v) for k, v in acc.items()}
        out["same_akshara"] = mean(sa)
        out["conjunct"] = mean(cj)
        out["word_start"] = mean(ws)
        out["same_akshara_baseline"] = mean([prof[1 : span + 1].sum() for span in sa_q])
        out["conjunct_baseline"] = mean([prof[d] for d in cj_q])
        out["word_start_baseline"] = mean([prof[d] for d in ws_q])
        res.append(out)
    return res


def knockout_hooks(model, spec):
    handles = []
    for entry in filter(None, spec.split(",")):
        l, h = map(int, entry.split("."))
        head = model.blocks[l].sa.heads[h]
        handles.append(head.register_forward_hook(lambda mod, inp, out: torch.zeros_like(out)))
    return handles


def main():
    model, cfg = torch_gpt.load_weights(os.path.join(FIX, "product_stress.safetensors"), dropout=0.0)
    model.eval()
    from safetensors import safe_open

    with safe_open(os.path.join(FIX, "product_stress.safetensors"), framework="pt") as f:
        vocab = json.loads(f.metadata()["vocab"])
    index = {c: i for i, c in enumerate(vocab)}
    text = unicodedata.normalize("NFC", open(os.path.join(REPO, "www", "data", "proverbs.txt"), encoding="utf-8").read())
    ids = [index[c] for c in text if c in index]
    T, L, H, V = cfg["block_size"], cfg["n_layer"], cfg["n_head"], cfg["vocab_size"]
    out = {}
    with torch.no_grad():
        for case, n in (("long", T), ("short", 37)):
            x = torch.tensor([ids[:n]])
            out[f"{case}.ids"] = torch.tensor(ids[:n], dtype=torch.int64)
            hidden = []
            logits, _ = model(x, hidden=hidden)
            out[f"{case}.logits"] = logits[0].float()
            lens = torch.stack([model.lm_head(model.ln_f(hs))[0] for hs in hidden[1:]])
            out[f"{case}.lens"] = lens.float()
            for i, spec in enumerate(KNOCKOUTS):
                hs = knockout_hooks(model, spec)
                ko_logits, _ = model(x)
                for hd in hs:
                    hd.remove()
                out[f"{case}.ko{i}.logits"] = ko_logits[0].float()

        # head scores on the first WINDOWS windows
        atts, chars_w, nats = [], [], np.zeros(L * H + 1)
        for w in range(WINDOWS):
            win = ids[w * T : w * T + T + 1]
            x, y = torch.tensor([win[:-1]]), torch.tensor([win[1:]])
            _, loss = model(x, y, capture=True)
            att = torch.stack([a[0] for layer in model.attention() for a in layer]).numpy()
            atts.append(att)
            chars_w.append([vocab[i] for i in win[:-1]])
            nats[0] += float(loss) * T
            for hix in range(L * H):
                hs = knockout_hooks(model, f"{hix // H}.{hix % H}")
                _, kl = model(x, y)
                for hd in hs:
                    hd.remove()
                nats[hix + 1] += float(kl) * T
        pats = scores_of_windows(atts, chars_w, T)
        ind = np.zeros(L * H)
        seqs = induction_sequences(V, T)
        for s in seqs:
            half = len(s) // 2
            model(torch.tensor([s]), capture=True)
            att = torch.stack([a[0] for layer in model.attention() for a in layer]).numpy()
            for hix in range(L * H):
                ind[hix] += np.mean([att[hix, q, q - half + 1] for q in range(half, len(s))])
        ind /= len(seqs)
    predicted = WINDOWS * T
    heads = []
    for hix, p in enumerate(pats):
        ev = [p["same_akshara"] - p["same_akshara_baseline"], p["conjunct"] - p["conjunct_baseline"],
              p["word_start"] - p["word_start_baseline"]]
        cands = [("first", p["first"]), ("self", p["self"]), ("prev_char", p["prev_char"]),
                 ("induction", float(ind[hix])), ("same_akshara", ev[0]), ("conjunct", ev[1]),
                 ("word_start", ev[2])]
        best = cands[0]
        for c in cands[1:]:
            if c[1] > best[1]:
                best = c
        role = best[0] if best[1] >= ROLE_THRESHOLD else "mixed"
        heads.append(dict(layer=hix // H, head=hix % H, **{k: p[k] for k in (
            "prev_char", "self", "first", "mean_distance", "entropy_bits", "same_akshara", "conjunct",
            "word_start")}, induction=float(ind[hix]),
            knockout_bits=(nats[hix + 1] - nats[0]) / math.log(2) / predicted,
            role=role, role_score=best[1]))
    # Embedding map: principal components of wte by numpy's eigh, with the sign rule of
    # src/analysis/embedding_map.rs (the largest-magnitude loading positive, first on a tie).
    wte = model.token_embedding_table.weight.detach().double().numpy()
    centred = wte - wte.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred / len(wte))
    order = np.argsort(-values, kind="stable")[:2]
    comps = []
    for col in order:
        v = vectors[:, col].copy()
        if v[int(np.argmax(np.abs(v)))] < 0:
            v = -v
        comps.append(v)
    comps = np.stack(comps)
    out["pca.points"] = torch.tensor(centred @ comps.T, dtype=torch.float32)
    out["pca.explained"] = torch.tensor(values[order] / values.clip(min=0).sum(), dtype=torch.float32)
    wpe = model.position_embedding_table.weight.detach().double().numpy()
    unit = wpe / np.linalg.norm(wpe, axis=1, keepdims=True)
    out["position_similarity"] = torch.tensor(unit @ unit.T, dtype=torch.float32)
    meta = {"knockouts": json.dumps(KNOCKOUTS), "source": "scripts/make_inside_fixture.py"}
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(FIX, "inside.expected.safetensors"), metadata=meta)
    with open(os.path.join(FIX, "inside.heads.json"), "w", encoding="utf-8") as f:
        json.dump({"windows": WINDOWS, "bits_per_char": nats[0] / math.log(2) / predicted, "heads": heads}, f, indent=1)
    print("wrote inside.expected.safetensors and inside.heads.json;", "roles:", [h["role"] for h in heads])


if __name__ == "__main__":
    main()
