"""The ``openai:`` port against OpenAI's own code: ``clip/model.py``'s ``build_model`` on the same random
state dict (RN50- and ViT-B/32-shaped, tiny widths and the real sizes) and ``clip/simple_tokenizer.py`` on
texts where ftfy's repair matters. OpenAI's files come from the ``openai-clip`` wheel (installed by
scripts/setup.sh with --no-deps), loaded by path: its package ``__init__`` imports torchvision, which
promptclimb does without."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import ftfy
import numpy as np
import pytest
import torch

from promptclimb.evaluators.classify.openai_arch import PRESETS, OpenAIClipConfig, random_state_dict
from promptclimb.evaluators.classify.openai_clip import clean_text, load_openai_clip, preprocess
from promptclimb.evaluators.images import open_rgb
from tests.clip_fixtures import SHARED_CLIP, imagenet_sample_paths
from tests.openai_fixtures import TINY_RN, TINY_VIT

TOKENIZER = str(SHARED_CLIP)
PROMPTS = ["a photo of a goldfish.", "itap of a café", "a  sketch\tof the {} &amp; friends"]
# Texts ftfy changes: mojibake, curly quotes, a ligature, an HTML entity left double-escaped, a width variant.
MESSY = [
    "cafÃ© au lait",
    "\u201cquoted\u201d photo",
    "a \ufb01ne dog",
    "tom &amp;amp; jerry",
    "ｆｕｌｌ width",
]


def openai_module(name: str) -> ModuleType:
    spec = importlib.util.find_spec("clip")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("openai-clip (OpenAI's reference code) is not installed (scripts/setup.sh installs it)")
    path = Path(spec.submodule_search_locations[0]) / f"{name}.py"
    module_spec = importlib.util.spec_from_file_location(f"openai_reference_{name}", path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def fp16_exact_state(config: OpenAIClipConfig) -> dict[str, torch.Tensor]:
    """Random weights that survive build_model's cast to fp16 unchanged, so both models hold the same."""
    state = random_state_dict(config, seed=3)
    return {k: v.half().float() if v.is_floating_point() else v for k, v in state.items()}


@pytest.mark.parametrize(
    ("config", "tolerance"),
    [(TINY_RN, 1e-5), (TINY_VIT, 1e-5), (PRESETS["RN50"], 5e-5), (PRESETS["ViT-B/32"], 5e-5)],
    ids=["rn-tiny", "vit-tiny", "RN50", "ViT-B-32"],
)
def test_features_equal_openais_build_model(config, tolerance, tmp_path):
    reference_code = openai_module("model")
    state = fp16_exact_state(config)
    checkpoint = tmp_path / "random.pt"
    torch.save(state, checkpoint)
    ours = load_openai_clip(f"{checkpoint}?tokenizer={TOKENIZER}", device="cpu", precision="fp32")
    theirs = reference_code.build_model(dict(state)).float().eval()

    texts, _ = ours.encode_texts(PROMPTS)
    tokens = torch.zeros(len(PROMPTS), theirs.context_length, dtype=torch.long)
    for row, prompt in enumerate(ours._tokenize(PROMPTS)):
        tokens[row, : len(prompt.ids)] = torch.tensor(prompt.ids)
    paths = imagenet_sample_paths(2)
    images, ok = ours.encode_images([str(p) for p in paths])
    pixels = torch.from_numpy(
        np.stack([preprocess(open_rgb(str(p)), config.image_resolution) for p in paths])
    )
    with torch.inference_mode():
        expected_texts = torch.nn.functional.normalize(theirs.encode_text(tokens), dim=-1).numpy()
        expected_images = torch.nn.functional.normalize(theirs.encode_image(pixels), dim=-1).numpy()
    assert ok == [0, 1]
    assert np.abs(texts - expected_texts).max() < tolerance
    assert np.abs(images - expected_images).max() < tolerance


def test_text_cleaning_is_openais_with_ftfy():
    tokenizer = openai_module("simple_tokenizer")
    assert all(ftfy.fix_text(text) != text for text in MESSY)  # each one is a case ftfy changes
    for text in [*MESSY, *PROMPTS]:
        assert clean_text(text) == tokenizer.whitespace_clean(tokenizer.basic_clean(text)), text


def test_token_ids_equal_openais_tokenizer():
    tokenizer = openai_module("simple_tokenizer").SimpleTokenizer()
    ours = load_openai_clip.__globals__["load_tokenizer"]  # the tokenizer every openai: backbone uses
    hf = ours(TOKENIZER)
    start, end = tokenizer.encoder["<|startoftext|>"], tokenizer.encoder["<|endoftext|>"]
    for text in [*MESSY, *PROMPTS]:
        expected = [start, *tokenizer.encode(text), end]
        assert hf(clean_text(text))["input_ids"] == expected, text
