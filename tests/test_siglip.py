"""SigLIP / SigLIP 2 FixRes as a scorer: the encoders equal transformers' untouched SiglipModel fed as the
models were trained (fixed 64-token right padding, no attention mask), the padding rule is load-bearing, and
the whole ClipScorer runs on real images. Tiny random-weight models; tokenizers: tests/siglip_fixtures.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import SiglipModel

from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.evaluators.classify.registry import is_plugin_spec, load_backbone
from promptclimb.evaluators.classify.scorer import ClipScorer
from promptclimb.evaluators.classify.siglip import SiglipBackbone, load_siglip
from promptclimb.evaluators.classify.specs import ModelLoadError
from tests.data_fixtures import CLOTHING
from tests.siglip_fixtures import make_tiny_siglip_dir, pristine_siglip, reference_pixels

FLAVORS = ["siglip", "siglip2", "siglip2-naflex"]
PROMPTS = ["a photo of a cat.", "A Photo of a DOG!", "x", "itap of my hat", "a bad photo of the shorts",
           "a photo of a " + "very " * 80 + "big hat"]  # fmt: skip
TEMPLATES = ["a photo of a {}.", "itap of my {}", "a bad photo of the {}, seen from far away"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, SiglipBackbone, SiglipModel]]:
    """Per flavor: the directory, load_siglip's backbone and the untouched reference model."""
    out = {}
    for flavor in FLAVORS:
        directory = make_tiny_siglip_dir(tmp_path_factory.mktemp(flavor), flavor)
        out[flavor] = (directory, load_siglip(str(directory)), pristine_siglip(directory))
    return out


def reference_text(backbone: SiglipBackbone, model: SiglipModel, prompts: list[str], **tokens) -> np.ndarray:
    """transformers' own tokenizer call and get_text_features; by default padding="max_length", max_length=64
    (the docs' rule), right padding, SigLIP 2's prompts lowercased, and only input_ids passed."""
    texts = [p.lower() for p in prompts] if backbone.rule.lowercase else prompts
    settings = {"padding": "max_length", "max_length": 64, "truncation": True, "padding_side": "right"}
    settings.update(tokens)
    with_mask = settings.pop("mask", False)
    encoded = backbone.tokenizer(texts, return_tensors="pt", **settings)
    inputs = {"input_ids": encoded["input_ids"]}
    if with_mask:
        inputs["attention_mask"] = encoded["attention_mask"]
    with torch.inference_mode():
        features = model.get_text_features(**inputs).pooler_output
    return torch.nn.functional.normalize(features, dim=-1).numpy()


def clothing_images(count: int) -> list[Path]:
    return sorted((CLOTHING / "train").rglob("*.jpg"))[:count]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_text_features_equal_transformers(tiny, flavor: str) -> None:
    _, backbone, model = tiny[flavor]
    features, truncated = backbone.encode_texts(PROMPTS)
    assert truncated == [False] * 5 + [True]
    expected = reference_text(backbone, model, PROMPTS)
    assert np.allclose(features, expected, atol=2e-6), np.abs(features - expected).max()
    ids, _ = backbone.token_ids(PROMPTS)
    pad = backbone.tokenizer.pad_token_id
    assert all(len(row) == 64 for row in ids) and ids[2][-1] == pad and ids[2][0] != pad  # right padding


@pytest.mark.parametrize("flavor", FLAVORS)
def test_fixed_padding_is_load_bearing(tiny, flavor: str) -> None:
    """Dynamic padding, an attention mask or left padding would each give other embeddings."""
    _, backbone, model = tiny[flavor]
    prompts = PROMPTS[:4]
    fixed, _ = backbone.encode_texts(prompts)
    variants = {
        "dynamic padding": reference_text(backbone, model, prompts, padding="longest"),
        "attention mask": reference_text(
            backbone,
            model,
            prompts,
            padding="max_length",
            max_length=64,
            return_attention_mask=True,
            mask=True,
        ),  # fmt: skip
        "left padding": reference_text(backbone, model, prompts, padding_side="left"),
    }
    for name, other in variants.items():
        assert np.abs(fixed - other).max() > 1e-2, name


def test_case_rules(tiny) -> None:
    """SigLIP's tokenizer lowercases itself; SigLIP 2's Gemma tokenizer does not, so the backbone does."""
    for flavor in FLAVORS:
        _, backbone, _ = tiny[flavor]
        upper, lower = (backbone.encode_texts([text])[0] for text in ("A PHOTO OF A CAT", "a photo of a cat"))
        assert np.array_equal(upper, lower), flavor
    gemma = tiny["siglip2"][1].tokenizer
    # What AutoTokenizer gives each hub layout: SigLIP's own tokenizer, and the GemmaTokenizer that SigLIP 2
    # FixRes checkpoints (model_type siglip) declare.
    assert type(tiny["siglip"][1].tokenizer).__name__ == "SiglipTokenizer"
    assert type(gemma).__name__ == "GemmaTokenizer"
    assert type(tiny["siglip2-naflex"][1].tokenizer).__name__ == "Siglip2Tokenizer"  # it lowercases too
    assert gemma("A CAT")["input_ids"] != gemma("a cat")["input_ids"]  # the lowercasing is ours, and needed
    assert tiny["siglip2"][1].rule.lowercase and not tiny["siglip"][1].rule.lowercase
    assert tiny["siglip2-naflex"][1].rule.lowercase


@pytest.mark.parametrize("flavor", FLAVORS)
def test_image_features_equal_transformers(tiny, flavor: str) -> None:
    directory, backbone, model = tiny[flavor]
    paths = clothing_images(5)
    features, ok = backbone.encode_images([str(p) for p in paths])
    assert ok == list(range(5))
    pixels = reference_pixels(directory, [Image.open(p).convert("RGB") for p in paths])
    with torch.inference_mode():
        pooled = model.get_image_features(**pixels).pooler_output
        expected = torch.nn.functional.normalize(pooled, dim=-1)
    assert np.allclose(features, expected.numpy(), atol=2e-6), np.abs(features - expected.numpy()).max()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_scorer_runs_on_real_images(tiny, flavor: str, tmp_path: Path) -> None:
    """The whole ClipScorer: accuracy is the argmax of cosine (= of SigLIP's sigmoid probability), cached runs
    repeat it exactly, and an ensemble is the renormalised mean of normalised text embeddings."""
    _, backbone, model = tiny[flavor]
    dataset = load_dataset(str(CLOTHING), shots=1, seed=1)
    scorer = ClipScorer(backbone, dataset, tmp_path / "cache")
    scores = scorer.score(TEMPLATES, "train")
    items = dataset.items("train")
    images, _ = backbone.encode_images([item.path for item in items])
    labels = np.array([item.label for item in items])
    for template, score in zip(TEMPLATES, scores, strict=True):
        classes = reference_text(backbone, model, [template.format(c) for c in dataset.classnames])
        cosines = images @ classes.T
        assert np.array_equal(backbone.probabilities(cosines).argmax(1), cosines.argmax(1))
        assert score.n_images == len(items) and score.n_correct == int((cosines.argmax(1) == labels).sum())
    again = ClipScorer(backbone, dataset, tmp_path / "cache")
    assert [s.model_dump(exclude={"seconds"}) for s in again.score(TEMPLATES, "train")] == [
        s.model_dump(exclude={"seconds"}) for s in scores
    ]
    assert again.stats["images_encoded"] == 0 and again.stats["texts_encoded"] == 0
    names = dataset.classnames
    per_template = [reference_text(backbone, model, [t.format(c) for c in names]) for t in TEMPLATES]
    mean = np.mean(per_template, axis=0)
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    ensemble = scorer.score_ensemble(TEMPLATES, "train")
    assert ensemble.n_correct == int(((images @ mean.T).argmax(1) == labels).sum())


def test_identity_is_distinct_per_model_and_weights(tiny, tmp_path: Path) -> None:
    siglip_dir, siglip, _ = tiny["siglip"]
    identities = {tiny[flavor][1].identity for flavor in FLAVORS}
    assert len(identities) == len(FLAVORS)
    assert load_siglip(str(siglip_dir)).identity == siglip.identity  # stable: a resumed run hits its cache
    trained = tmp_path / "trained"
    shutil.copytree(siglip_dir, trained)
    pristine_siglip(siglip_dir, seed=1).save_pretrained(trained)  # other weights, same everything else
    other = load_siglip(str(trained))
    assert not other.random_weights and "weights=random" not in other.identity
    assert other.identity.split("|")[1:] != siglip.identity.split("|")[1:]
    features, _ = other.encode_texts(["a photo of a cat"])
    assert not np.allclose(features, siglip.encode_texts(["a photo of a cat"])[0])


def test_spec_through_registry(tiny) -> None:
    directory, backbone, _ = tiny["siglip2"]
    loaded = load_backbone(f"siglip:{directory}", device="cpu")
    assert isinstance(loaded, SiglipBackbone) and loaded.identity == backbone.identity
    assert loaded.modality == "image" and loaded.embed_dim == 32
    assert not is_plugin_spec(f"siglip:{directory}")


def test_clear_errors(tiny, tiny_clip: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="directory not found: /no/such/siglip"):
        load_siglip("/no/such/siglip")
    with pytest.raises(ModelLoadError, match="holds a 'clip' model, not SigLIP; use hf:"):
        load_backbone(f"siglip:{tiny_clip}")
    bert = tmp_path / "bert"
    shutil.copytree(tiny["siglip2"][0], bert)
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelLoadError, match="holds a 'bert' model, not SigLIP; siglip: needs a SigLIP"):
        load_siglip(str(bert))
    naflex = tmp_path / "naflex"
    shutil.copytree(tiny["siglip2-naflex"][0], naflex)
    settings = json.loads((naflex / "preprocessor_config.json").read_text())
    (naflex / "preprocessor_config.json").write_text(json.dumps({**settings, "patch_size": 16}))
    with pytest.raises(ModelLoadError, match="cuts 16-pixel patches, the model reads 8-pixel ones"):
        load_siglip(str(naflex))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_siglip(str(empty))
    with pytest.raises(ModelLoadError, match="bf16 on CPU is not validated"):
        load_siglip(str(tiny["siglip"][0]), device="cpu", precision="bf16")
    with pytest.raises(ModelLoadError, match="cannot load SigLIP 'google/siglip-nope' from the Hugging Face"):
        load_siglip("google/siglip-nope")  # HF_HUB_OFFLINE=1 in tests: the cache only, and it is not there


def test_cli_score_with_a_siglip_spec(tiny, capsys) -> None:
    from tests.graph_helpers import cli

    spec = f"siglip:{tiny['siglip'][0]}"
    args = ["score", "--data", str(CLOTHING), "--scorer", spec, "--json", "--baselines", "a photo of a {}."]
    assert cli(*args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) >= 2 and all(r["n_images"] > 0 and 0 <= r["accuracy"] <= 1 for r in rows)


def test_hub_id_loads_from_the_hf_cache(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path users run, from_pretrained(<hub id>), served offline by a Hugging Face cache laid out here."""
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--google--siglip-tiny"
    snapshot = repo / "snapshots" / ("a" * 40)
    shutil.copytree(tiny["siglip"][0], snapshot)
    pristine_siglip(snapshot, seed=3).save_pretrained(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    backbone = load_siglip("google/siglip-tiny")
    assert backbone.identity.startswith("siglip:google/siglip-tiny|") and not backbone.random_weights
    expected = reference_text(backbone, pristine_siglip(snapshot, seed=3), PROMPTS)
    assert np.allclose(backbone.encode_texts(PROMPTS)[0], expected, atol=2e-6)
    config = json.loads((snapshot / "config.json").read_text())
    (snapshot / "config.json").write_text(json.dumps({**config, "model_type": "clip"}))
    with pytest.raises(ModelLoadError, match="google/siglip-tiny holds a 'clip' model, not SigLIP; use hf:"):
        load_siglip("google/siglip-tiny")


def test_batching_changes_nothing(tiny) -> None:
    """Every prompt is 64 tokens and attends to itself only: batch composition cannot change a feature."""
    _, backbone, _ = tiny["siglip"]
    prompts = [f"a photo of a {word} number {i}" for i, word in enumerate(["cat", "dog", "hat"] * 25)]
    together, _ = backbone.encode_texts(prompts)
    backbone.text_batch_size = 7
    try:
        in_sevens, _ = backbone.encode_texts(prompts)
    finally:
        backbone.text_batch_size = 64
    assert np.allclose(together, in_sevens, atol=1e-6)
    groups = backbone.encode_text_groups([prompts[:5], prompts[5:6], []])
    assert [len(f) for f, _ in groups] == [5, 1, 0] and np.allclose(groups[1][0], together[5:6], atol=1e-6)


def test_code_in_a_model_directory_is_never_run(tiny, tmp_path: Path) -> None:
    directory = tmp_path / "with-code"
    shutil.copytree(tiny["siglip2"][0], directory)
    config = json.loads((directory / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", "evil.EvilTokenizer"]}
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    marker = tmp_path / "ran"
    (directory / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass EvilTokenizer: ...\n")
    try:
        backbone = load_siglip(str(directory))
        assert type(backbone.tokenizer).__name__ == "GemmaTokenizer"
    except ModelLoadError:
        pass  # refusing is as good as ignoring it
    assert not marker.exists()
