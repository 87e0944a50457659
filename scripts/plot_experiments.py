#!/usr/bin/env python3
"""Plot the recipe search's validation curves (weights/experiments.md) with matplotlib.

    /opt/torch-venv/bin/python scripts/plot_experiments.py weights/experiments.png RUN_DIR...

Each RUN_DIR is a `kgpt train` run folder (its log.csv); the curve is its validation-loss
estimate (here the dev split, in bits per character) against the characters trained on, so runs
with different batch sizes line up. The label is the folder's name.
"""
import csv
import math
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def curve(run):
    """(characters seen, validation bits/char) of a run's log.csv."""
    with open(os.path.join(run, "log.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_loss")]
    # the batch size is in the first line of the run's console log (RUN_DIR.log), if there
    console = run.rstrip("/") + ".log"
    head = open(console, encoding="utf-8").readline() if os.path.exists(console) else ""
    found = re.search(r"batch (\d+)", head)
    batch = int(found.group(1)) if found else 64
    xs = [int(r["step"]) * batch * 128 / 1e6 for r in rows]
    ys = [float(r["val_loss"]) / math.log(2) for r in rows]
    return xs, ys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, runs = sys.argv[1], sys.argv[2:]
    fig, ax = plt.subplots(figsize=(9, 5), dpi=120)
    for run in runs:
        xs, ys = curve(run)
        ax.plot(xs, ys, marker="o", markersize=3, label=os.path.basename(run.rstrip("/")))
    ax.axhline(1.613, color="gray", linestyle="--", linewidth=1)
    ax.text(ax.get_xlim()[1], 1.613, " char 8-gram on val (1.61)", va="bottom", ha="right", color="gray", fontsize=8)
    ax.set_xlabel("characters trained on (millions)")
    ax.set_ylabel("dev bits per character (estimate, dropout off)")
    ax.set_title("Micro-KannadaGPT recipe search (product architecture)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out} ({len(runs)} runs)")


if __name__ == "__main__":
    main()
