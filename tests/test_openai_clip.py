"""The torch-only ``openai:`` scorer: OpenAI's CLIP architectures (ResNet and ViT) built from a state dict,
their fast ClipBackbone paths equal to the plain reference forward, checkpoint files (TorchScript and plain),
sha256 checks, OpenAI's tokenizer rules, the whole ClipScorer on real images, registry and bench specs."""

from __future__ import annotations

import functools
import hashlib
import html
import http.server
import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import regex
import torch

from promptclimb.evaluators.classify import openai_clip, registry
from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.evaluators.classify.openai_arch import PRESETS, OpenAIClip, OpenAIClipConfig
from promptclimb.evaluators.classify.openai_clip import (
    OpenAIClipBackbone,
    checkpoint_name,
    load_openai_clip,
    preprocess,
    random_openai_clip,
)
from promptclimb.evaluators.classify.scorer import ClipScorer
from promptclimb.evaluators.classify.specs import ModelLoadError
from promptclimb.evaluators.images import open_rgb
from tests.clip_fixtures import SHARED_CLIP, imagenet_sample_paths, make_jpeg_folders_dataset
from tests.conftest import SHARED
from tests.openai_fixtures import (
    TINY_RN,
    TINY_VIT,
    reference_images,
    reference_model,
    reference_texts,
    save_torchscript,
    seeded_reference,
    tiny_state,
)

TOKENIZER = str(SHARED_CLIP)
CLOTHING = SHARED / "datasets" / "clothing-small"
CLASSES = ["tench", "goldfish", "great white shark", "tiger shark", "hammerhead", "electric ray",
           "stingray", "cock", "hen", "ostrich", "brambling", "goldfinch"]  # fmt: skip
PROMPTS = [
    *[f"a photo of a {c}." for c in CLASSES],  # one group sharing "a photo of a": the shared-prefix path
    "  A  PHOTO\tof\n a Dog!! ",
    "tom &amp; jerry &lt;3",
    "a photo <|endoftext|> of a cat",
    "it's a 3-d rendering of the café, naïve 東京 😀",
    "a photo of a " + "very " * 90 + "long cat",  # cut to 77 tokens
    "x",
]
TINY = {"rn": TINY_RN, "vit": TINY_VIT}


@pytest.fixture(scope="module")
def tiny(request: pytest.FixtureRequest) -> dict[str, tuple[OpenAIClipBackbone, OpenAIClip]]:
    """Per architecture: the fp32 backbone with seeded random weights and the plain reference model."""
    return {
        name: (
            random_openai_clip(config, tokenizer=TOKENIZER, precision="fp32"),
            seeded_reference(config),
        )
        for name, config in TINY.items()
    }


# ------------------------------------------------------------------------------------ architecture


@pytest.mark.parametrize("name", list(PRESETS))
def test_config_is_read_back_from_the_state_dict(name: str) -> None:
    with torch.device("meta"):  # shapes only: RN101 and ViT-L/14 cost nothing here
        state = OpenAIClip(PRESETS[name]).state_dict()
    assert OpenAIClipConfig.from_state_dict(state) == PRESETS[name]


@pytest.mark.parametrize("arch", list(TINY))
def test_fast_paths_equal_the_reference_forward(tiny, arch: str) -> None:
    backbone, model = tiny[arch]
    for share_prefix in (True, False):
        backbone.share_prefix = share_prefix
        features, truncated = backbone.encode_texts(PROMPTS)
        expected = reference_texts(model, [p.ids for p in backbone._tokenize(PROMPTS)])
        assert features.shape == (len(PROMPTS), 16)
        assert np.abs(features - expected).max() < 1e-5
        assert truncated == [p.startswith("a photo of a very") for p in PROMPTS]
    backbone.share_prefix = True
    paths = imagenet_sample_paths(5)
    images, ok = backbone.encode_images([str(p) for p in paths])
    assert ok == list(range(5)) and images.shape == (5, 16)
    assert np.abs(images - reference_images(model, paths)).max() < 1e-5
    assert abs(float(np.linalg.norm(images[0])) - 1) < 1e-5 and np.isfinite(images).all()


@pytest.mark.parametrize("arch", list(TINY))
def test_cpu_bf16_stays_close_to_fp32(tiny, arch: str) -> None:
    fp32 = tiny[arch][0]
    bf16 = random_openai_clip(TINY[arch], tokenizer=TOKENIZER, precision="bf16", device="cpu")
    assert bf16.identity != fp32.identity and bf16.identity.endswith("bf16-mixed")
    paths = [str(p) for p in imagenet_sample_paths(3)]
    for encode in (lambda b: b.encode_texts(PROMPTS)[0], lambda b: b.encode_images(paths)[0]):
        cosines = (encode(fp32) * encode(bf16)).sum(axis=1)
        assert cosines.min() > 0.99, cosines


def test_rn50_at_random_weights_once(tmp_path: Path) -> None:
    """The paper's RN50 (about 100M parameters) built and run once, against the reference forward."""
    backbone = random_openai_clip("RN50", tokenizer=TOKENIZER, precision="fp32")
    assert backbone.embed_dim == 1024 and backbone.image_size == 224 and backbone.random_weights
    model = seeded_reference(PRESETS["RN50"])
    prompts = PROMPTS[:3]
    texts, _ = backbone.encode_texts(prompts)
    expected = reference_texts(model, [p.ids for p in backbone._tokenize(prompts)])
    assert texts.shape == (3, 1024) and np.abs(texts - expected).max() < 1e-5
    paths = imagenet_sample_paths(2)
    images, _ = backbone.encode_images([str(p) for p in paths])
    assert images.shape == (2, 1024) and np.abs(images - reference_images(model, paths)).max() < 1e-5
    data = make_jpeg_folders_dataset(tmp_path / "data", train=1, test=1)  # 6 real JPEGs
    scorer = ClipScorer(backbone, load_dataset(data, shots=1, seed=1), tmp_path / "cache")
    (score,) = scorer.score(["a photo of a {}."], "test")
    assert score.n_images == 3 and len(score.per_class) == 3 and scorer.stats["images_encoded"] == 3


# ---------------------------------------------------------------------------------- preprocessing


def test_preprocessing_matches_an_independent_implementation() -> None:
    """transformers' CLIP image processor (224 shortest edge, bicubic, center crop, CLIP mean/std) is
    another implementation of OpenAI's transform: they agree up to resampling rounding."""
    from transformers import CLIPImageProcessorPil

    processor = CLIPImageProcessorPil.from_pretrained(SHARED_CLIP)
    for path in imagenet_sample_paths(3):
        image = open_rgb(str(path))
        ours = preprocess(image, 224)
        theirs = processor(images=image, return_tensors="np")["pixel_values"][0]
        assert ours.shape == theirs.shape == (3, 224, 224)
        assert np.abs(ours - theirs).mean() < 0.01, (path.name, np.abs(ours - theirs).mean())


def test_preprocessing_geometry() -> None:
    from PIL import Image

    left_half_red = np.zeros((100, 300, 3), np.uint8)  # 300 wide, 100 high: resized to 96 x 32
    left_half_red[:, :150, 0] = 255
    pixels = preprocess(Image.fromarray(left_half_red), 32)
    assert pixels.shape == (3, 32, 32) and pixels.dtype == np.float32
    red = pixels[0] * 0.26862954 + 0.48145466  # back to [0, 1]
    assert red[:, :14].min() > 0.95 and red[:, 18:].max() < 0.05  # the crop is the centre: red | black


# ---------------------------------------------------------------------------------------- tokenizer


def _bytes_to_unicode() -> dict[int, str]:
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in keep]
    return {**{b: chr(b) for b in keep}, **{b: chr(256 + i) for i, b in enumerate(extra)}}


@functools.lru_cache(maxsize=1)
def _openai_bpe() -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    vocab = json.loads((SHARED_CLIP / "vocab.json").read_text())
    lines = (SHARED_CLIP / "merges.txt").read_text().splitlines()[1:]
    return vocab, {tuple(line.split()): rank for rank, line in enumerate(lines) if line}


def openai_tokenize(text: str, context: int = 77) -> list[int]:
    """OpenAI's tokenizer rules, written out independently of transformers: HTML unescaped twice,
    whitespace collapsed, lowercased, OpenAI's split pattern, byte-level BPE with an end-of-word marker,
    start/end tokens, cut to the context with end-of-text last (clip.tokenize(truncate=True))."""
    vocab, ranks = _openai_bpe()
    to_unicode = _bytes_to_unicode()
    text = regex.sub(r"\s+", " ", html.unescape(html.unescape(text))).strip().lower()
    pattern = r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
    ids = [vocab["<|startoftext|>"]]
    for piece in regex.findall(pattern, text, regex.IGNORECASE):
        if piece in ("<|startoftext|>", "<|endoftext|>"):
            ids.append(vocab[piece])
            continue
        word = [to_unicode[b] for b in piece.encode("utf-8")]
        word[-1] += "</w>"
        while len(word) > 1:
            pairs = [
                (ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(word, word[1:], strict=False))
            ]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            word[i : i + 2] = [word[i] + word[i + 1]]
        ids.extend(vocab[token] for token in word)
    ids.append(vocab["<|endoftext|>"])
    return ids if len(ids) <= context else [*ids[: context - 1], vocab["<|endoftext|>"]]


def test_token_ids_follow_openais_rules(tiny) -> None:
    backbone = tiny["rn"][0]
    assert openai_tokenize("a photo of a cat.") == [49406, 320, 1125, 539, 320, 2368, 269, 49407]
    prompts = [*PROMPTS, "don't STOP", "1234 apples", "  &quot;quoted&quot;  ", "a\u00a0b"]
    for prompt, got in zip(prompts, backbone._tokenize(prompts), strict=True):
        assert got.ids == openai_tokenize(prompt), prompt
        assert got.pool == int(np.argmax(got.ids))  # OpenAI pools the first end-of-text token


# ---------------------------------------------------------------------------------- whole scorer


@pytest.mark.parametrize("arch", list(TINY))
def test_the_whole_scorer_on_real_images(tiny, arch: str, tmp_path: Path) -> None:
    backbone = tiny[arch][0]
    dataset = load_dataset(CLOTHING, shots=1, seed=1)
    scorer = ClipScorer(backbone, dataset, tmp_path / "cache")
    templates = ["a photo of a {}.", "itap of a {}.", "a {} on a hanger"]
    scores = scorer.score(templates, "test")
    assert [s.template for s in scores] == templates
    assert all(s.n_images == 372 and 0 <= s.accuracy <= 1 and len(s.per_class) == 10 for s in scores)
    ensemble = scorer.score_ensemble(templates, "test")
    assert ensemble.n_images == 372
    again = ClipScorer(backbone, dataset, tmp_path / "cache")
    assert [s.accuracy for s in again.score(templates, "test")] == [s.accuracy for s in scores]
    assert again.stats["images_encoded"] == 0 and again.stats["texts_encoded"] == 0


def test_cache_identity_is_distinct_per_backbone_and_weights(tiny) -> None:
    rn, vit = tiny["rn"][0], tiny["vit"][0]
    other_seed = random_openai_clip(TINY_RN, tokenizer=TOKENIZER, precision="fp32", seed=1)
    same = random_openai_clip(TINY_RN, tokenizer=TOKENIZER, precision="fp32")
    assert len({rn.identity, vit.identity, other_seed.identity}) == 3
    assert same.identity == rn.identity and "weights=random-init-seed0" in rn.identity
    assert rn.input_key(_Item(imagenet_sample_paths(1)[0])) != vit.input_key(
        _Item(imagenet_sample_paths(1)[0])
    )


class _Item:
    def __init__(self, path: Path) -> None:
        self.path = str(path)


# ---------------------------------------------------------------------------------- checkpoint files


def test_checkpoint_files_torchscript_and_plain(tiny, tmp_path: Path) -> None:
    state = tiny_state(TINY_RN)
    archive = save_torchscript(state, TINY_RN, tmp_path / "tiny-rn.pt")  # fp16, as OpenAI publishes
    plain = tmp_path / "tiny-rn-plain.pt"
    torch.save(state, plain)
    from_archive = registry.load_backbone(f"openai:{archive}?tokenizer={TOKENIZER}", precision="fp32")
    from_plain = registry.load_backbone(f"openai:{plain}?tokenizer={TOKENIZER}", precision="fp32")
    assert isinstance(from_plain, OpenAIClipBackbone) and not from_plain.random_weights
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
    assert from_archive.identity.startswith("openai:tiny-rn|") and f"weights={sha}" in from_archive.identity
    assert len({from_archive.identity, from_plain.identity, tiny["rn"][0].identity}) == 3
    paths = [str(p) for p in imagenet_sample_paths(3)]
    # the plain file holds the seeded weights exactly
    assert np.array_equal(from_plain.encode_images(paths)[0], tiny["rn"][0].encode_images(paths)[0])
    assert np.array_equal(from_plain.encode_texts(PROMPTS)[0], tiny["rn"][0].encode_texts(PROMPTS)[0])
    # the archive holds them rounded to fp16: compare with the reference of the rounded weights
    rounded = reference_model(
        {k: v.half() if v.is_floating_point() else v for k, v in state.items()}, TINY_RN
    )
    expected = reference_texts(rounded, [p.ids for p in from_archive._tokenize(PROMPTS)])
    assert np.abs(from_archive.encode_texts(PROMPTS)[0] - expected).max() < 1e-5


def test_a_file_that_is_not_an_openai_checkpoint_is_one_line(tmp_path: Path) -> None:
    state = tiny_state(TINY_VIT)
    del state["visual.ln_post.weight"]
    torch.save(state, tmp_path / "broken.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    for name, message in (("broken.pt", "lacks 'visual.ln_post.weight'"), ("junk.pt", "cannot read")):
        with pytest.raises(ModelLoadError, match=message) as error:
            load_openai_clip(f"{tmp_path / name}?tokenizer={TOKENIZER}")
        assert "\n" not in str(error.value)


@pytest.fixture
def checkpoint_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ~/.cache/clip and $PROMPTCLIMB_CACHE/openai-clip (the autouse fixture isolates the latter)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return openai_clip.checkpoint_dirs()[0]


def _publish(
    monkeypatch: pytest.MonkeyPatch, name: str, data: bytes, base: str = "https://example.invalid"
) -> str:
    sha = hashlib.sha256(data).hexdigest()
    monkeypatch.setitem(openai_clip.CHECKPOINTS, name, f"{base}/{sha}/{name}.pt")
    return sha


def test_named_checkpoint_sha256_is_checked(checkpoint_home: Path, tmp_path: Path, monkeypatch) -> None:
    checkpoint_home.mkdir(parents=True)
    (checkpoint_home / "RN50.pt").write_bytes(b"a truncated download")
    with pytest.raises(ModelLoadError, match="is not OpenAI's RN50 .*delete it") as error:
        registry.load_backbone(f"openai:RN50?tokenizer={TOKENIZER}")
    assert "\n" not in str(error.value)
    archive = save_torchscript(tiny_state(TINY_VIT), TINY_VIT, checkpoint_home / "tiny.pt")
    sha = _publish(monkeypatch, "tiny", archive.read_bytes())
    backbone = load_openai_clip(f"tiny?tokenizer={TOKENIZER}", precision="fp32")
    assert backbone.identity.startswith("openai:tiny|") and f"weights={sha[:16]}" in backbone.identity
    copy = tmp_path / "renamed.pt"
    copy.write_bytes(archive.read_bytes())  # a local copy of the same file shares the cache rows
    assert load_openai_clip(f"{copy}?tokenizer={TOKENIZER}", precision="fp32").identity == backbone.identity


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        body = self.files.get(self.path.rsplit("/", 1)[-1], b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_download_once_and_refuse_a_wrong_file(checkpoint_home: Path, tmp_path: Path, monkeypatch) -> None:
    data = save_torchscript(tiny_state(TINY_VIT), TINY_VIT, tmp_path / "tiny.pt").read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        _Files.files = {"tiny.pt": data, "evil.pt": b"something else"}
        _publish(monkeypatch, "tiny", data, base)
        load_openai_clip(f"tiny?tokenizer={TOKENIZER}", precision="fp32")
        assert (checkpoint_home / "tiny.pt").read_bytes() == data
        _Files.files = {}  # now cached: no second download
        load_openai_clip(f"tiny?tokenizer={TOKENIZER}", precision="fp32")
        monkeypatch.setitem(openai_clip.CHECKPOINTS, "evil", f"{base}/{'0' * 64}/evil.pt")
        _Files.files = {"evil.pt": b"something else"}
        with pytest.raises(ModelLoadError, match="the download from .* is not OpenAI's evil"):
            load_openai_clip(f"evil?tokenizer={TOKENIZER}")
        assert sorted(p.name for p in checkpoint_home.iterdir()) == ["tiny.pt"]  # nothing half-written
    finally:
        server.shutdown()


def test_offline_without_a_file_says_what_to_do(checkpoint_home: Path, monkeypatch) -> None:
    monkeypatch.setitem(openai_clip.CHECKPOINTS, "RN50", "http://127.0.0.1:9/" + "0" * 64 + "/RN50.pt")
    with pytest.raises(ModelLoadError, match="cannot download OpenAI CLIP RN50 .*openai:/path/to/RN50.pt"):
        load_openai_clip(f"RN50?tokenizer={TOKENIZER}")


# ------------------------------------------------------------------------------------------ specs


def test_spec_names_and_errors() -> None:
    assert checkpoint_name("rn50") == "RN50" and checkpoint_name("ViT-B-16") == "ViT-B/16"
    assert checkpoint_name("RN51") is None
    assert registry.split_spec("openai:ViT-B/16") == ("openai", "ViT-B/16")
    assert registry.split_spec("openai/clip-vit-base-patch16") == ("hf", "openai/clip-vit-base-patch16")
    for spec, message in (
        ("openai:RN51", "unknown OpenAI CLIP model 'RN51'"),
        ("openai:RN50?size=2", "unknown option 'size=2'"),
        ("openai:", "names no model"),
    ):
        with pytest.raises(ModelLoadError, match=message):
            registry.load_backbone(spec)
    assert registry.untrusted_reason("openai:RN50") is None
    assert "TorchScript" in (registry.untrusted_reason("openai:/tmp/x.pt") or "")


def test_spec_round_trip_through_the_registry(tmp_path: Path) -> None:
    from promptclimb.evaluators.classify.registry import check_modality

    path = tmp_path / "tiny-vit.pt"
    torch.save(tiny_state(TINY_VIT), path)
    spec = f"openai:{path}?tokenizer={TOKENIZER}"
    backbone = registry.load_backbone(spec, device="cpu", precision="fp32")
    assert backbone.modality == "image" and backbone.embed_dim == 16
    check_modality(load_dataset(CLOTHING, shots=1, seed=1), backbone, spec)
    assert registry.load_backbone(spec, precision="fp32").identity == backbone.identity


def test_tokenizer_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    torch.save(tiny_state(TINY_VIT), tmp_path / "v.pt")
    monkeypatch.setenv(openai_clip.TOKENIZER_ENV, TOKENIZER)
    assert load_openai_clip(str(tmp_path / "v.pt"), precision="fp32").embed_dim == 16
    monkeypatch.setenv(openai_clip.TOKENIZER_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ModelLoadError, match="cannot load the CLIP tokenizer .*tokenizer=DIR"):
        load_openai_clip(str(tmp_path / "v.pt"))


# ---------------------------------------------------------------------------------------- open_clip


def test_open_clip_missing_is_one_line_pointing_to_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "open_clip", None)  # as if absent (or its torchvision import failed)
    for spec, twin in (
        ("open_clip:RN50/openai", "openai:RN50"),
        ("open_clip:ViT-B-16/openai", "openai:ViT-B/16"),
    ):
        with pytest.raises(ModelLoadError) as error:
            registry.load_backbone(spec)
        message = str(error.value)
        assert "\n" not in message and "open_clip package" in message and message.endswith(twin)
    with pytest.raises(ModelLoadError, match="<architecture>/<pretrained>"):
        registry.load_backbone("open_clip:RN50")


def test_open_clip_backbone_where_installed(tmp_path: Path) -> None:
    open_clip = pytest.importorskip("open_clip")  # not a dependency: only where the user installed it
    from promptclimb.evaluators.classify.open_clip_backend import OpenClipBackbone

    model, _, transform = open_clip.create_model_and_transforms("RN50")  # random weights, no download
    backbone = OpenClipBackbone(model, transform, open_clip.get_tokenizer("RN50"), identity="t", device="cpu",
                                precision="fp32")  # fmt: skip
    features, truncated = backbone.encode_text_groups([["a cat", "a dog " * 80]])[0]
    assert features.shape == (2, 1024) and truncated == [False, True]


# ------------------------------------------------------------------------------------------ bench


def test_bench_clips_name_any_scorer(tmp_path: Path) -> None:
    from promptclimb.results.suite import cell_id, clip_slug, load_suite, scorer_fields
    from promptclimb.session.cells import Models

    assert clip_slug("openai:RN50") == "openai-rn50" and clip_slug("openai:ViT-B/16") == "openai-vit-b-16"
    assert clip_slug("openai/clip-vit-base-patch16") == clip_slug("hf:openai/clip-vit-base-patch16")
    assert cell_id("d", 1, 1, "openai/clip-vit-base-patch16", "pos") == "d-1shot-s1-clip-vit-base-patch16-pos"
    assert scorer_fields("openai/clip-vit-base-patch16") == {"clip": "openai/clip-vit-base-patch16"}
    assert scorer_fields("hf:x/y") == {"clip": "x/y"} and scorer_fields("openai:RN50") == {
        "scorer": "openai:RN50"
    }

    torch.save(tiny_state(TINY_RN), tmp_path / "rn.pt")
    suite_file = tmp_path / "s.toml"
    suite_file.write_text(
        f'name = "s"\nclips = ["openai:./rn.pt?tokenizer=./tok", "openai:RN50"]\n'
        f'datasets = ["{CLOTHING}"]\nmethods = ["zero-shot"]\nseeds = [1]\n'
    )
    (tmp_path / "tok").symlink_to(TOKENIZER)
    suite = load_suite(suite_file)
    assert suite.clips == [
        f"openai:{tmp_path / 'rn.pt'}?tokenizer={Path(TOKENIZER).resolve()}",
        "openai:RN50",
    ]
    from promptclimb.results.suite import cells

    grid = cells(suite, tmp_path / "runs")
    assert [c.config.scorer for c in grid] == suite.clips
    assert [c.id.split("-s1-")[1] for c in grid] == ["openai-rn.pt-baselines", "openai-rn50-baselines"]
    with Models() as models:
        backbone = models.clip(grid[0].config.model_copy(update={"precision": "fp32"}))
        assert isinstance(getattr(backbone, "inner", backbone), OpenAIClipBackbone)  # (shared: serialized)
        assert models.clip(grid[0].config.model_copy(update={"precision": "fp32"})) is backbone


def test_models_command_lists_the_checkpoints(capsys: pytest.CaptureFixture) -> None:
    from tests.graph_helpers import cli

    assert cli("models") == 0
    printed = capsys.readouterr().out
    assert "openai:RN50" in printed and "openai:ViT-B/16" in printed


def test_score_command_with_an_openai_scorer(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tests.graph_helpers import cli

    torch.save(tiny_state(TINY_RN), tmp_path / "rn.pt")
    data = make_jpeg_folders_dataset(tmp_path / "data", train=1, test=1)
    spec = f"openai:{tmp_path / 'rn.pt'}?tokenizer={TOKENIZER}"
    assert cli("score", "--data", str(data), "--scorer", spec, "--precision", "fp32", "--json", "a {}") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["template"] == "a {}" and row["n_images"] == 3
    assert cli("score", "--data", str(data), "--scorer", "openai:RN51", "a {}") == 2
    assert "unknown OpenAI CLIP model 'RN51'" in capsys.readouterr().err
