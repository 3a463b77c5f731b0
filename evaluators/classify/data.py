"""Few-shot image classification datasets: ``load_dataset``, the one entry point over layouts and samplers.

A dataset directory is read by its layout (``layout=``: layouts.py for ``folders``, ``flat`` and ``named``,
coop.py for the 11 CoOp benchmark datasets; ``auto`` picks one from the directory), sampled k-shot by
fewshot.py (``sampler=``) into a FewShotDataset (dataset.py). docs/datasets.md has the user-facing
description.
"""

from __future__ import annotations

import os
from pathlib import Path

from promptclimb.evaluators.classify.classnames import CLASS_NAMES
from promptclimb.evaluators.classify.coop import load_coop
from promptclimb.evaluators.classify.dataset import FewShotDataset
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.fewshot import SAMPLERS
from promptclimb.evaluators.classify.layouts import detect_layout, load_flat, load_folders, load_named

LAYOUTS = ("auto", "folders", "flat", "named", "coop")


def load_dataset(
    path: str | Path,
    *,
    shots: int,
    seed: int,
    layout: str = "auto",
    coop_name: str | None = None,
    class_names: str = "coop",
    sampler: str = "promptclimb",
) -> FewShotDataset:
    """Load a dataset directory as a k-shot dataset (see the module docstring for layouts, samplers and
    class names)."""
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise DataError(f"shots must be a positive integer, got {shots!r}")
    if layout not in LAYOUTS:
        raise DataError(f"unknown dataset layout '{layout}' (choose from {', '.join(LAYOUTS)})")
    if sampler not in SAMPLERS:
        raise DataError(f"unknown sampler '{sampler}' (choose from {', '.join(SAMPLERS)})")
    if class_names not in CLASS_NAMES:
        raise DataError(f"unknown class names '{class_names}' (choose from {', '.join(CLASS_NAMES)})")
    if coop_name is not None and layout not in ("auto", "coop"):
        raise DataError(f"a CoOp dataset name only applies to the coop layout, not '{layout}'")
    root = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.exists(root):
        raise DataError(f"dataset path not found: {root}")
    if not os.path.isdir(root):
        raise DataError(f"dataset path is not a directory: {root}")

    common = {"shots": shots, "seed": seed, "sampler": sampler}
    if coop_name is not None or layout == "coop":
        return load_coop(root, coop_name, class_names=class_names, **common)
    if layout == "auto":
        layout = detect_layout(root)
        if layout == "coop":
            return load_coop(root, None, class_names=class_names, **common)
    if class_names != "coop":
        raise DataError(
            f"class names '{class_names}' (the paper's published names) exist only for the 11 CoOp "
            f"datasets; {root} is a {layout} dataset"
        )
    loaders = {"folders": load_folders, "flat": load_flat, "named": load_named}
    return loaders[layout](root, **common)


# ---------------------------------------------------------------------------------------------- sampling
