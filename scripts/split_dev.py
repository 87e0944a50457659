#!/usr/bin/env python3
"""Split a tuning set off the training text, so a recipe search never looks at val.txt.

    python3 scripts/split_dev.py ../shared/corpus/train.txt OUT_DIR

Chapters are separated by a blank line (see ../shared/corpus/README.md). Every 20th chapter of
train.txt, starting at index 9 (9, 29, 49, ...), goes to OUT_DIR/dev.txt; the rest to
OUT_DIR/train-search.txt. val.txt took chapters 19, 39, ... of the whole book, so dev.txt is spread
over the book the same way and shares no chapter with val.txt. The files stay outside the
repository (the corpus is not copied into it).
"""
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8", newline="") as f:
        chapters = f.read().split("\n\n")
    dev = [c for i, c in enumerate(chapters) if i % 20 == 9]
    rest = [c for i, c in enumerate(chapters) if i % 20 != 9]
    os.makedirs(out, exist_ok=True)
    for name, part in (("dev.txt", dev), ("train-search.txt", rest)):
        with open(os.path.join(out, name), "w", encoding="utf-8", newline="") as f:
            f.write("\n\n".join(part))
    print(f"{len(chapters)} chapters: {len(dev)} to dev.txt ({sum(map(len, dev)):,} chars), "
          f"{len(rest)} to train-search.txt ({sum(map(len, rest)):,} chars)")


if __name__ == "__main__":
    main()
