"""A tiny CLIP as a config-only model directory, for tests that need a real CLIP code path in milliseconds.

``make_tiny_clip_dir(path)`` writes ``config.json`` of a 2-layer CLIP (hidden 32, images 32x32 in 8x8
patches, 16-d features) next to the REAL tokenizer and preprocessor files of ViT-B/32 copied from
../shared/assets/clip-vit-base-patch32. It holds no weights, so ``load_clip(path)`` builds it
with seeded random weights (identical in every process) and resizes the preprocessor to 32x32.

    from tests.clip_fixtures import make_tiny_clip_dir
    backbone = load_clip(str(make_tiny_clip_dir(tmp_path / "clip")))

The session-scoped ``tiny_clip`` fixture in tests/conftest.py returns one such directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SHARED_CLIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "assets" / "clip-vit-base-patch32"
PROCESSING_FILES = (
    "merges.txt",
    "preprocessor_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
)


def tiny_clip_config(*, eos_token_id: int = 2, hidden: int = 32, layers: int = 2):
    """The tiny CLIPConfig (eos_token_id=2 pools like the real ViT-B/32 config: at the largest token id)."""
    from transformers import CLIPConfig

    text = {
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_attention_heads": 4,
        "num_hidden_layers": layers,
        "max_position_embeddings": 77,
        "vocab_size": 49408,
        "bos_token_id": 49406 if eos_token_id != 2 else 0,
        "eos_token_id": eos_token_id,
        "pad_token_id": 1,
        "hidden_act": "quick_gelu",
    }
    vision = {
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_attention_heads": 4,
        "num_hidden_layers": layers,
        "image_size": 32,
        "patch_size": 8,
        "hidden_act": "quick_gelu",
    }
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)


def make_tiny_clip_dir(path: Path, *, eos_token_id: int = 2) -> Path:
    """Write the config-only tiny CLIP directory at path (created if needed) and return it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tiny_clip_config(eos_token_id=eos_token_id).save_pretrained(path)
    for name in PROCESSING_FILES:
        shutil.copyfile(SHARED_CLIP / name, path / name)
    return path


def pristine_clip(directory: Path):
    """The untouched transformers CLIPModel of a config-only directory with the seeded random weights that
    load_clip gives it (seed 0): the reference for the swapped CPU kernels and the fast text forward."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return CLIPModel(CLIPConfig.from_pretrained(directory)).eval()


IMAGENET_SAMPLES = SHARED_CLIP.parents[1] / "datasets" / "imagenet-samples"


def imagenet_sample_paths(count: int, start: int = 0) -> list[Path]:
    """`count` real JPEGs from ../shared/datasets/imagenet-samples, in name order from `start`."""
    files = sorted(IMAGENET_SAMPLES.glob("*.JPEG"))
    return files[start : start + count]


def make_jpeg_folders_dataset(
    root: Path, classes: tuple[str, ...] = ("cat", "dog", "fox"), train: int = 2, test: int = 2
) -> Path:
    """A ``folders``-layout dataset (train/ and test/, one sub-folder per class) of real ImageNet JPEGs
    copied from ../shared: distinct files, so every image has its own cache key."""
    paths = iter(imagenet_sample_paths(len(classes) * (train + test)))
    for split, count in (("train", train), ("test", test)):
        for name in classes:
            for i in range(count):
                target = root / split / name / f"{i}.jpg"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(next(paths), target)
    return root
