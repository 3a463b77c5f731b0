"""ClipScorer: exact caching, cache invalidation, scoring math, ensembles, unreadable images, the CLI core."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from promptclimb.evaluators.base import TemplateScore
from promptclimb.evaluators.cache import FeatureStore
from promptclimb.evaluators.classify.clip import ClipBackbone, load_clip
from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir, score_templates
from promptclimb.prompts.template import TemplateError
from tests.clip_fixtures import IMAGENET_SAMPLES, make_jpeg_folders_dataset

TEMPLATES = ["a photo of a {}.", "itap of a {}.", "a {} in the wild, next to a {}"]


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> ClipBackbone:
    from tests.clip_fixtures import make_tiny_clip_dir

    return load_clip(str(make_tiny_clip_dir(tmp_path_factory.mktemp("clip"))), precision="fp32")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_jpeg_folders_dataset(tmp_path / "data", classes=("cat", "dog", "fox", "owl"), train=2, test=2)


def scorer_for(backbone: ClipBackbone, data: Path, cache: Path, shots: int = 2) -> ClipScorer:
    return ClipScorer(backbone, load_dataset(data, shots=shots, seed=1), cache)


def without_seconds(scores: list[TemplateScore]) -> list[dict]:
    return [s.model_dump(exclude={"seconds"}) for s in scores]


def test_cached_score_equals_fresh_exactly(backbone: ClipBackbone, data_dir: Path, tmp_path: Path) -> None:
    fresh_scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    fresh = fresh_scorer.score(TEMPLATES, "train")
    assert fresh_scorer.stats == {"images_encoded": 8, "image_cache_hits": 0, "texts_encoded": 12,
                                  "text_cache_hits": 0}  # fmt: skip
    cached_scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    cached = cached_scorer.score(TEMPLATES, "train")
    assert without_seconds(cached) == without_seconds(fresh)
    assert cached_scorer.stats == {"images_encoded": 0, "image_cache_hits": 8, "texts_encoded": 0,
                                   "text_cache_hits": 12}  # fmt: skip
    ensemble = fresh_scorer.score_ensemble(TEMPLATES, "train").model_dump(exclude={"seconds"})
    assert cached_scorer.score_ensemble(TEMPLATES, "train").model_dump(exclude={"seconds"}) == ensemble


def test_cache_hit_makes_no_encoder_call(backbone: ClipBackbone, data_dir: Path, tmp_path: Path) -> None:
    scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    first = scorer.score(TEMPLATES[:1], "test")
    calls: list[str] = []

    class Spy:
        """The backbone, with every encoder call recorded."""

        identity, embed_dim = backbone.identity, backbone.embed_dim

        def encode_text_groups(self, groups):  # noqa: ANN001, ANN201
            calls.append("text")
            return backbone.encode_text_groups(groups)

        def input_key(self, item):  # noqa: ANN001, ANN201
            return backbone.input_key(item)

        def encode_inputs(self, items):  # noqa: ANN001, ANN201
            calls.append("images")
            return backbone.encode_inputs(items)

    for candidate in (scorer, scorer_for(backbone, data_dir, tmp_path / "cache")):
        candidate.backbone = Spy()  # type: ignore[assignment]
        assert without_seconds(candidate.score(TEMPLATES[:1], "test")) == without_seconds(first)
    assert calls == []
    scorer.score(["a new {} template"], "test")
    assert calls == ["text"] and scorer.stats["texts_encoded"] == 4 + 4


def test_changing_the_model_identity_invalidates(
    backbone: ClipBackbone, data_dir: Path, tmp_path: Path
) -> None:
    scorer_for(backbone, data_dir, tmp_path / "cache").score(TEMPLATES[:1], "train")
    other = load_clip(str(Path(backbone.identity.split("|")[0])), precision="bf16")
    assert other.identity != backbone.identity
    scorer = scorer_for(other, data_dir, tmp_path / "cache")
    scorer.score(TEMPLATES[:1], "train")
    assert scorer.stats["images_encoded"] == 8 and scorer.stats["texts_encoded"] == 4
    assert scorer.stats["image_cache_hits"] == 0 and scorer.stats["text_cache_hits"] == 0


def test_changing_images_invalidates_only_those(
    backbone: ClipBackbone, data_dir: Path, tmp_path: Path
) -> None:
    before = scorer_for(backbone, data_dir, tmp_path / "cache").score(TEMPLATES[:1], "test")[0]
    replaced = data_dir / "test" / "cat" / "0.jpg"
    shutil.copyfile(sorted(IMAGENET_SAMPLES.glob("*.JPEG"))[-1], replaced)  # new content, size and mtime
    added = data_dir / "test" / "dog" / "9.jpg"
    shutil.copyfile(sorted(IMAGENET_SAMPLES.glob("*.JPEG"))[-2], added)
    scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    after = scorer.score(TEMPLATES[:1], "test")[0]
    assert scorer.stats["images_encoded"] == 2 and scorer.stats["image_cache_hits"] == 7
    assert after.n_images == before.n_images + 1

    os.utime(added, ns=(added.stat().st_atime_ns, added.stat().st_mtime_ns + 10**9))  # touched: re-encoded
    touched = scorer_for(backbone, data_dir, tmp_path / "cache")
    touched.score(TEMPLATES[:1], "test")
    assert touched.stats["images_encoded"] == 1


def test_changing_class_names_encodes_only_new_prompts(
    backbone: ClipBackbone, data_dir: Path, tmp_path: Path
) -> None:
    scorer_for(backbone, data_dir, tmp_path / "cache").score(TEMPLATES, "train")
    (data_dir / "train" / "fox").rename(data_dir / "train" / "red_fox")
    (data_dir / "test" / "fox").rename(data_dir / "test" / "red_fox")
    scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    assert "red fox" in scorer.classnames
    scorer.score(TEMPLATES, "train")
    assert scorer.stats["texts_encoded"] == len(TEMPLATES) and scorer.stats["text_cache_hits"] == 3 * 3


def test_scores_follow_the_definitions(backbone: ClipBackbone, data_dir: Path, tmp_path: Path) -> None:
    scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    result = scorer.score([TEMPLATES[0]], "test")[0]
    dataset, store = scorer.dataset, FeatureStore(tmp_path / "cache")
    items = dataset.items("test")
    images, _ = backbone.encode_images([i.path for i in items])
    texts, _ = backbone.encode_texts([TEMPLATES[0].replace("{}", c) for c in dataset.classnames])
    stored = store.get_texts(backbone.identity, [TEMPLATES[0].replace("{}", c) for c in dataset.classnames])
    assert stored.found.all() and np.allclose(stored.vectors, texts, atol=2e-3)  # float16 storage
    labels = np.array([i.label for i in items])
    similarity = images @ texts.T
    predicted = similarity.argmax(1)
    assert result.n_images == len(items) == 8 and result.n_correct == int((predicted == labels).sum())
    assert result.accuracy == pytest.approx(result.n_correct / 8)
    per_class = [float(np.mean(predicted[labels == c] == c)) for c in range(4)]
    assert result.per_class == pytest.approx(per_class)
    wrong = np.where(np.eye(4, dtype=bool)[labels], -np.inf, similarity).max(1)
    assert result.margin == pytest.approx(float(np.mean(similarity[np.arange(8), labels] - wrong)), abs=2e-3)
    assert result.split == "test" and result.template == TEMPLATES[0] and not result.truncated


def test_ensemble_is_the_renormalised_mean(backbone: ClipBackbone, data_dir: Path, tmp_path: Path) -> None:
    scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    single = scorer.score([TEMPLATES[1]], "test")[0]
    alone = scorer.score_ensemble([TEMPLATES[1]], "test")
    assert (alone.accuracy, alone.per_class) == (single.accuracy, single.per_class)
    assert alone.margin == pytest.approx(single.margin, abs=1e-6)  # renormalising a unit vector: last bits

    ensemble = scorer.score_ensemble(TEMPLATES, "test")
    texts = scorer._class_texts(TEMPLATES)
    mean = np.mean([texts[t].matrix for t in TEMPLATES], axis=0)
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    images = scorer._images("test")
    predicted = (images.features @ mean.T).argmax(1)
    assert ensemble.n_correct == int((predicted == images.labels).sum())
    assert ensemble.template == "ensemble of 3 templates" and ensemble.n_images == 8
    with pytest.raises(ValueError):
        scorer.score_ensemble([], "test")


def test_long_template_is_truncated_not_a_crash(
    backbone: ClipBackbone, data_dir: Path, tmp_path: Path
) -> None:
    scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    long_template = "a photo of a {} " + "with many words " * 40
    short, long = scorer.score([TEMPLATES[0], long_template], "train")
    assert long.truncated and not short.truncated
    assert scorer.score_ensemble([TEMPLATES[0], long_template], "train").truncated
    assert scorer_for(backbone, data_dir, tmp_path / "cache").score([long_template], "train")[0].truncated


def test_unreadable_images_are_skipped_and_counted(
    backbone: ClipBackbone, data_dir: Path, tmp_path: Path
) -> None:
    (data_dir / "test" / "dog" / "1.jpg").write_bytes(b"not an image at all")
    scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    result = scorer.score([TEMPLATES[0]], "test")[0]
    assert scorer.skipped_images == {"test": 1} and result.n_images == 7


def test_train_class_without_readable_image_is_a_data_error(
    backbone: ClipBackbone, data_dir: Path, tmp_path: Path
) -> None:
    for image in (data_dir / "train" / "owl").iterdir():
        image.write_bytes(b"\xff\xd8 broken")
    scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    with pytest.raises(DataError, match="class 'owl' has no readable image in the train split"):
        scorer.score([TEMPLATES[0]], "train")


def test_has_split_follows_the_dataset(backbone: ClipBackbone, data_dir: Path, tmp_path: Path) -> None:
    scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    assert scorer.has_split("train") and scorer.has_split("test") and not scorer.has_split("val")
    assert scorer.classnames == ["cat", "dog", "fox", "owl"]


def test_score_templates_is_the_cli_core(tiny_clip: Path, data_dir: Path, tmp_path: Path) -> None:
    rows = score_templates(str(data_dir), str(tiny_clip), TEMPLATES[:2], shots=1, seed=1, split="test",
                           cache_dir=str(tmp_path / "cache"))  # fmt: skip
    assert [r["template"] for r in rows] == TEMPLATES[:2]
    assert all(set(r) == {"template", "split", "accuracy", "n_images", "seconds"} for r in rows)
    assert all(r["split"] == "test" and r["n_images"] == 8 and 0 <= r["accuracy"] <= 1 for r in rows)
    with pytest.raises(TemplateError):
        score_templates(str(data_dir), str(tiny_clip), ["no placeholder"], shots=1, seed=1, split="test",
                        cache_dir=None)  # fmt: skip
    with pytest.raises(DataError, match="no val split"):
        score_templates(str(data_dir), str(tiny_clip), TEMPLATES[:1], shots=1, seed=1, split="val",
                        cache_dir=None)  # fmt: skip


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROMPTCLIMB_CACHE", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("PROMPTCLIMB_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "promptclimb"


def test_imagenet_samples_integration(tiny_clip: Path, tmp_path: Path) -> None:
    """Five real ImageNet classes (named layout, 1 shot) through the real ViT-B/32 tokenizer and
    preprocessor with the tiny model, then again from the cache in a new scorer."""
    data = tmp_path / "imagenet-5"
    data.mkdir()
    for path in sorted(IMAGENET_SAMPLES.glob("*.JPEG"))[:5]:
        (data / path.name).symlink_to(path.resolve())
    dataset = load_dataset(data, shots=1, seed=1)
    assert dataset.classnames[:2] == ["tench", "goldfish"]
    backbone = load_clip(str(tiny_clip))
    scorer = ClipScorer(backbone, dataset, tmp_path / "cache")
    scores = scorer.score(["a photo of a {}.", "a bad photo of the {}."], "train")
    assert [s.n_images for s in scores] == [5, 5] and all(len(s.per_class) == 5 for s in scores)
    assert all(0.0 <= s.accuracy <= 1.0 and s.seconds >= 0 for s in scores)
    assert scorer.stats["images_encoded"] == 5 and scorer.stats["texts_encoded"] == 10
    again = ClipScorer(backbone, dataset, tmp_path / "cache")
    assert without_seconds(
        again.score(["a photo of a {}.", "a bad photo of the {}."], "train")
    ) == without_seconds(scores)
    assert again.stats["images_encoded"] == 0 and again.stats["texts_encoded"] == 0


def test_store_decoding_does_not_depend_on_the_batch() -> None:
    from promptclimb.evaluators.cache import decode_vectors, encode_vector

    vectors = np.random.default_rng(0).normal(size=(50, 512)).astype(np.float32)
    blobs = [encode_vector(v) for v in vectors]
    together = decode_vectors(blobs)
    assert all(np.array_equal(together[i], decode_vectors([b])[0]) for i, b in enumerate(blobs))
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-6)


def test_repeated_scores_are_answered_from_memory(
    backbone: ClipBackbone, data_dir: Path, tmp_path: Path
) -> None:
    scorer = scorer_for(backbone, data_dir, tmp_path / "cache")
    first = scorer.score(TEMPLATES[:2], "train")
    scorer.store.close()  # a repeat must not even read the store
    again = scorer.score([TEMPLATES[1], TEMPLATES[0], TEMPLATES[1]], "train")
    assert without_seconds(again) == without_seconds([first[1], first[0], first[1]])
    again[0].per_class[0] = 99.0  # callers get copies
    assert scorer.score([TEMPLATES[1]], "train")[0].per_class[0] != 99.0


def test_unreadable_cache_file_is_moved_aside(backbone: ClipBackbone, data_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "clip-features-v1.sqlite").write_bytes(b"this is not an SQLite database" * 100)
    scorer = scorer_for(backbone, data_dir, cache)
    assert scorer.score(TEMPLATES[:1], "train")[0].n_images == 8
    assert len(list(cache.glob("clip-features-v1.sqlite.corrupt-*"))) == 1


def test_store_rows_are_aligned_with_the_request(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path / "cache")
    a, b = np.eye(4, dtype=np.float32)[:2]
    store.put_texts("model", [("a", a, False), ("b", b, True)])
    store.put_texts("model", [("a", b, False)])  # first write wins
    rows = store.get_texts("model", ["b", "missing", "a"])
    assert rows.found.tolist() == [True, False, True] and rows.truncated.tolist() == [True, False, False]
    assert np.array_equal(rows.vectors, np.stack([b, np.zeros(4, np.float32), a]))
    assert not store.get_texts("other model", ["a"]).found.any()


def test_blockwise_classification_equals_one_block(
    backbone: ClipBackbone, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import promptclimb.evaluators.classify.scorer as scorer_module

    whole = scorer_for(backbone, data_dir, tmp_path / "cache").score(TEMPLATES, "test")
    monkeypatch.setattr(scorer_module, "CLASSIFY_ROWS", 3)
    blocks = scorer_for(backbone, data_dir, tmp_path / "cache").score(TEMPLATES, "test")
    assert without_seconds(blocks) == without_seconds(whole)
