#!/usr/bin/env python3
"""Plot a `kgpt train` log (log.csv) as a loss curve in bits per character (matplotlib).

    /opt/torch-venv/bin/python scripts/plot_loss.py runs/kannada-gpt/log.csv weights/loss-curve.png \
        [--reference 1.77:"char 5-gram (KN)" --reference 1.45:target]
"""
import argparse
import csv
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("out")
    ap.add_argument("--reference", action="append", default=[],
                    help='horizontal line "BITS:label", e.g. 1.77:"5-gram"')
    ap.add_argument("--title", default="Micro-KannadaGPT training (loss estimates, dropout off)")
    a = ap.parse_args()
    steps, train, val = [], [], []
    with open(a.log, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("train_loss"):
                continue
            steps.append(int(row["step"]))
            train.append(float(row["train_loss"]) / math.log(2))
            val.append(float(row["val_loss"]) / math.log(2) if row.get("val_loss") else math.nan)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    ax.plot(steps, train, label="train", color="#1f77b4")
    ax.plot(steps, val, label="validation", color="#d62728")
    for ref in a.reference:
        bits, _, label = ref.partition(":")
        ax.axhline(float(bits), color="gray", linestyle="--", linewidth=1)
        ax.text(steps[-1] if steps else 0, float(bits), f" {label} ({float(bits):.2f})", va="bottom", ha="right",
                color="gray", fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.set_title(a.title)
    ax.grid(alpha=0.3)
    ax.legend()
    lo = min([x for x in train + val if not math.isnan(x)] + [float(r.partition(":")[0]) for r in a.reference])
    ax.set_ylim(lo - 0.1, min(4.0, max(train) + 0.1) if train else 4.0)
    fig.tight_layout()
    fig.savefig(a.out)
    print(f"wrote {a.out} ({len(steps)} points)")


if __name__ == "__main__":
    main()
