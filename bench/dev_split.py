"""A development split cut from a CSV text set's training file only, so design choices are tried without
reading its test split: each class's training rows are shuffled (seeded) and cut into a new train.csv and
test.csv (default 70/30). Other files of the set (categories.json, a README) are not copied.

    python bench/dev_split.py ../shared/datasets/banking77 /tmp/b77dev [--share 0.3 --seed 0]
    python bench/bench_climb.py --data /tmp/b77dev --task "..." --methods "{}",inputs --runs-dir /tmp/bc-dev
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", help="a CSV text set with train.csv")
    parser.add_argument("out", help="the folder to write train.csv and test.csv into (must not exist)")
    parser.add_argument("--share", type=float, default=0.3, help="share of each class held out as test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"error: {out} exists; give a new folder")
    with open(Path(args.data) / "train.csv", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    by_class: dict[str, list[list[str]]] = {}
    for row in rows:
        by_class.setdefault(row[-1], []).append(row)
    rng = random.Random(args.seed)
    train, test = [], []
    for label in sorted(by_class):
        members = by_class[label]
        rng.shuffle(members)
        cut = round(len(members) * args.share)
        test += members[:cut]
        train += members[cut:]
    out.mkdir(parents=True)
    for name, part in (("train.csv", train), ("test.csv", test)):
        with open(out / name, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *part])
    print(f"{out}: {len(train)} train and {len(test)} test rows, {len(by_class)} classes")


if __name__ == "__main__":
    main()
