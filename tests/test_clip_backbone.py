"""load_clip and ClipBackbone: loading paths, identity, seeded random init, image features, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from promptclimb.evaluators.classify.clip import load_clip
from promptclimb.evaluators.classify.model_loading import resolve_precision
from promptclimb.evaluators.classify.specs import ModelLoadError
from tests.clip_fixtures import PROCESSING_FILES, imagenet_sample_paths, make_tiny_clip_dir, pristine_clip

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["a photo of a tench.", "a photo of a great white shark.", "itap of a goldfish"]


def copy_processing_files(source: Path, target: Path) -> None:
    for name in PROCESSING_FILES:
        (target / name).write_bytes((source / name).read_bytes())


def test_config_only_directory_gives_seeded_random_weights(tiny_clip: Path) -> None:
    first, second = load_clip(str(tiny_clip), precision="fp32"), load_clip(str(tiny_clip), precision="fp32")
    assert first.random_weights and second.random_weights
    assert first.identity == second.identity
    assert "random-init-seed0" in first.identity and first.identity.endswith("|fp32")
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert np.array_equal(first.encode_texts(PROMPTS)[0], second.encode_texts(PROMPTS)[0])
    images = [str(p) for p in imagenet_sample_paths(3)]
    assert np.array_equal(first.encode_images(images)[0], second.encode_images(images)[0])


def test_random_init_is_identical_in_another_process(tiny_clip: Path) -> None:
    """Resume relies on it: a new process builds the same weights and so the same features."""
    code = (
        "import json, sys; from promptclimb.evaluators.classify.clip import load_clip\n"
        "b = load_clip(sys.argv[1], precision='fp32')\n"
        "print(json.dumps([b.identity, b.encode_texts(sys.argv[2:])[0].tolist()]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tiny_clip), *PROMPTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    identity, features = json.loads(done.stdout.strip().splitlines()[-1])
    here = load_clip(str(tiny_clip), precision="fp32")
    assert identity == here.identity
    assert np.array_equal(np.asarray(features, dtype=np.float32), here.encode_texts(PROMPTS)[0])


def test_random_init_does_not_touch_the_global_rng(tiny_clip: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_clip(str(tiny_clip), precision="fp32")
    assert torch.equal(torch.rand(3), expected)


def test_random_weights_are_logged_loudly(tiny_clip: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="promptclimb.evaluators.classify.clip"):
        load_clip(str(tiny_clip), precision="fp32")
    assert any("RANDOM WEIGHTS" in r.getMessage() for r in caplog.records)


def test_identity_separates_precision_config_and_weights(tiny_clip: Path, tmp_path: Path) -> None:
    fp32 = load_clip(str(tiny_clip), precision="fp32")
    bf16 = load_clip(str(tiny_clip), precision="bf16")
    assert bf16.identity.endswith("|bf16-mixed") and fp32.identity != bf16.identity

    other = make_tiny_clip_dir(tmp_path / "other", eos_token_id=49407)
    assert load_clip(str(other), precision="fp32").identity.split("|")[1] != fp32.identity.split("|")[1]

    saved = tmp_path / "saved"  # the same random weights saved as a real checkpoint
    model = pristine_clip(tiny_clip)
    model.save_pretrained(saved)
    copy_processing_files(tiny_clip, saved)
    loaded = load_clip(str(saved), precision="fp32")
    assert not loaded.random_weights and "random-init" not in loaded.identity
    assert np.allclose(loaded.encode_texts(PROMPTS)[0], fp32.encode_texts(PROMPTS)[0], atol=1e-6)
    assert load_clip(str(saved), precision="fp32").identity == loaded.identity
    changed = tmp_path / "changed"  # one weight differs: another fingerprint
    with torch.no_grad():
        model.text_projection.weight[0, 0] += 1.0
    model.save_pretrained(changed)
    copy_processing_files(tiny_clip, changed)
    assert load_clip(str(changed), precision="fp32").identity.split("|")[4] != loaded.identity.split("|")[4]


def test_preprocessor_is_resized_to_the_model(tiny_clip: Path) -> None:
    backbone = load_clip(str(tiny_clip), precision="fp32")
    pixels = backbone._pixels(str(imagenet_sample_paths(1)[0]))
    assert pixels is not None and pixels.shape == (3, 32, 32)


def test_image_features_match_transformers(tiny_clip: Path) -> None:
    backbone = load_clip(str(tiny_clip), precision="fp32")
    backbone.image_batch_size = 2  # several batches through the prefetching pipeline
    paths = [str(p) for p in imagenet_sample_paths(5)]
    features, ok = backbone.encode_images(paths)
    assert ok == [0, 1, 2, 3, 4] and features.shape == (5, 16) and features.dtype == np.float32
    from PIL import Image

    batch = backbone.processor(images=[Image.open(p).convert("RGB") for p in paths], return_tensors="pt")
    with torch.inference_mode():
        reference = (
            pristine_clip(tiny_clip).get_image_features(pixel_values=batch["pixel_values"]).pooler_output
        )
    reference = torch.nn.functional.normalize(reference, dim=-1).numpy()
    assert np.allclose(features, reference, atol=1e-5)
    assert np.allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)


def test_unreadable_images_are_skipped(tiny_clip: Path, tmp_path: Path) -> None:
    backbone = load_clip(str(tiny_clip), precision="fp32")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    good = [str(p) for p in imagenet_sample_paths(2)]
    paths = [good[0], str(corrupt), str(tmp_path / "missing.jpg"), good[1]]
    features, ok = backbone.encode_images(paths)
    assert ok == [0, 3] and features.shape == (2, 16)
    assert np.array_equal(features, backbone.encode_images(good)[0])
    empty, none_ok = backbone.encode_images([str(corrupt)])
    assert empty.shape == (0, 16) and none_ok == []


def test_long_prompts_are_truncated_and_flagged(tiny_clip: Path) -> None:
    backbone = load_clip(str(tiny_clip), precision="fp32")
    long_prompt = "a photo of a " + "very " * 120 + "large dog."
    features, truncated = backbone.encode_texts(["a photo of a dog.", long_prompt])
    assert truncated == [False, True] and backbone.max_text_tokens == 77
    tokens = backbone.tokenizer([long_prompt], truncation=True, max_length=77, return_tensors="pt")
    with torch.inference_mode():
        reference = pristine_clip(tiny_clip).get_text_features(**tokens).pooler_output
    assert np.allclose(features[1], torch.nn.functional.normalize(reference, dim=-1)[0].numpy(), atol=1e-5)


def test_hub_id_that_cannot_load_offline_says_what_to_do() -> None:
    with pytest.raises(ModelLoadError) as caught:
        load_clip("openai/clip-vit-base-patch32")  # conftest sets HF_HUB_OFFLINE=1
    message = str(caught.value)
    assert (
        "\n" not in message
        and "pass a local directory, e.g. --clip ../shared/assets/clip-vit-base-patch32" in message
    )


def test_bad_directories_and_options_are_model_load_errors(tmp_path: Path, tiny_clip: Path) -> None:
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_clip(str(tmp_path))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelLoadError, match="not a directory"):
        load_clip(str(tmp_path / "file"))
    with pytest.raises(ModelLoadError, match="unknown precision"):
        load_clip(str(tiny_clip), precision="int8")
    with pytest.raises(ModelLoadError, match="fp16 is not supported on CPU"):
        load_clip(str(tiny_clip), device="cpu", precision="fp16")


def test_auto_precision_on_cpu_is_bf16_or_fp32() -> None:
    assert resolve_precision("auto", "cpu") in ("bf16", "fp32")
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("auto", "cuda") == "fp16"


def test_hub_id_loads_from_the_local_hub_cache(tiny_clip: Path, tmp_path: Path) -> None:
    """The path users run, from_pretrained("openai/clip-vit-base-patch32"), served offline by a hub cache
    laid out as huggingface_hub writes it (a subprocess: the cache location is read at import)."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--openai--clip-vit-base-patch32"
    snapshot = repo / "snapshots" / revision
    pristine_clip(tiny_clip).save_pretrained(snapshot)
    copy_processing_files(tiny_clip, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    code = (
        "from promptclimb.evaluators.classify.clip import load_clip\n"
        "b = load_clip('openai/clip-vit-base-patch32', precision='fp32')\n"
        "print(b.identity, b.random_weights, b.processor.crop_size['height'])\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    identity, random_weights, crop = done.stdout.split()
    assert (
        identity.startswith("hf:openai/clip-vit-base-patch32|") and random_weights == "False" and crop == "32"
    )
    local = load_clip(str(snapshot), precision="fp32").identity
    assert identity.split("|")[1:] == local.split("|")[1:]  # same files: same config, weights, ... hashes


def test_empty_inputs(tiny_clip: Path) -> None:
    backbone = load_clip(str(tiny_clip), precision="fp32")
    features, flags = backbone.encode_texts([])
    assert features.shape == (0, 16) and flags == []
    images, ok = backbone.encode_images([])
    assert images.shape == (0, 16) and ok == []
