"""The fast text forward (dynamic padding, shared-prefix key/value cache, pooled-token-only last layer)
equals transformers' CLIPModel.get_text_features within float tolerance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import CLIPModel

from promptclimb.evaluators.classify.clip import ClipBackbone, load_clip
from tests.clip_fixtures import SHARED_CLIP, make_tiny_clip_dir, pristine_clip

CLASSES = ["tench", "goldfish", "great white shark", "tiger shark", "hammerhead", "electric ray",
           "stingray", "cock", "hen", "ostrich", "brambling", "goldfinch"]  # fmt: skip


def reference(backbone: ClipBackbone, prompts: list[str], model: CLIPModel | None = None) -> np.ndarray:
    """The plain transformers forward: padded batch, attention mask, tokenizer truncation."""
    tokens = backbone.tokenizer(prompts, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.inference_mode():
        features = (model or backbone.model).get_text_features(**tokens).pooler_output
    return torch.nn.functional.normalize(features.float(), dim=-1).numpy()


def prompt_sets() -> dict[str, list[str]]:
    return {
        "short prefix": [f"a photo of a {c}." for c in CLASSES],
        "class first": [f"{c}, seen from far away." for c in CLASSES],
        "several slots": [f"a {c} next to another {c}" for c in CLASSES],
        "end of text inside": [f"a photo <|endoftext|> of a {c}" for c in CLASSES],
        "too long": [f"a photo of a {c} " + "and more words " * 30 for c in CLASSES],
        "mixed": ["hi", "a photo of a cat", "x", "a photo of a dog, a type of pet.", "a photo of", *CLASSES],
    }


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[ClipBackbone, CLIPModel]]:
    """Per eos_token_id (2: legacy pooling at the largest id; 49407: at the first end-of-text token)."""
    models = {}
    for eos in (2, 49407):
        directory = make_tiny_clip_dir(tmp_path_factory.mktemp(f"clip-eos{eos}"), eos_token_id=eos)
        models[eos] = (load_clip(str(directory), precision="fp32"), pristine_clip(directory))
    return models


@pytest.mark.parametrize("eos_token_id", [2, 49407])
@pytest.mark.parametrize("name", list(prompt_sets()))
def test_fast_forward_equals_transformers(
    tiny_models: dict[int, tuple[ClipBackbone, CLIPModel]], eos_token_id: int, name: str
) -> None:
    backbone, model = tiny_models[eos_token_id]
    backbone.share_prefix = True
    prompts = prompt_sets()[name]
    expected = reference(backbone, prompts, model)
    shared, _ = backbone.encode_texts(prompts)
    backbone.share_prefix = False
    plain, _ = backbone.encode_texts(prompts)
    assert np.allclose(shared, expected, atol=2e-6), np.abs(shared - expected).max()
    assert np.allclose(plain, expected, atol=2e-6), np.abs(plain - expected).max()


def test_groups_are_encoded_as_if_alone(tiny_clip: Path) -> None:
    backbone = load_clip(str(tiny_clip), precision="fp32")
    groups = [[f"a photo of a {c}." for c in CLASSES], ["x", "y"], [f"itap of my {c}" for c in CLASSES[:3]]]
    together = backbone.encode_text_groups(groups)
    for group, (features, truncated) in zip(groups, together, strict=True):
        assert features.shape == (len(group), 16) and truncated == [False] * len(group)
        assert np.allclose(features, reference(backbone, group), atol=2e-6)


def test_shared_prefix_is_used_and_bounded(tiny_clip: Path) -> None:
    backbone = load_clip(str(tiny_clip), precision="fp32")
    prompts = backbone._tokenize([f"a photo of a {c}." for c in CLASSES])
    assert backbone._shared_prefix(prompts) == 5  # <start> a photo of a
    inside = backbone._tokenize(["a <|endoftext|> b", "a <|endoftext|> c"])
    assert backbone._shared_prefix(inside) == min(p.pool for p in inside)  # never past the pooled token
    backbone.share_prefix = False
    assert backbone._shared_prefix(prompts) == 0


def test_real_vit_b32_text_tower_matches(tmp_path: Path) -> None:
    """The real architecture (12 layers, 8 heads, width 512), random weights, fp32."""
    backbone = load_clip(str(SHARED_CLIP), precision="fp32")
    prompts = [f"a blurry photo of the {c}, a kind of fish." for c in CLASSES]
    expected = reference(backbone, prompts, pristine_clip(SHARED_CLIP))
    assert np.allclose(backbone.encode_texts(prompts)[0], expected, atol=1e-5)


def test_plain_torch_fallback_gives_the_same_features(
    tiny_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where torch.ops.mkldnn._linear_pointwise is missing or wrong, the CPU kernels fall back to F.linear."""
    import promptclimb.evaluators.classify.cpu_kernels as cpu_kernels

    prompts = [f"a photo of a {c}." for c in CLASSES]
    for precision, tolerance in (("fp32", 2e-6), ("bf16", 2e-2)):
        fused = load_clip(str(tiny_clip), precision=precision).encode_texts(prompts)[0]
        with monkeypatch.context() as patch:
            patch.setattr(cpu_kernels, "_ONEDNN_STATE", [False])
            plain = load_clip(str(tiny_clip), precision=precision).encode_texts(prompts)[0]
        assert np.allclose(fused, plain, atol=tolerance), np.abs(fused - plain).max()
