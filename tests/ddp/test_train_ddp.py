"""Tests of scripts/train_ddp.py (PyTorch DDP trainer) against itself and against `kgpt`.

Run (from the repository root; bash scripts/test-all.sh does):

    /opt/torch-venv/bin/python -m unittest discover -s tests/ddp -v

Needs PyTorch (bash scripts/setup-torch.sh) and builds target/release/kgpt if needed. Every run is
small (proverbs text, a few steps, 1 thread per process): the machine may have 2 cores.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_ddp.py"
KGPT = ROOT / "target" / "release" / "kgpt"
PROVERBS = ROOT / "www" / "data" / "proverbs.txt"
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the working tree
spec = importlib.util.spec_from_file_location("train_ddp", SCRIPT)
train_ddp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_ddp)


def run(cmd, ok=True):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=ENV, cwd=ROOT)
    if ok and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def ddp(n, *args, ok=True):
    """torchrun --standalone --nproc_per_node n scripts/train_ddp.py ARGS (gloo on this CPU machine)."""
    return run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", SCRIPT, *args], ok)


def single(*args, ok=True):
    return run([sys.executable, SCRIPT, "--threads", "1", *args], ok)


def kgpt(*args, ok=True):
    return run([KGPT, *args], ok)


def max_abs_diff(a_path, b_path):
    a, b = load_file(str(a_path)), load_file(str(b_path))
    assert a.keys() == b.keys(), (sorted(a.keys() ^ b.keys()))
    return max((a[k] - b[k]).abs().max().item() for k in a)


def metadata(path):
    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def log_rows(path):
    lines = Path(path).read_text(encoding="utf-8").strip().split("\n")
    header = lines[0].split(",")
    return header, [dict(zip(header, line.split(","))) for line in lines[1:]]


def report(what):
    print(f"\n    measured: {what}", file=sys.stderr, flush=True)


class TrainDdp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        run(["cargo", "build", "--release", "--quiet", "--bin", "kgpt"])
        cls.tmp = Path(tempfile.mkdtemp(prefix="train-ddp-test-"))
        text = PROVERBS.read_text(encoding="utf-8")
        cls.train = cls.tmp / "train.txt"
        cls.val = cls.tmp / "val.txt"
        cls.train.write_text(text[:1200], encoding="utf-8")
        cls.val.write_text(text[1200:], encoding="utf-8")  # has a character the training text lacks

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def common(self, out, steps, *extra):
        return ["--data", self.train, "--out", self.tmp / out, "--steps", str(steps), "--batch-size", "4",
                "--eval-interval", str(steps), "--eval-iters", "1", *extra]

    # -----------------------------------------------------------------------------------------
    def test_ddp_two_processes_equal_one_process(self):
        """torchrun 2 × (2 of the global batch 4) == one process with batch 4, same seed, dropout off."""
        args = ("--dropout", "0", "--no-bpc", "--schedule", "cosine", "--warmup", "2", "--clip", "1.0")
        ddp(2, *self.common("eq-ddp", 4, *args))
        single(*self.common("eq-one", 4, *args))
        single(*self.common("eq-one-micro", 4, *args, "--micro-batch-size", "2"))
        ddp_w = self.tmp / "eq-ddp" / "model.safetensors"
        diff_micro = max_abs_diff(ddp_w, self.tmp / "eq-one-micro" / "model.safetensors")
        diff_whole = max_abs_diff(ddp_w, self.tmp / "eq-one" / "model.safetensors")
        report(f"DDP 2 processes vs 1 process, 4 steps, global batch 4: max |Δw| {diff_whole:.3e} "
               f"(batch in one pass), {diff_micro:.3e} (two micro-batches of 2, the ranks' shapes)")
        self.assertLessEqual(diff_micro, 1e-5)
        # One pass of 4 rows rounds differently from two passes of 2 (measured 3.4e-6 here).
        # AdamW's first update g/(|g| + 1e-8) magnifies that for gradients near 1e-8: with a
        # constant lr and no clipping one weight moved 1.2e-5, so this case keeps the schedule.
        self.assertLessEqual(diff_whole, 1e-5)
        (_, a), (_, b) = log_rows(self.tmp / "eq-ddp" / "log.csv"), log_rows(self.tmp / "eq-one" / "log.csv")
        self.assertEqual([r["lr"] for r in a], [r["lr"] for r in b])
        self.assertAlmostEqual(float(a[-1]["batch_loss"]), float(b[-1]["batch_loss"]), delta=1e-5)
        self.assertAlmostEqual(float(a[-1]["train_loss"]), float(b[-1]["train_loss"]), delta=1e-5)

    # -----------------------------------------------------------------------------------------
    def round_trip(self, name, shape):
        """kgpt train 20 steps → train_ddp.py --init-from 20 steps (2 processes) → kgpt eval."""
        k_dir, d_dir = self.tmp / f"rt-kgpt-{name}", self.tmp / f"rt-ddp-{name}"
        kgpt("train", "--data", self.train, "--val", self.val, "--out", k_dir, "--steps", "20", "--batch-size", "4",
             "--eval-interval", "20", "--eval-iters", "1", "--threads", "1", *shape)
        k_model = k_dir / "model.safetensors"
        ddp(2, "--init-from", k_model, "--data", self.train, "--val", self.val, "--out", d_dir, "--steps", "20",
            "--batch-size", "4", "--eval-interval", "20", "--eval-iters", "1")
        d_model = d_dir / "model.safetensors"
        ours = json.loads((d_dir / "eval.json").read_text())
        theirs = json.loads(kgpt("eval", "--weights", d_model, "--data", self.val, "--json").stdout)
        before = json.loads(kgpt("eval", "--weights", k_model, "--data", self.val, "--json").stdout)
        report(f"round trip {name}: bits/char after kgpt 20 steps {before['bits_per_char']:.6f}; after 20 more in "
               f"train_ddp.py: script {ours['bits_per_char']:.6f}, kgpt eval {theirs['bits_per_char']:.6f} "
               f"(|Δ| {abs(ours['bits_per_char'] - theirs['bits_per_char']):.2e})")
        self.assertLessEqual(abs(ours["bits_per_char"] - theirs["bits_per_char"]), 1e-4)
        self.assertEqual(ours["predicted"], theirs["predicted"])
        self.assertEqual(ours["skipped_oov"], theirs["skipped_oov"])
        self.assertEqual(theirs["skipped_oov"], 1)
        self.assertLess(ours["bits_per_char"], before["bits_per_char"] - 0.05, "continuing did not train")
        # the export carries exactly kgpt's metadata (same config and vocabulary strings)
        self.assertEqual(metadata(d_model), metadata(k_model))
        self.assertEqual(set(metadata(d_model)), {"config", "vocab"})
        sample = kgpt("sample", "--weights", d_model, "--prompt", "ಕ", "--n", "20", "--seed", "1").stdout
        self.assertGreaterEqual(len(sample.strip()), 10)
        return k_dir, d_dir

    def test_round_trip_product_config(self):
        self.round_trip("product", [])

    def test_round_trip_6x6x96_block_256(self):
        _, d_dir = self.round_trip("6x6x96", ["--n-layer", "6", "--n-head", "6", "--n-embd", "96", "--block-size", "256"])
        cfg = json.loads(metadata(d_dir / "model.safetensors")["config"])
        self.assertEqual((cfg["n_layer"], cfg["n_head"], cfg["n_embd"], cfg["block_size"]), (6, 6, 96, 256))

    # -----------------------------------------------------------------------------------------
    def test_resume_equals_uninterrupted(self):
        """Stopped after 3 of 7 steps and resumed == 7 steps in one go, bit for bit, dropout ON."""
        args = ("--schedule", "cosine", "--warmup", "2", "--clip", "0.5", "--eval-interval", "2", "--no-bpc")
        single(*self.common("res-full", 7), *args)
        single(*self.common("res-part", 7), *args, "--stop-after", "3")
        part = self.tmp / "res-part"
        self.assertEqual(metadata(part / "train-state.safetensors")["step"], "3")
        single("--resume", part, "--data", self.train)
        diff = max_abs_diff(self.tmp / "res-full" / "model.safetensors", part / "model.safetensors")
        report(f"resume: stopped at 3 and resumed to 7 vs 7 uninterrupted (dropout 0.1): max |Δw| {diff:.3e}")
        self.assertEqual(diff, 0.0)
        full_state = load_file(str(self.tmp / "res-full" / "train-state.safetensors"))
        part_state = load_file(str(part / "train-state.safetensors"))
        self.assertEqual(max((full_state[k] - part_state[k]).abs().max().item() for k in full_state), 0.0)
        header, rows = log_rows(part / "log.csv")
        self.assertEqual(header, "step,lr,batch_loss,train_loss,val_loss,tokens_per_s,elapsed_s".split(","))
        self.assertEqual([r["step"] for r in rows], ["2", "3", "4", "6", "7"])
        _, full_rows = log_rows(self.tmp / "res-full" / "log.csv")
        self.assertEqual([(r["lr"], r["batch_loss"]) for r in rows if r["step"] != "3"],
                         [(r["lr"], r["batch_loss"]) for r in full_rows])

    def test_resume_either_way_with_kgpt(self):
        """A kgpt run resumed by train_ddp.py == resumed by kgpt (dropout off); and kgpt resumes ours."""
        k1, k2 = self.tmp / "either-kgpt", self.tmp / "either-ddp"
        kgpt("train", "--data", self.train, "--out", k1, "--steps", "12", "--stop-after", "6", "--batch-size", "4",
             "--eval-interval", "6", "--eval-iters", "1", "--dropout", "0", "--threads", "1", "--schedule", "cosine",
             "--warmup", "3", "--clip", "1.0")
        shutil.copytree(k1, k2)
        kgpt("train", "--resume", k1, "--data", self.train, "--threads", "1")
        ddp(2, "--resume", k2, "--data", self.train, "--no-bpc")
        diff = max_abs_diff(k1 / "model.safetensors", k2 / "model.safetensors")
        wa, wb = load_file(str(k1 / "model.safetensors")), load_file(str(k2 / "model.safetensors"))
        rel = (torch.cat([(wa[k] - wb[k]).flatten() for k in wa]).norm() / torch.cat([w.flatten() for w in wa.values()]).norm()).item()
        (_, a), (_, b) = log_rows(k1 / "log.csv"), log_rows(k2 / "log.csv")
        report(f"a kgpt run (6 of 12 steps) resumed by kgpt vs by train_ddp.py on 2 processes: max |Δw| {diff:.3e}, "
               f"|Δw|/|w| {rel:.2e}; train loss {a[-1]['train_loss']} vs {b[-1]['train_loss']}")
        # Two implementations (kgpt's kernels vs PyTorch's) round differently; ReLU boundaries and
        # AdamW's normalised update turn that into ~1e-4 on single weights (the same with one
        # torch process), while the whole vector agrees to ~1e-5.
        self.assertLessEqual(diff, 1e-3)
        self.assertLessEqual(rel, 1e-4)
        self.assertEqual([(r["step"], r["lr"]) for r in a], [(r["step"], r["lr"]) for r in b])
        self.assertAlmostEqual(float(a[-1]["train_loss"]), float(b[-1]["train_loss"]), delta=1e-4)
        # and back: kgpt continues the directory train_ddp.py wrote
        kgpt("train", "--resume", k2, "--data", self.train, "--steps", "14", "--threads", "1")
        self.assertEqual(metadata(k2 / "train-state.safetensors")["step"], "14")

    # -----------------------------------------------------------------------------------------
    def assert_refused(self, p, message):
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(message, p.stderr)
        self.assertNotIn("process group:", p.stderr)  # refused before init_process_group
        self.assertNotIn("train_ddp.py\", line", p.stderr)  # a message, not a traceback of ours

    def test_bad_input_is_refused_before_the_process_group(self):
        out = self.tmp / "bad"
        p = ddp(2, *self.common("bad", 2, "--n-embd", "30", "--n-head", "4"), ok=False)
        self.assert_refused(p, "error: n_embd (30) must be divisible by n_head (4)")
        p = ddp(2, "--data", self.tmp / "missing.txt", "--out", out, ok=False)
        self.assert_refused(p, f"error: --data {self.tmp / 'missing.txt'}: no such file")
        # a kgpt checkpoint whose vocabulary lacks characters of the data
        init = self.tmp / "vocab-init.safetensors"
        kgpt("init", "--vocab-from", self.train, "--out", init)
        latin = self.tmp / "latin.txt"
        latin.write_text(self.train.read_text(encoding="utf-8") + "Hello", encoding="utf-8")
        p = single("--init-from", init, "--data", latin, "--out", out, ok=False)
        self.assert_refused(p, "distinct character(s) are not in the checkpoint's vocabulary")
        p = single("--init-from", init, "--data", self.train, "--out", out, "--n-layer", "2", ok=False)
        self.assert_refused(p, "--n-layer 2 (the file has 4)")
        p = ddp(2, "--data", self.train, "--out", out, "--batch-size", "3", ok=False)
        self.assert_refused(p, "must be a multiple of the 2 processes")
        self.assertFalse(out.exists(), "a refused run must not create its directory")


class Units(unittest.TestCase):
    def test_schedule_matches_kgpt(self):
        # the values of src/optim.rs's clipping_and_schedule test
        s = dict(lr=1.0, schedule="cosine", warmup=10, steps=110, min_lr_ratio=0.1)
        for step, want in ((0, 0.1), (9, 1.0), (60, 0.55), (110, 0.1)):
            self.assertAlmostEqual(train_ddp.lr_at(s, step), want, delta=1e-6)
        self.assertEqual(train_ddp.lr_at(dict(s, schedule="constant", lr=0.3), 1000), float(torch.tensor(0.3).item()))
        self.assertEqual(train_ddp.rust_exp(1e-3), "1.000000e-3")

    def test_decay_scopes(self):
        model = train_ddp.build_model_classes()(dict(vocab_size=5, n_embd=8, n_head=2, n_layer=1, block_size=4, dropout=0.0))
        def decayed(scope):
            groups = train_ddp.decay_groups(model, dict(weight_decay=0.1, decay_scope=scope))
            return sum(p.numel() for p in groups[0]["params"])
        total = sum(p.numel() for p in model.parameters())
        embeddings = 5 * 8 + 4 * 8
        linear_w = 3 * 8 * 8 + 8 * 8 + 2 * 8 * 32 + 5 * 8
        self.assertEqual(decayed("all"), total)
        self.assertEqual(decayed("matrices"), embeddings + linear_w)
        self.assertEqual(decayed("linear"), linear_w)

    def test_encode_is_nfc_and_skips_unknown(self):
        vocab = train_ddp.vocab_of("ಕನ ೀ")
        ids, unknown = train_ddp.encode(train_ddp.unicodedata.normalize("NFC", "ಕ\u0cbf\u0cd5xನ"), vocab)
        self.assertEqual([vocab[i] for i in ids], ["ಕ", "ೀ", "ನ"])
        self.assertEqual(unknown, ["x"])

    def test_export_metadata_strings_are_kgpts(self):
        cfg = dict(vocab_size=3, n_embd=64, n_head=4, n_layer=4, block_size=128, dropout=0.1)
        self.assertEqual(train_ddp.config_json(cfg),
                         '{"vocab_size":3,"n_embd":64,"n_head":4,"n_layer":4,"block_size":128,"dropout":0.1}')
        self.assertEqual(train_ddp.vocab_json(["\n", "ಕ", '"']), '["\\n","ಕ","\\""]')


if __name__ == "__main__":
    unittest.main()
