#!/usr/bin/env python3
"""Train Micro-KannadaGPT's model family with PyTorch DistributedDataParallel (nanoGPT's train.py
as the pattern): one GPU, several GPUs, several nodes, or CPU processes.

    # one process (CPU or one GPU)
    python scripts/train_ddp.py --data train.txt --val val.txt --out runs/ddp
    # N processes on this machine (NCCL on GPUs, gloo on CPU)
    torchrun --standalone --nproc_per_node N scripts/train_ddp.py --data train.txt --val val.txt --out runs/ddp
    # continue a kgpt checkpoint; resume a stopped run (ours or kgpt train's)
    torchrun ... scripts/train_ddp.py --init-from weights/kannada-gpt.safetensors --data ... --out DIR
    torchrun ... scripts/train_ddp.py --resume DIR --data ...

It is `kgpt train` with the same flags and meaning (--batch-size is the GLOBAL batch), the same
model (gpt.py's module tree and state-dict names), the same vocabulary rule (sorted set of the
NFC-normalised training text), the same batches (kgpt's SplitMix64 streams keyed by (seed, step):
rank r computes only its slice of the global batch), AdamW = torch.optim.AdamW, linear warm-up +
cosine, clipping, and the same run directory: log.csv (kgpt's columns), model.safetensors (F32,
metadata `config` and `vocab` exactly as kgpt writes them: loads in kgpt and in the page) and
train-state.safetensors (kgpt's layout: weights + adamw.m.* / adamw.v.* + step, adamw_step,
train_args), so `kgpt train --resume DIR` continues a run of this script and `--resume DIR` here
continues a kgpt run. At the end the validation text is scored with the product's bits-per-char
protocol (eval.json). Every input is checked before the process group starts.
"""
import argparse
import json
import math
import os
import sys
import time
import unicodedata

import numpy as np

STATE_FILE = "train-state.safetensors"
MODEL_FILE = "model.safetensors"
LOG_FILE = "log.csv"
EVAL_FILE = "eval.json"
LOG_HEADER = "step,lr,batch_loss,train_loss,val_loss,tokens_per_s,elapsed_s"
SCOPES = ("all", "matrices", "linear")
# kgpt's bounds (src/config.rs): a file beyond them does not load in kgpt or the page.
KGPT_MAX_PARAMS = 64 << 20
KGPT_MAX_ATTENTION = 64 << 20
KGPT_MAX_BLOCK = 4096


class InputError(Exception):
    """Bad input: reported as `error: ...` with exit code 1, before any process group starts."""


# ---------------------------------------------------------------------------------------------
# kgpt's random streams (src/rng.rs, SplitMix64): the same batches as `kgpt train`
# ---------------------------------------------------------------------------------------------
_M64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def stream_state(seed, stream):
    """State of kgpt's Rng::for_stream(seed, stream)."""
    s = seed & _M64
    for x in stream:
        s ^= (x * _GAMMA) & _M64
        s = (s + _GAMMA) & _M64  # the discarded next_u64()
    return s


def stream_draw(state, k):
    """The k-th (0-based) next_u64() from a state: SplitMix64's state is a counter."""
    return _mix((state + (k + 1) * _GAMMA) & _M64)


def batch_starts(n_ids, b, t, seed, step, rows):
    """Window starts of rows `rows` of kgpt's sample_batch(data, b, t, seed, step)."""
    state = stream_state(seed, [step, 0xBA7C])
    span = n_ids - t
    return [((stream_draw(state, i) >> 32) * span) >> 32 for i in rows]


def dropout_seed(seed, step, rank):
    """torch seed for the dropout masks of (seed, step, rank): a resumed run draws the same masks."""
    return stream_draw(stream_state(seed, [step, 0xD209, rank]), 0) & ((1 << 63) - 1)


# ---------------------------------------------------------------------------------------------
# vocabulary and data (src/tokenizer.rs: NFC, sorted set of characters, unknown ones skipped)
# ---------------------------------------------------------------------------------------------
def read_text(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return unicodedata.normalize("NFC", f.read())
    except FileNotFoundError:
        raise InputError(f"{what} {path}: no such file")
    except UnicodeDecodeError as e:
        raise InputError(f"{what} {path}: not UTF-8 text ({e})")
    except OSError as e:
        raise InputError(f"{what} {path}: cannot read ({e.strerror})")


def vocab_of(text):
    return sorted(set(text))


def encode(text, vocab):
    """ids of the characters in `vocab` (sorted by code point), and the unknown characters."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    table = np.array([ord(c) for c in vocab], dtype=np.uint32)
    if not vocab or sorted(vocab) != list(vocab):
        # not sorted (a file from elsewhere): map through a dict
        index = {c: i for i, c in enumerate(vocab)}
        ids = np.array([index.get(c, -1) for c in text], dtype=np.int64)
    else:
        ids = np.searchsorted(table, cps).astype(np.int64)
        ids[ids >= len(table)] = -1
        ids[(ids >= 0) & (table[np.clip(ids, 0, len(table) - 1)] != cps)] = -1
    unknown = [chr(c) for c in np.unique(cps[ids < 0])]
    return ids[ids >= 0], unknown


# ---------------------------------------------------------------------------------------------
# model: gpt.py's module tree and state-dict names (see /work/shared/reference/torch_gpt.py)
# ---------------------------------------------------------------------------------------------
def build_model_classes():
    import torch
    import torch.nn as nn
    from torch.nn import functional as F

    class Head(nn.Module):
        """One head's key/query/value (gpt.py's names); MultiHeadAttention runs all heads as one
        batched attention (the same numbers, far faster on GPUs)."""

        def __init__(self, n_embd, head_size):
            super().__init__()
            self.key = nn.Linear(n_embd, head_size, bias=False)
            self.query = nn.Linear(n_embd, head_size, bias=False)
            self.value = nn.Linear(n_embd, head_size, bias=False)

    class MultiHeadAttention(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            C, nh = cfg["n_embd"], cfg["n_head"]
            self.heads = nn.ModuleList([Head(C, C // nh) for _ in range(nh)])
            self.proj = nn.Linear(C, C)
            self.dropout = nn.Dropout(cfg["dropout"])
            self.attn_dropout = cfg["dropout"]

        def forward(self, x):
            B, T, C = x.shape
            nh = len(self.heads)
            hs = C // nh

            def project(name):
                w = torch.cat([getattr(h, name).weight for h in self.heads], dim=0)  # (C, C)
                return (x @ w.t()).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)

            q, k, v = project("query"), project("key"), project("value")
            # softmax(q kᵀ · hs^-0.5, causal), dropout on the probabilities, @ v: gpt.py's Head
            y = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.attn_dropout if self.training else 0.0
            )
            y = y.transpose(1, 2).reshape(B, T, C)  # heads concatenated in order, as torch.cat
            return self.dropout(self.proj(y))

    class FeedFoward(nn.Module):  # (sic) gpt.py's spelling
        def __init__(self, cfg):
            super().__init__()
            C = cfg["n_embd"]
            self.net = nn.Sequential(nn.Linear(C, 4 * C), nn.ReLU(), nn.Linear(4 * C, C), nn.Dropout(cfg["dropout"]))

        def forward(self, x):
            return self.net(x)

    class Block(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.sa = MultiHeadAttention(cfg)
            self.ffwd = FeedFoward(cfg)
            self.ln1 = nn.LayerNorm(cfg["n_embd"])
            self.ln2 = nn.LayerNorm(cfg["n_embd"])

        def forward(self, x):
            x = x + self.sa(self.ln1(x))
            return x + self.ffwd(self.ln2(x))

    class GPTLanguageModel(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            V, C, T = cfg["vocab_size"], cfg["n_embd"], cfg["block_size"]
            self.token_embedding_table = nn.Embedding(V, C)
            self.position_embedding_table = nn.Embedding(T, C)
            self.blocks = nn.Sequential(*[Block(cfg) for _ in range(cfg["n_layer"])])
            self.ln_f = nn.LayerNorm(C)
            self.lm_head = nn.Linear(C, V)
            self.apply(self._init_weights)

        @staticmethod
        def _init_weights(module):  # gpt.py's init
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx):
            T = idx.shape[1]
            x = self.token_embedding_table(idx) + self.position_embedding_table(torch.arange(T, device=idx.device))
            x = self.ln_f(self.blocks(x))
            return self.lm_head(x)

    return GPTLanguageModel


def param_count(cfg):
    V, C, L, T = cfg["vocab_size"], cfg["n_embd"], cfg["n_layer"], cfg["block_size"]
    per_block = 3 * C * C + (C * C + C) + (4 * C * C + 4 * C) + (4 * C * C + C) + 4 * C
    return V * C + T * C + L * per_block + 2 * C + C * V + V


def config_json(cfg):
    """kgpt's `config` metadata: serde_json of its Config struct, fields in this order."""
    keys = ("vocab_size", "n_embd", "n_head", "n_layer", "block_size", "dropout")
    return json.dumps({k: (float(cfg[k]) if k == "dropout" else int(cfg[k])) for k in keys}, separators=(",", ":"))


def vocab_json(vocab):
    return json.dumps(list(vocab), ensure_ascii=False, separators=(",", ":"))


def check_config(cfg):
    for k in ("n_embd", "n_head", "n_layer", "block_size", "vocab_size"):
        if not isinstance(cfg[k], int) or cfg[k] <= 0:
            raise InputError(f"{k} = {cfg[k]} must be a positive integer")
    if cfg["n_embd"] % cfg["n_head"] != 0:
        raise InputError(f"n_embd ({cfg['n_embd']}) must be divisible by n_head ({cfg['n_head']})")
    if not (0.0 <= cfg["dropout"] < 1.0):
        raise InputError(f"dropout = {cfg['dropout']} must be in [0, 1)")


def kgpt_limits_warning(cfg):
    n = param_count(cfg)
    att = cfg["n_layer"] * cfg["n_head"] * cfg["block_size"] ** 2
    if n > KGPT_MAX_PARAMS or att > KGPT_MAX_ATTENTION or cfg["block_size"] > KGPT_MAX_BLOCK:
        return (f"warning: {n} parameters / attention buffer {att} are beyond kgpt's limits "
                f"({KGPT_MAX_PARAMS} / {KGPT_MAX_ATTENTION}): kgpt and the page will refuse the export")
    return None


# ---------------------------------------------------------------------------------------------
# safetensors files (kgpt's format, src/checkpoint.rs)
# ---------------------------------------------------------------------------------------------
def read_safetensors(path, what):
    from safetensors import safe_open

    if not os.path.isfile(path):
        raise InputError(f"{what} {path}: no such file")
    try:
        with safe_open(path, framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types
        raise InputError(f"{what} {path}: not a valid safetensors file ({e})")
    return meta, tensors


def infer_config(tensors, path):
    """gpt.py state dict without metadata: the config from tensor shapes (as kgpt does)."""
    try:
        V, C = tensors["token_embedding_table.weight"].shape
        T = tensors["position_embedding_table.weight"].shape[0]
        layers = {int(k.split(".")[1]) for k in tensors if k.startswith("blocks.")}
        heads = {int(k.split(".")[4]) for k in tensors if k.startswith("blocks.0.sa.heads.")}
    except (KeyError, ValueError, IndexError) as e:
        raise InputError(f"{path}: cannot infer the config from the tensors ({e})")
    return dict(vocab_size=int(V), n_embd=int(C), n_head=len(heads), n_layer=len(layers), block_size=int(T), dropout=0.1)


def model_from_file(meta, tensors, path, train_vocab):
    """(config, vocab, state dict) of a kgpt (or gpt.py) checkpoint."""
    if "config" in meta:
        try:
            cfg = json.loads(meta["config"])
            cfg = {k: cfg[k] for k in ("vocab_size", "n_embd", "n_head", "n_layer", "block_size", "dropout")}
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"{path}: metadata \"config\" is not a kgpt config ({e})")
    else:
        cfg = infer_config(tensors, path)
    if "vocab" in meta:
        try:
            vocab = json.loads(meta["vocab"])
            assert isinstance(vocab, list) and all(isinstance(c, str) and len(c) == 1 for c in vocab)
        except (ValueError, AssertionError):
            raise InputError(f"{path}: metadata \"vocab\" is not a JSON array of single characters")
    else:
        vocab = train_vocab  # gpt.py's rule on the training text (kgpt's --vocab-from)
    check_config(cfg)
    if len(vocab) != cfg["vocab_size"]:
        raise InputError(f"{path}: the vocabulary has {len(vocab)} characters but the model's vocab_size is {cfg['vocab_size']}"
                         + ("" if "vocab" in meta else " (the file has no vocabulary: it was built from --data)"))
    state = {k: v for k, v in tensors.items() if not k.endswith(".tril") and not k.startswith("adamw.")}
    return cfg, vocab, state


def write_atomic(path, tensors, meta):
    from safetensors.torch import save_file

    tmp = path + ".tmp"
    save_file(tensors, tmp, metadata=meta)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def cpu_f32(t):
    import torch

    return t.detach().to("cpu", dtype=torch.float32).contiguous()


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="training text")
    p.add_argument("--val", help="validation text (only evaluated, never trained on)")
    p.add_argument("--out", help="run directory: model.safetensors, train-state.safetensors, log.csv, eval.json")
    p.add_argument("--resume", help="continue the run in this directory (its settings are used; --steps may extend it)")
    p.add_argument("--init-from", help="start from this kgpt checkpoint (config and vocabulary from the file)")
    p.add_argument("--allow-vocab-mismatch", action="store_true",
                   help="train even if the data has characters outside the checkpoint's vocabulary (they are skipped)")
    # model (defaults: the product config; with --init-from they come from the file)
    p.add_argument("--n-embd", type=int)
    p.add_argument("--n-head", type=int)
    p.add_argument("--n-layer", type=int)
    p.add_argument("--block-size", type=int)
    p.add_argument("--dropout", type=float)
    # kgpt train's optimisation flags, same defaults
    p.add_argument("--batch-size", type=int, default=32, help="GLOBAL batch (sequences per step over all processes)")
    p.add_argument("--micro-batch-size", type=int, help="sequences per forward/backward on one process "
                   "(gradient accumulation; default: the process's whole share)")
    p.add_argument("--steps", type=int)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--min-lr-ratio", type=float, default=0.1)
    p.add_argument("--clip", type=float, help="clip the gradient norm to this value (off by default, as gpt.py)")
    p.add_argument("--weight-decay", type=float, default=0.01, help="AdamW's decoupled weight decay (torch's default)")
    p.add_argument("--decay-scope", choices=SCOPES, default="all",
                   help="all: every parameter (gpt.py); matrices: tensors with >= 2 dims (nanoGPT); linear: Linear weights only")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-iters", type=int, default=20)
    p.add_argument("--stop-after", type=int, help="stop (with a checkpoint) after this many steps of this invocation")
    # where and how to run
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="training autocast: auto = bfloat16 on GPUs that support it, else float32")
    p.add_argument("--threads", type=int, help="CPU threads per process (default: cores / processes on this node)")
    p.add_argument("--no-bpc", action="store_true", help="skip the bits-per-char evaluation of --val at the end")
    return p.parse_args(argv)


def prepare(a, world, local_rank):
    """Everything that can be wrong with the input, checked before any process group starts.
    Returns the run plan (a dict) or raises InputError."""
    import torch

    for flag in ("n_embd", "n_head", "n_layer", "block_size", "batch_size", "warmup", "eval_interval", "eval_iters", "steps",
                 "stop_after", "micro_batch_size", "threads"):
        v = getattr(a, flag)
        if v is not None and v < (0 if flag in ("warmup", "steps", "stop_after") else 1):
            raise InputError(f"--{flag.replace('_', '-')} {v} must be {'>= 0' if flag in ('warmup', 'steps', 'stop_after') else '>= 1'}")
    text = read_text(a.data, "--data")
    val_text = read_text(a.val, "--val") if a.val else None
    plan = {"resumed": False, "step": 0, "state": None, "opt_state": None, "adamw_step": 0}

    if a.resume and a.init_from:
        raise InputError("--resume continues a run with its own weights: it cannot be combined with --init-from")
    if a.resume:
        path = os.path.join(a.resume, STATE_FILE)
        if not os.path.isfile(path):
            raise InputError(f"cannot resume: {path}: no such file")
        meta, tensors = read_safetensors(path, "cannot resume:")
        try:
            saved = json.loads(meta["train_args"])
            step = int(meta["step"])
            adamw_step = int(meta["adamw_step"])
        except (KeyError, ValueError, TypeError) as e:
            raise InputError(f"cannot resume from {path}: missing or bad metadata ({e}): not written by kgpt train or train_ddp.py?")
        cfg, vocab, state = model_from_file(meta, tensors, path, None)
        # the saved settings (kgpt's TrainArgs keys); data, val, steps (if given) and stop_after from the command line
        settings = dict(
            batch_size=int(saved["batch_size"]), steps=int(saved["steps"]) if a.steps is None else a.steps,
            lr=float(saved["lr"]), schedule=saved["schedule"], warmup=int(saved["warmup"]),
            min_lr_ratio=float(saved["min_lr_ratio"]), clip=saved.get("clip"), seed=int(saved["seed"]),
            eval_interval=int(saved["eval_interval"]), eval_iters=int(saved["eval_iters"]),
            weight_decay=float(saved.get("weight_decay", 0.01)), decay_scope=saved.get("decay_scope", "all"),
            max_update_ratio=float(saved.get("max_update_ratio", 2.0)),
        )
        opt_state = {}
        for name in state:
            m, v = tensors.get("adamw.m." + name), tensors.get("adamw.v." + name)
            if m is None or v is None or m.shape != state[name].shape or v.shape != state[name].shape:
                raise InputError(f"{path}: missing or mis-shaped optimizer tensor adamw.m/v.{name}")
            opt_state[name] = (m, v)
        plan.update(resumed=True, step=step, state=state, opt_state=opt_state, adamw_step=adamw_step)
        out = a.resume
    else:
        if not a.out:
            raise InputError("give --out DIR (or --resume DIR)")
        out = a.out
        if os.path.exists(os.path.join(out, STATE_FILE)):
            raise InputError(f"{out} already holds a run: use --resume {out} or another --out")
        settings = dict(batch_size=a.batch_size, steps=5000 if a.steps is None else a.steps, lr=a.lr, schedule=a.schedule,
                        warmup=a.warmup, min_lr_ratio=a.min_lr_ratio, clip=a.clip, seed=a.seed,
                        eval_interval=a.eval_interval, eval_iters=a.eval_iters, weight_decay=a.weight_decay,
                        decay_scope=a.decay_scope, max_update_ratio=2.0)
        shape = {"n_embd": a.n_embd, "n_head": a.n_head, "n_layer": a.n_layer, "block_size": a.block_size}
        if a.init_from:
            meta, tensors = read_safetensors(a.init_from, "--init-from")
            cfg, vocab, state = model_from_file(meta, tensors, a.init_from, vocab_of(text))
            clash = [f"--{k.replace('_', '-')} {v} (the file has {cfg[k]})" for k, v in shape.items() if v is not None and v != cfg[k]]
            if clash:
                raise InputError(f"--init-from {a.init_from}: the model shape comes from the file; {', '.join(clash)}")
            if a.dropout is not None:
                cfg["dropout"] = a.dropout
            plan["state"] = state
        else:
            vocab = vocab_of(text)
            if len(vocab) < 2:
                raise InputError(f"--data {a.data}: need at least 2 distinct characters")
            product = {"n_embd": 64, "n_head": 4, "n_layer": 4, "block_size": 128}
            cfg = {k: (product[k] if v is None else v) for k, v in shape.items()}
            cfg.update(vocab_size=len(vocab), dropout=0.1 if a.dropout is None else a.dropout)
    check_config(cfg)
    s = settings
    if not (math.isfinite(s["lr"]) and s["lr"] > 0):
        raise InputError(f"--lr {s['lr']} must be a positive number")
    if s["clip"] is not None and not (math.isfinite(s["clip"]) and s["clip"] > 0):
        raise InputError(f"--clip {s['clip']} must be a positive number")
    if not (0.0 <= s["min_lr_ratio"] <= 1.0):
        raise InputError(f"--min-lr-ratio {s['min_lr_ratio']} must be in [0, 1]")
    if not (math.isfinite(s["weight_decay"]) and s["weight_decay"] >= 0):
        raise InputError(f"--weight-decay {s['weight_decay']} must be a number >= 0")
    if s["decay_scope"] not in SCOPES or s["schedule"] not in ("constant", "cosine"):
        raise InputError(f"bad saved settings: decay_scope {s['decay_scope']!r}, schedule {s['schedule']!r}")
    if s["batch_size"] % world != 0:
        raise InputError(f"--batch-size {s['batch_size']} (the global batch) must be a multiple of the {world} processes")
    share = s["batch_size"] // world
    micro = a.micro_batch_size or share
    if share % micro != 0:
        raise InputError(f"--micro-batch-size {micro} must divide each process's share of the batch ({share})")

    ids, unknown = encode(text, vocab)
    if unknown and (a.init_from or a.resume) and not a.allow_vocab_mismatch:
        shown = "".join(unknown[:10])
        raise InputError(f"--data {a.data}: {len(unknown)} distinct character(s) are not in the checkpoint's vocabulary "
                         f"of {len(vocab)} (first: {shown!r}); train on text the model knows, start a new model without "
                         f"--init-from, or pass --allow-vocab-mismatch to skip them")
    if len(ids) <= cfg["block_size"]:
        raise InputError(f"--data {a.data}: {len(ids)} characters, need more than block_size ({cfg['block_size']})")
    val_ids, val_unknown = (encode(val_text, vocab) if val_text is not None else (None, []))

    device = a.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    if device == "cuda" and local_rank >= torch.cuda.device_count():
        raise InputError(f"local rank {local_rank} has no GPU: this node has {torch.cuda.device_count()} "
                         "(give torchrun at most that many --nproc_per_node)")
    dtype = a.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device == "cuda" and torch.cuda.is_bf16_supported() else "float32"
    plan.update(out=out, cfg=cfg, vocab=vocab, settings=settings, micro=micro, share=share, ids=ids, val_ids=val_ids,
                val_unknown=len(val_unknown), device=device, dtype=dtype, warning=kgpt_limits_warning(cfg))
    return plan


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def lr_at(s, step):
    """kgpt's Schedule::lr (src/optim.rs), in f32 as there."""
    base = np.float32(s["lr"])
    if s["schedule"] == "constant":
        return float(base)
    warmup, total = s["warmup"], s["steps"]
    if step < warmup:
        return float(base * np.float32(step + 1) / np.float32(warmup))
    span = max(total - warmup, 1)
    progress = min(np.float32(step - warmup) / np.float32(span), np.float32(1.0))
    min_lr = base * np.float32(s["min_lr_ratio"])
    return float(min_lr + np.float32(0.5) * (base - min_lr) * (np.float32(1.0) + np.cos(np.float32(math.pi) * progress)))


def decay_groups(model, s):
    import torch.nn as nn

    linear_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        scope = s["decay_scope"]
        wants = scope == "all" or (scope == "matrices" and p.dim() >= 2) or (scope == "linear" and id(p) in linear_weights)
        (decay if wants else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": s["weight_decay"]}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def rust_exp(x):
    """Rust's `{:.6e}` (kgpt's log.csv): 1.000000e-3, not Python's 1.000000e-03."""
    mantissa, exponent = f"{x:.6e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def trim_log(path, last_step):
    """Keep the header and the complete rows with step <= last_step (kgpt's trim_log)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    kept = [lines[0]] if lines and lines[0] else [LOG_HEADER]
    for line in lines[1:-1]:  # the last piece is "" or a torn row
        head = line.split(",", 1)[0]
        if head.isdigit() and int(head) <= last_step:
            kept.append(line)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(kept) + "\n")


def bits_per_char(model, ids, block_size, rank, world, device, batch_windows=32):
    """The product's protocol (src/train.rs bits_per_char): windows of block_size, stride block_size/2,
    the first window scores all positions, later ones only the new ones. Windows are shared out over
    the ranks; float32 logits, log-softmax in float64 as kgpt."""
    import torch
    import torch.distributed as dist

    n = len(ids)
    if n < 2:
        return None
    t, stride = block_size, max(block_size // 2, 1)
    windows, scored, start, last = [], 0, 0, n - 1
    while scored < last:
        end = min(start + t, last)
        windows.append((start, end, scored - start))
        scored, start = end, start + stride
    mine = windows[rank::world]
    data = torch.from_numpy(ids)
    nats = torch.zeros((), dtype=torch.float64, device=device)
    model.eval()
    with torch.no_grad():
        by_len = {}
        for w in mine:
            by_len.setdefault(w[1] - w[0], []).append(w)
        for length, ws in by_len.items():
            for i in range(0, len(ws), batch_windows):
                chunk = ws[i:i + batch_windows]
                x = torch.stack([data[s:e] for s, e, _ in chunk]).to(device)
                y = torch.stack([data[s + 1:e + 1] for s, e, _ in chunk]).to(device)
                logp = torch.log_softmax(model(x).double(), dim=-1)
                nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)  # (b, length)
                first = torch.tensor([f for _, _, f in chunk], device=device).unsqueeze(1)
                keep = torch.arange(length, device=device).unsqueeze(0) >= first
                nats += (nll * keep).sum()
    if world > 1:
        dist.all_reduce(nats)
    per_char = nats.item() / last
    return {"bits_per_char": per_char / math.log(2), "nats_per_char": per_char, "predicted": last}


def train(a, plan, rank, world, local_rank):
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    s, cfg, out = plan["settings"], plan["cfg"], plan["out"]
    device = torch.device(f"cuda:{local_rank}" if plan["device"] == "cuda" else "cpu")
    if plan["device"] == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    master = rank == 0
    say = (lambda *m: print(*m, file=sys.stderr, flush=True)) if master else (lambda *m: None)

    GPTLanguageModel = build_model_classes()
    torch.manual_seed(s["seed"])  # gpt.py's init; the same on every rank (DDP also broadcasts rank 0's)
    model = GPTLanguageModel(cfg)
    if plan["state"] is not None:
        expected = set(model.state_dict())
        got = set(plan["state"])
        if expected != got:
            raise RuntimeError(f"weights do not fit config {cfg}: missing {sorted(expected - got)[:3]}, unexpected {sorted(got - expected)[:3]}")
        for k, v in model.state_dict().items():
            if tuple(plan["state"][k].shape) != tuple(v.shape):
                raise RuntimeError(f"tensor {k} has shape {tuple(plan['state'][k].shape)}, expected {tuple(v.shape)}")
        model.load_state_dict({k: v.float() for k, v in plan["state"].items()})
    model.to(device)
    opt = torch.optim.AdamW(decay_groups(model, s), lr=s["lr"], betas=(0.9, 0.999), eps=1e-8)
    if plan["adamw_step"] > 0:
        for n, p in model.named_parameters():
            m, v = plan["opt_state"][n]
            opt.state[p] = {"step": torch.tensor(float(plan["adamw_step"])), "exp_avg": m.float().to(device).clone(),
                            "exp_avg_sq": v.float().to(device).clone()}
    ddp = DDP(model, device_ids=[local_rank] if plan["device"] == "cuda" else None) if world > 1 else model
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16) if plan["dtype"] == "bfloat16"
                else torch.autocast(device_type=device.type, enabled=False))

    data = torch.from_numpy(plan["ids"])
    val = torch.from_numpy(plan["val_ids"]) if plan["val_ids"] is not None else None
    T, B = cfg["block_size"], s["batch_size"]
    share, micro = plan["share"], plan["micro"]
    my_rows = range(rank * share, (rank + 1) * share)

    def rows_batch(ids, b, t, seed, step, rows):
        starts = batch_starts(len(ids), b, t, seed, step, rows)
        x = torch.stack([ids[i:i + t] for i in starts])
        y = torch.stack([ids[i + 1:i + t + 1] for i in starts])
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    def loss_of(net, x, y):
        with autocast:
            logits = net(x)
        return torch.nn.functional.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.view(-1))

    def estimate_loss(ids):
        """kgpt's estimate_loss: mean over eval_iters fixed batches (eval mode), rows shared over the ranks."""
        if ids is None or len(ids) < 2:
            return None
        t = min(T, len(ids) - 1)
        total = torch.zeros((), dtype=torch.float64, device=device)
        model.eval()
        with torch.no_grad():
            for k in range(max(s["eval_iters"], 1)):
                for r0 in range(my_rows.start, my_rows.stop, micro):
                    x, y = rows_batch(ids, B, t, s["seed"] ^ 0xE7A1, k, range(r0, r0 + micro))
                    total += loss_of(model, x, y).double() * x.shape[0]
        if world > 1:
            dist.all_reduce(total)
        model.train()
        return total.item() / (B * max(s["eval_iters"], 1))

    def save(step):
        """Rank 0: the plain model first (a run killed in between always has one), then the state."""
        if not master:
            return
        weights = {n: cpu_f32(t) for n, t in model.state_dict().items()}
        base = {"config": config_json(cfg), "vocab": vocab_json(plan["vocab"])}
        write_atomic(os.path.join(out, MODEL_FILE), weights, base)
        state = dict(weights)
        for n, p in model.named_parameters():
            st = opt.state.get(p)
            state["adamw.m." + n] = cpu_f32(st["exp_avg"]) if st else torch.zeros_like(weights[n])
            state["adamw.v." + n] = cpu_f32(st["exp_avg_sq"]) if st else torch.zeros_like(weights[n])
        steps_done = int(next(iter(opt.state.values()))["step"]) if opt.state else 0
        train_args = dict(data=a.data, val=a.val, out=out, batch_size=B, steps=s["steps"], lr=s["lr"], schedule=s["schedule"],
                          warmup=s["warmup"], min_lr_ratio=s["min_lr_ratio"], clip=s["clip"],
                          max_update_ratio=s["max_update_ratio"], seed=s["seed"], eval_interval=s["eval_interval"],
                          eval_iters=s["eval_iters"], weight_decay=s["weight_decay"], decay_scope=s["decay_scope"])
        meta = dict(base, step=str(step), adamw_step=str(steps_done), train_args=json.dumps(train_args))
        write_atomic(os.path.join(out, STATE_FILE), state, meta)

    step = plan["step"]
    log_path = os.path.join(out, LOG_FILE)
    if master:
        os.makedirs(out, exist_ok=True)
        if step > 0:
            trim_log(log_path, step)
        else:
            with open(log_path, "w", encoding="utf-8") as f:
                f.write(LOG_HEADER + "\n")
    say(f"training {param_count(cfg)} parameters (V={cfg['vocab_size']} C={cfg['n_embd']} H={cfg['n_head']} "
        f"L={cfg['n_layer']} T={T} dropout {cfg['dropout']}) on {len(data)} characters, {world} process(es) "
        f"on {plan['device']} ({plan['dtype']}, {torch.get_num_threads()} threads each), global batch {B} "
        f"({share} per process, micro-batch {micro}), {s['steps']} steps, lr {s['lr']} ({s['schedule']}), "
        f"weight decay {s['weight_decay']} ({s['decay_scope']})")
    if plan["resumed"]:
        say(f"resuming {out} at step {step} of {s['steps']}")

    stop_at = s["steps"] if a.stop_after is None else min(step + a.stop_after, s["steps"])
    run_start = window_start = time.perf_counter()
    window_tokens, saved_step = 0, (step if plan["resumed"] else None)
    model.train()
    n_micro = share // micro
    while step < stop_at:
        lr = lr_at(s, step)
        for g in opt.param_groups:
            g["lr"] = lr
        # dropout masks from (seed, step, rank): an exact resume needs no RNG state in the file
        torch.manual_seed(dropout_seed(s["seed"], step, rank))
        batch_loss = torch.zeros((), device=device)
        for j in range(n_micro):
            rows = range(my_rows.start + j * micro, my_rows.start + (j + 1) * micro)
            x, y = rows_batch(data, B, T, s["seed"], step, rows)
            if world > 1 and j < n_micro - 1:
                with ddp.no_sync():  # accumulate locally; all-reduce with the last micro-batch
                    loss = loss_of(ddp, x, y) / n_micro
                    loss.backward()
            else:
                loss = loss_of(ddp, x, y) / n_micro
                loss.backward()
            batch_loss += loss.detach()
        if s["clip"] is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), s["clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        window_tokens += B * T

        if step % s["eval_interval"] == 0 or step == stop_at:
            if world > 1:
                dist.all_reduce(batch_loss)
                batch_loss /= world
            last_loss = batch_loss.item()
            if plan["device"] == "cuda":
                torch.cuda.synchronize()
            tps = window_tokens / max(time.perf_counter() - window_start, 1e-9)
            if not math.isfinite(last_loss):
                kept = f"the last good checkpoint (step {saved_step}) is kept in {out}" if saved_step is not None else "no checkpoint was written yet"
                raise RuntimeError(f"step {step}: non-finite loss {last_loss}: training diverged; {kept}; lower the learning rate")
            train_loss = estimate_loss(data)
            val_loss = estimate_loss(val)
            fmt = lambda v: "" if v is None else f"{v:.5f}"
            bits = lambda v: "-" if v is None else f"{v / math.log(2):.3f}"
            elapsed = time.perf_counter() - run_start
            if master:
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(f"{step},{rust_exp(lr)},{last_loss:.5f},{fmt(train_loss)},{fmt(val_loss)},{tps:.0f},{elapsed:.1f}\n")
            save(step)
            saved_step = step
            say(f"step {step}: train loss {fmt(train_loss)} val loss {fmt(val_loss)} ({bits(train_loss)} / {bits(val_loss)} "
                f"bits/char), lr {lr:.2e}, {tps:.0f} tok/s, checkpoint saved")
            window_start, window_tokens = time.perf_counter(), 0
    if step == plan["step"] and master:
        save(step)  # nothing to train (e.g. --steps 0 with --init-from): still export
    if step < s["steps"]:
        say(f"stopped at step {step} of {s['steps']} (checkpoint saved; continue with --resume {out})")
        return
    if val is not None and not a.no_bpc:
        r = bits_per_char(model, plan["val_ids"], T, rank, world, device)
        if r is not None and master:
            r.update(step=step, data=a.val, skipped_oov=plan["val_unknown"])
            with open(os.path.join(out, EVAL_FILE), "w", encoding="utf-8") as f:
                json.dump(r, f)
            print(f"{r['bits_per_char']:.4f} bits per character ({r['nats_per_char']:.4f} nats) over {r['predicted']} "
                  f"predicted characters of {a.val}; {plan['val_unknown']} out-of-vocabulary character(s) skipped", flush=True)
    say(f"done: {step} steps in {time.perf_counter() - run_start:.1f} s; model in {os.path.join(out, MODEL_FILE)}")


def main(argv=None):
    a = parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    try:
        import torch
    except ImportError:
        sys.exit("error: PyTorch is not installed in this Python: run bash scripts/setup-torch.sh and use /opt/torch-venv/bin/python")
    try:
        plan = prepare(a, world, local_rank)
    except InputError as e:
        if rank == 0:
            print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    if plan["warning"] and rank == 0:
        print(plan["warning"], file=sys.stderr, flush=True)
    if plan["device"] == "cpu":
        torch.set_num_threads(a.threads or max(1, (os.cpu_count() or 1) // local_world))
    if world > 1:
        import torch.distributed as dist

        backend = "nccl" if plan["device"] == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        if rank == 0:
            print(f"process group: {backend}, world size {world}", file=sys.stderr, flush=True)
    try:
        train(a, plan, rank, world, local_rank)
    except RuntimeError as e:
        print(f"error (rank {rank}): {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        if world > 1:
            import gc

            import torch.distributed as dist

            # Free the DDP wrapper (and the gradient buckets it shares with the process group)
            # before the group goes, so nothing of gloo's is left for interpreter shutdown.
            gc.collect()
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    code = main()
    if code == 0 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Every file is written (atomically) and the process group is destroyed: leave without
        # the interpreter's finalisation, where gloo's worker threads can still abort the
        # process ("terminate called without an active exception", seen once in CI after a
        # finished run), which torchrun would report as a failed rank. An error keeps the normal
        # exit: a rank leaving at once would make torchrun stop rank 0 before it prints why.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
