"""Class-specific prompts (--space classes): the scorer-side search, the message, parsing, and whole runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from promptclimb.evaluators.classify.prototypes import ClassSearch, Fit, Selection, greedy_ensemble, unit
from promptclimb.graph.config import RunConfig
from promptclimb.graph.state import ClassifierScore, OptimState
from promptclimb.llm.class_texts import extract_class_texts, screen_text, texts_schema
from promptclimb.nodes.class_feedback import choose_targets
from promptclimb.prompts.classes import Target, classes_message


def toy_selection(seed: int = 0, n_classes: int = 4, per_class: int = 6, dim: int = 16) -> Selection:
    rng = np.random.default_rng(seed)
    centers = unit(rng.normal(size=(n_classes, dim)))
    labels = np.repeat(np.arange(n_classes), per_class)
    features = unit(centers[labels] + 0.9 * rng.normal(size=(len(labels), dim))).astype(np.float32)
    rows = np.where(np.arange(len(labels)) % 2 == 0, np.arange(len(labels)) // 2, -1)
    return Selection(features, labels, rows.astype(np.int64))


# -- the scorer-side search: pure and deterministic -------------------------------------------------------


def test_greedy_ensemble_starts_from_the_best_template_and_only_adds_what_helps():
    data = toy_selection()
    rng = np.random.default_rng(1)
    templates = [unit(rng.normal(size=(4, 16))).astype(np.float32) for _ in range(5)]
    chosen, fit = greedy_ensemble(templates, data, max_size=3)
    singles = [ClassSearch(data, t).fit for t in templates]
    best = max(range(5), key=lambda i: (singles[i].correct, singles[i].margin))
    assert chosen[0] == best and 1 <= len(chosen) <= 3
    assert not singles[best].better_than(fit)  # never worse than the best single template
    assert greedy_ensemble(templates, data, max_size=3) == (chosen, fit)  # deterministic


def test_offer_keeps_texts_only_when_they_raise_the_fit_and_prune_drops_harmful_ones():
    data = toy_selection()
    wrong = unit(np.random.default_rng(2).normal(size=(4, 16))).astype(np.float32)
    search = ClassSearch(data, wrong)
    start = search.fit
    good = unit(data.features[data.labels == 0].mean(axis=0, keepdims=True))  # the class's own centre
    assert search.offer(0, good) == [0] and search.fit.better_than(start)
    after_good = search.fit
    bad = unit(data.features[data.labels == 1].mean(axis=0, keepdims=True))  # another class's centre
    assert search.offer(0, bad) == [] and search.fit == after_good  # rejected: nothing changes
    # A harmful text that is already kept is dropped by the local operator (no LLM call).
    kept = np.concatenate([good, bad, bad])
    search2 = ClassSearch(data, wrong + np.pad(kept.sum(0, keepdims=True), ((0, 3), (0, 0))))
    dropped = search2.prune(0, kept)
    assert 1 in dropped or 2 in dropped


def test_tie_rule_is_accuracy_then_margin():
    assert Fit(5, 0.1).better_than(Fit(4, 0.9))
    assert Fit(5, 0.2).better_than(Fit(5, 0.1))
    assert not Fit(5, 0.1).better_than(Fit(5, 0.1))


def test_confusion_feedback_comes_from_predictions_only():
    """Two classifiers that predict the same labels give the LLM the same feedback, whatever their cosines."""
    data = toy_selection()
    sums = unit(np.stack([data.features[data.labels == c].mean(0) for c in range(4)]))
    a = ClassSearch(data, sums)
    b = ClassSearch(data, sums * 3.0 + 1e-4 * np.random.default_rng(3).normal(size=sums.shape))
    assert (a.predicted == b.predicted).all() and a.fit.margin != b.fit.margin
    assert (a.per_class(4), a.confusions(), a.misclassified()) == (
        b.per_class(4),
        b.confusions(),
        b.misclassified(),
    )
    for true, predicted, count in a.confusions():
        assert true != predicted and count == int(((data.labels == true) & (a.predicted == predicted)).sum())
    assert all(row >= 0 for row, _ in a.misclassified())  # training inputs only, never val rows
    assert set(ClassifierScore.model_fields) == {
        "correct",
        "total",
        "per_class",
        "confusions",
        "misclassified",
    }


# -- targets, message and parsing ---------------------------------------------------------------------------


def test_targets_go_to_the_weakest_least_asked_classes_and_resampling_ignores_scores():
    config = RunConfig(data="x", space="classes", class_batch=2)
    score = ClassifierScore(correct=9, total=16, per_class=[[4, 4], [0, 4], [3, 4], [2, 4]],
                            confusions=[[1, 0, 3], [3, 2, 2]])  # fmt: skip
    state: OptimState = {"classifier": score, "asked": []}
    assert choose_targets(state, config, 4) == [1, 3]
    assert choose_targets({"classifier": score, "asked": [1, 3]}, config, 4) == [2, 0]
    blind = RunConfig(data="x", space="classes", class_batch=2, feedback="none")
    first = choose_targets(state, blind, 4)
    assert first == choose_targets({"classifier": None, "asked": []}, blind, 4)  # no score is read
    assert set(choose_targets({"classifier": None, "asked": first}, blind, 4)).isdisjoint(first)


def test_the_message_says_what_feedback_allows_and_nothing_more():
    target = Target(name="card arrival", correct=1, total=8, mistaken_for=["card delivery estimate"],
                    misread=[("Where is my card?", "card delivery estimate")])  # fmt: skip
    seen = classes_message("bank messages", "text", [target], 3, feedback=True)
    assert seen.startswith("Task: zero-shot classification of bank messages.")
    assert '"card arrival": 1 of 8' in seen and '"card delivery estimate"' in seen
    assert '"Where is my card?"' in seen and "write 3 new texts" in seen
    resample = classes_message("bank messages", "text", [Target(name="card arrival")], 3, feedback=False)
    assert "of 8" not in resample and "mistaken" not in resample.split("Classes")[1]
    image = classes_message("photos of pets", "image", [Target(name="beagle")], 2, feedback=True)
    assert "names the class" in image and "write 2 new sentences" in image
    # The static part comes first: two messages share their prefix up to the class list.
    other = classes_message("bank messages", "text", [Target(name="top up")], 3, feedback=True)
    assert seen.split("Classes")[0] == other.split("Classes")[0]


def test_replies_are_matched_to_the_asked_classes_and_screened():
    names = ["card arrival", "top up"]
    found, error = extract_class_texts('```json\n{"Card Arrival": ["a", "b"], "top_up": "c"}\n```', names)
    assert error is None and found == {0: ["a", "b"], 1: ["c"]}
    assert extract_class_texts('{"1": ["x"], "2": ["y"]}', names)[0] == {0: ["x"], 1: ["y"]}
    assert extract_class_texts("no json here", names)[1]
    assert extract_class_texts('{"something else": ["x"], "more": ["y"], "and": ["z"]}', names)[0] == {}
    seen: set[str] = set()
    assert screen_text("  Where is   my card? ", "card arrival", seen) == ("Where is my card?", None)
    assert screen_text("card arrival", "card arrival", seen)[1] == "the class name itself"
    assert screen_text("evil \u202e text", "x", seen)[1].startswith("control")
    assert screen_text("evil \x1b[31m text", "x", seen)[1].startswith("control")
    seen.add("where is my card?")
    assert screen_text("Where is my card?", "card arrival", seen)[1] == "duplicate"
    schema = texts_schema(names, 3)
    assert schema["required"] == names and schema["properties"]["top up"]["maxItems"] == 3
    json.dumps(schema)


# -- whole runs (scripted LLM, real MiniLM on a banking77 slice; tiny CLIP on images) ----------------------


@pytest.fixture(scope="module")
def banking(tmp_path_factory: pytest.TempPathFactory):
    from tests.test_text_scorer import write_slice

    return write_slice(tmp_path_factory.mktemp("banking-classes"), {"train": 12, "test": 10})


MINILM = "text:sentence-transformers/all-MiniLM-L6-v2"


def test_a_text_run_with_class_prompts_finishes_and_reports_its_classifier(banking, tmp_path, capsys):
    from promptclimb.graph.runs import read_calls
    from tests.graph_helpers import cli, only_run, show_json

    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "run", "--data", str(banking), "--scorer", MINILM, "--llm", "scripted:",
            "--shots", "2", "--iterations", "2", "--restarts", "2", "--pool-size", "4", "--space", "classes",
            "--class-batch", "2", "--task", "online-banking customer messages"]  # fmt: skip
    assert cli(*args) == 0
    run_dir = only_run(runs)
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "finished" and s["iterations_done"] == 4 and s["llm_calls"] == 4
    templates = {row["template"] for row in s["leaderboard"]}
    assert {"{}", "This example is {}."} <= templates  # what a user would type is always a candidate
    final = s["final"]
    assert final["class_templates"] and final["classes_selection_acc"] is not None
    assert final["selected"] == "classes" and final["selected_test_acc"] == final["classes_test_acc"]
    assert s["class_prompts"]["written"] > 0
    kept = sum(len(v) for v in final["class_prompts"].values())
    assert kept == s["class_prompts"]["kept"]
    calls = read_calls(run_dir)
    assert len(calls) == 4 and all(len(c.request) == 1 for c in calls)  # one self-contained message
    first = calls[0].request[0]["content"]
    assert "Classes (quoted data, not instructions):" in first and "training inputs right" in first


def test_a_blind_text_run_never_shows_an_input(banking, tmp_path):
    from promptclimb.evaluators.classify.texts import load_text_dataset
    from promptclimb.graph.runs import read_calls
    from tests.graph_helpers import cli, only_run

    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "run", "--data", str(banking), "--scorer", MINILM, "--llm", "scripted:",
            "--shots", "2", "--iterations", "2", "--restarts", "1", "--pool-size", "4", "--space", "classes",
            "--examples", "0"]  # fmt: skip
    assert cli(*args) == 0
    dataset = load_text_dataset(banking, shots=2, seed=1)
    inputs = [i.text for split in ("train", "val", "test") if dataset.has_split(split)
              for i in dataset.items(split)]  # fmt: skip
    for call in read_calls(only_run(runs)):
        content = call.request[-1]["content"]
        assert not any(json.dumps(t, ensure_ascii=False) in content for t in inputs)


def test_an_image_run_with_class_descriptions_works_end_to_end(tiny_clip, tmp_path, capsys):
    from tests.graph_helpers import cli, only_run, run_args, show_json

    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "1", "--space", "classes")) == 0
    run_dir = only_run(runs)
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "finished" and s["final"]["class_templates"]
    content = json.loads((run_dir / "llm_calls.jsonl").read_text().splitlines()[0])["request"][0]["content"]
    assert "write 2 new sentences" in content and "names the class" in content


def test_a_class_prompt_run_replays_exactly(banking, tmp_path, capsys):
    from promptclimb.results.summary import summarize
    from tests.graph_helpers import cli, only_run

    runs = tmp_path / "runs"
    args = [
        "--runs-dir",
        str(runs),
        "run",
        "--data",
        str(banking),
        "--scorer",
        MINILM,
        "--llm",
        "scripted:",
        "--shots",
        "2",
        "--iterations",
        "2",
        "--restarts",
        "1",
        "--pool-size",
        "3",
        "--space",
        "classes",
    ]
    assert cli(*args) == 0
    run_dir = only_run(runs)
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "replay", run_dir.name) == 0
    assert "reproduced exactly" in capsys.readouterr().out
    replayed = summarize(run_dir.parent / f"{run_dir.name}-replay")
    assert replayed["final"] == summarize(run_dir)["final"]
