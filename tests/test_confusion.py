"""Per-class accuracy, confused pairs and misread inputs from predictions only (classify/confusion.py)."""

from __future__ import annotations

import pytest

from promptclimb.evaluators.classify.confusion import confused_pairs, diagnose

NAMES = ["cat", "dog", "fox"]


def test_per_class_accuracy_and_pairs_count_every_prediction():
    labels = [0, 0, 0, 1, 1, 2, 2, 2]
    predicted = [0, 1, 1, 1, 0, 2, 1, 0]
    d = diagnose(labels, predicted, NAMES)
    assert (d["n"], d["correct"], d["acc"]) == (8, 3, 3 / 8)
    counts = [(c["class"], c["correct"], c["n"]) for c in d["per_class"]]
    assert counts == [("cat", 1, 3), ("dog", 1, 2), ("fox", 1, 3)]
    assert d["per_class"][1]["acc"] == 0.5
    # most frequent first, then class order: cat->dog twice, then (1,0), (2,0), (2,1) once each
    assert confused_pairs(labels, predicted) == [[0, 1, 2], [1, 0, 1], [2, 0, 1], [2, 1, 1]]
    assert d["confused"][0] == {"true": "cat", "predicted": "dog", "count": 2}
    assert d["misread"] == []  # no inputs given: nothing to show


def test_misread_inputs_come_one_per_most_confused_pair_first():
    labels = [0, 0, 0, 1, 2]
    predicted = [1, 1, 0, 0, 2]
    inputs = ["a", "b", "c", "d", "e"]
    d = diagnose(labels, predicted, NAMES, inputs, examples=3)
    assert [m["input"] for m in d["misread"]] == ["a", "d", "b"]  # pair (0,1) first, then (1,0), then repeats
    assert d["misread"][1] == {"input": "d", "true": "dog", "predicted": "cat"}
    assert diagnose(labels, predicted, NAMES, inputs, examples=1)["misread"][0]["input"] == "a"
    assert diagnose(labels, predicted, NAMES, inputs, pairs=1)["confused"] == [
        {"true": "cat", "predicted": "dog", "count": 2}
    ]


def test_a_class_without_inputs_has_no_accuracy_and_bad_lengths_are_refused():
    d = diagnose([0, 0], [0, 0], NAMES)
    assert d["per_class"][2] == {"class": "fox", "correct": 0, "n": 0, "acc": None}
    assert d["confused"] == [] and d["acc"] == 1.0
    assert diagnose([], [], NAMES)["acc"] is None
    with pytest.raises(ValueError, match="one entry per input"):
        diagnose([0, 1], [0], NAMES)
    with pytest.raises(ValueError, match="one entry per input"):
        diagnose([0, 1], [0, 1], NAMES, ["only one"])
