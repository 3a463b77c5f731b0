"""Class-specific prompts (--space classes), the pure parts: the scorer-side search, targets, the message,
parsing and the template operators (the unit tier: no model, no run)."""

from __future__ import annotations

import json
import re

import numpy as np

from promptclimb.evaluators.classify.prototypes import (
    ClassSearch,
    Fit,
    Selection,
    greedy_ensemble,
    significant_gain,
    unit,
)
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


def test_greedy_ensemble_starts_from_the_anchor_and_adds_only_significant_gains():
    data = toy_selection(per_class=30)
    rng = np.random.default_rng(1)
    noise = [unit(rng.normal(size=(4, 16))).astype(np.float32) for _ in range(5)]
    centres = unit(np.stack([data.features[data.labels == c].mean(0) for c in range(4)])).astype(np.float32)
    chosen, fit = greedy_ensemble([noise[0], *noise[1:], centres], data, max_size=3, anchor=0)
    assert chosen[0] == 0 and 5 in chosen  # the class centres are a significant gain over noise
    assert ClassSearch(data, noise[0] + centres).fit.correct >= ClassSearch(data, noise[0]).fit.correct
    assert greedy_ensemble([noise[0], *noise[1:], centres], data, max_size=3, anchor=0) == (chosen, fit)
    alone, _ = greedy_ensemble([centres, *noise], data, max_size=3, anchor=0)
    assert alone == [0]  # random templates never pass McNemar's rule against a good anchor


def test_significant_gain_is_mcnemar():
    before = np.array([True] * 50 + [False] * 50)
    assert not significant_gain(before, before, 3.0)
    small = before.copy()
    small[50:53] = True  # 3 turned right, none wrong: 3 < 3 * sqrt(3)
    assert not significant_gain(before, small, 3.0)
    large = before.copy()
    large[50:70] = True  # 20 turned right: 20 >= 3 * sqrt(20)
    assert significant_gain(before, large, 3.0)


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


def test_a_stricter_keep_rule_refuses_an_offer_the_tie_rule_takes():
    data = toy_selection()
    wrong = unit(np.random.default_rng(2).normal(size=(4, 16))).astype(np.float32)
    good = unit(data.features[data.labels == 0].mean(axis=0, keepdims=True))
    search = ClassSearch(data, wrong)
    start, total = search.fit, len(data.labels)
    assert search.offer(0, good, accept=lambda trial, now: trial.correct > now.correct + total) == []
    assert search.fit == start  # refused: nothing changes
    assert search.offer(0, good, accept=lambda trial, now: trial.correct > now.correct) == [0]


def test_an_input_never_votes_for_itself_where_inputs_are_texts():
    data = toy_selection(per_class=6)
    keys = [f"input {i}" for i in range(len(data.labels))]
    texts = Selection(data.features, data.labels, data.train_rows, keys)
    far = np.zeros((4, 16), np.float32)
    far[:, 0] = 1.0  # every class vector the same: nothing is right by its class vector alone
    row = 5  # an input of class 0, offered as a class-0 text, the only one
    members = {0: {keys[row]: data.features[row].copy()}}
    sums = far.copy()
    sums[0] += data.features[row]
    plain, loo = ClassSearch(data, sums, members), ClassSearch(texts, sums, members)
    own = data.features[row] @ unit(sums[0])
    assert plain.similarity[row, 0] == np.float32(own)  # images: no key, nothing left out
    assert loo.similarity[row, 0] == np.float32(data.features[row] @ unit(far[0]))  # itself left out
    others = [r for r in range(len(keys)) if r != row]
    assert np.array_equal(loo.similarity[others], plain.similarity[others])  # only its own cosine changes
    # Offered to its own class, an input leaves its own cosine as it was: it earns nothing by matching
    # itself, only what it does for the other inputs (which is why some copies are still kept).
    rng = np.random.default_rng(3)
    templates = unit(rng.normal(size=(4, 16))).astype(np.float32)
    accepted = 0
    for r in range(len(keys)):
        search = ClassSearch(texts, templates.copy())
        label = int(data.labels[r])
        before = search.similarity[r, label]
        accepted += len(search.offer(label, data.features[r : r + 1], [keys[r]]))
        assert np.isclose(search.similarity[r, label], before, atol=1e-6)
    assert accepted > 0


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
    config = RunConfig(data="x", space="classes")
    score = ClassifierScore(correct=9, total=16, per_class=[[4, 4], [0, 4], [3, 4], [2, 4]],
                            confusions=[[1, 0, 3], [3, 2, 2]])  # fmt: skip
    state: OptimState = {"classifier": score, "asked": []}
    assert choose_targets(state, config, 4, 2) == [1, 3]
    assert choose_targets({"classifier": score, "asked": [1, 3]}, config, 4, 2) == [2, 0]
    blind = RunConfig(data="x", space="classes", feedback="none")
    first = choose_targets(state, blind, 4, 2)
    assert first == choose_targets({"classifier": None, "asked": []}, blind, 4, 2)  # no score is read
    assert set(choose_targets({"classifier": None, "asked": first}, blind, 4, 2)).isdisjoint(first)


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
    copied = "2 of 8 training inputs right; mistaken for 'transfer timing', 'failed transfer'"
    assert screen_text(copied, "x", seen)[1] == "copies the message's feedback"  # seen in a blind bench run
    seen.add("where is my card?")
    assert screen_text("Where is my card?", "card arrival", seen)[1] == "duplicate"
    schema = texts_schema(names, 3)
    assert schema["required"] == names and schema["properties"]["top up"]["maxItems"] == 3
    json.dumps(schema)


def test_the_asked_length_bounds_the_message_and_the_grammar():
    """--class-words: the ask says it, and the grammar caps a text at 8 characters a word."""
    target = [Target(name="card arrival")]
    assert "fewer than 20 words" in classes_message("bank messages", "text", target, 2, feedback=True)
    assert "fewer than 12 words" in classes_message("bank messages", "text", target, 2, True, words=12)
    pattern = texts_schema(["card arrival"], 2, words=12)["properties"]["card arrival"]["items"]["pattern"]
    assert re.fullmatch(pattern, "x" * 96) and not re.fullmatch(pattern, "x" * 97)
    assert texts_schema(["a"], 2)["properties"]["a"]["items"]["pattern"].endswith("{3,160}$")


def test_template_operators_are_deterministic_valid_and_new():
    from promptclimb.prompts.operators import crossover, edits, local_variants
    from promptclimb.prompts.template import validate

    assert crossover("a photo of a {}.", "I love my {} so much") == "a photo of a {} so much"
    assert "photo of a {}, a type of pet." in edits("a photo of a {}, a type of pet.")
    assert "a photo of a {}." in edits("a photo of a {}, a type of pet.")
    parents = ["a photo of a {}.", "{}", "This example is {}.", "a message about {} from a customer."]
    variants = local_variants(parents, seed=1, limit=10)
    assert variants == local_variants(parents, seed=1, limit=10) != local_variants(parents, seed=2, limit=10)
    assert len(variants) == 10 and all(validate(v) == v for v in variants)
    assert not {v.lower() for v in variants} & {p.lower() for p in parents}


def test_the_adoption_rule_refuses_a_tie_that_the_tie_rule_accepts():
    tie, before = Fit(5, 0.2), Fit(5, 0.1)
    assert tie.better_than(before) and not tie.more_right_than(before)
    assert Fit(6, 0.0).more_right_than(before)


def test_a_config_saved_before_adopt_existed_resumes_without_adopting():
    saved = RunConfig(data="d").model_dump()
    assert saved.pop("adopt") == 32
    assert RunConfig.from_saved(saved).adopt == 0 and RunConfig.from_saved({**saved, "adopt": 8}).adopt == 8
