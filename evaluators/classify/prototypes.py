"""Class-specific classifiers from prompt features, and the scorer-side search over them (no LLM call).

A class is represented by the sum of the unit text features of its prompts (the shared templates filled with
its name, plus the texts written for it), normalised: the mean of normalised embeddings that CLIP's prompt
ensembles use. Everything here is pure numpy on features already encoded, so it costs microseconds per
candidate and is deterministic: the LLM is asked only for what this search cannot find.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from promptclimb.evaluators.classify.confusion import confused_pairs


@dataclass
class Selection:
    """The selection data: unit input features, their labels, and which rows are training inputs."""

    features: np.ndarray  # [n, d] float32
    labels: np.ndarray  # [n] int64
    train_rows: np.ndarray  # [n] int64: the row's index among the training inputs, -1 for val rows
    keys: list[str] | None = None  # texts only: each input's key (text_key), for leave-one-out


Members = dict[str, np.ndarray]  # a class's texts by key: the sum of their unit features


def with_members(members: Members, keys: list[str] | None, texts: np.ndarray, sign: float) -> Members:
    """A class's members after adding (sign 1) or removing (sign -1) texts with these keys."""
    if keys is None:
        return members
    changed = dict(members)
    for key, feature in zip(keys, texts, strict=True):
        changed[key] = changed.get(key, np.zeros_like(feature)) + sign * feature
    return changed


@dataclass(frozen=True)
class Fit:
    """How well a set of class vectors classifies the selection data; compared as (correct, margin)."""

    correct: int
    margin: float  # mean of (true-class cosine - best other cosine)

    def better_than(self, other: Fit) -> bool:
        """The stated tie rule: more inputs right, or as many and a larger mean margin."""
        return (self.correct, self.margin) > (other.correct, other.margin)

    def more_right_than(self, other: Fit) -> bool:
        """The stricter rule of a larger search (a text offered to many classes): more right, no tie."""
        return self.correct > other.correct


def unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)


def fit_of(similarity: np.ndarray, labels: np.ndarray) -> tuple[Fit, np.ndarray]:
    """Fit and predictions of argmax-cosine classification ([n, classes] similarities)."""
    if similarity.shape[0] == 0:
        return Fit(0, 0.0), np.zeros(0, np.int64)
    predicted = similarity.argmax(axis=1)
    rows = np.arange(len(labels))
    true = similarity[rows, labels]
    others = similarity.copy()
    others[rows, labels] = -np.inf
    margin = float(np.mean(true - others.max(axis=1), dtype=np.float64)) if similarity.shape[1] > 1 else 0.0
    return Fit(int((predicted == labels).sum()), margin), predicted


def significant_gain(before: np.ndarray, after: np.ndarray, z: float) -> bool:
    """McNemar's rule on paired right/wrong vectors: the inputs that turned right outnumber those that
    turned wrong by ``z`` standard deviations (a small selection set's luck is not a gain)."""
    gained = int((after & ~before).sum())
    lost = int((before & ~after).sum())
    return gained - lost > 0 and gained - lost >= z * np.sqrt(gained + lost)


def greedy_ensemble(
    class_features: list[np.ndarray], data: Selection, max_size: int, anchor: int = 0, z: float = 3.0
) -> tuple[list[int], Fit]:
    """Forward selection of a template ensemble, from ``anchor`` (what a user would type): at each step the
    template whose addition raises the fit most, kept only when its gain is significant (McNemar, ``z``),
    up to ``max_size``. Ties keep the earlier template."""
    best = [anchor]
    total = class_features[anchor].copy()
    current, predicted = fit_of(data.features @ unit(total).T, data.labels)
    right = predicted == data.labels
    while len(best) < max_size:
        choice, choice_fit, choice_right = None, current, right
        for index, features in enumerate(class_features):
            if index in best:
                continue
            trial_fit, trial_predicted = fit_of(data.features @ unit(total + features).T, data.labels)
            if trial_fit.better_than(choice_fit):
                choice, choice_fit, choice_right = index, trial_fit, trial_predicted == data.labels
        if choice is None or not significant_gain(right, choice_right, z):
            break
        best.append(choice)
        total = total + class_features[choice]
        current, right = choice_fit, choice_right
    return best, current


class ClassSearch:
    """Hill-climbs class vectors one class at a time on the selection data (leave-one-out for texts)."""

    def __init__(self, data: Selection, sums: np.ndarray, members: dict[int, Members] | None = None) -> None:
        self.data = data
        self.sums = sums.astype(np.float32).copy()  # [classes, d]: unnormalised sums of unit prompt features
        self.members = {cls: dict(found) for cls, found in (members or {}).items()}
        self._own: dict[int, list[tuple[int, str]]] = {}  # per class: (row, key) of its selection inputs
        for row, (label, key) in enumerate(zip(data.labels.tolist(), data.keys or [], strict=False)):
            self._own.setdefault(label, []).append((row, key))
        self.similarity = data.features @ unit(self.sums).T
        for cls in self.members:
            self.similarity[:, cls] = self._column(cls, self.sums[cls], self.members[cls])
        self.fit, self.predicted = fit_of(self.similarity, data.labels)

    def _column(self, cls: int, column_sum: np.ndarray, members: Members) -> np.ndarray:
        """Every input's cosine with the class vector; an input of the class whose own text is one of the
        class's texts is compared with the vector without it."""
        column = self.data.features @ unit(column_sum)
        for row, key in self._own.get(cls, []):
            own = members.get(key)
            if own is not None:
                column[row] = self.data.features[row] @ unit(column_sum - own)
        return column

    def _trial(self, cls: int, column_sum: np.ndarray, members: Members) -> tuple[Fit, np.ndarray]:
        column = self._column(cls, column_sum, members)
        saved = self.similarity[:, cls].copy()
        self.similarity[:, cls] = column
        trial_fit, _ = fit_of(self.similarity, self.data.labels)
        self.similarity[:, cls] = saved
        return trial_fit, column

    def _apply(self, cls: int, column_sum: np.ndarray, column: np.ndarray, members: Members) -> None:
        self.sums[cls] = column_sum
        self.members[cls] = members
        self.similarity[:, cls] = column
        self.fit, self.predicted = fit_of(self.similarity, self.data.labels)

    def offer(
        self,
        cls: int,
        texts: np.ndarray,
        keys: list[str] | None = None,
        accept: Callable[[Fit, Fit], bool] = Fit.better_than,
    ) -> list[int]:
        """Add the subset of ``texts`` ([k, d] unit features; ``keys``: their text keys, for leave-one-out)
        that fits best: all of them or one alone, kept only when it beats the current classifier (tie rule of
        Fit; ``accept(trial, current)`` is a stricter or looser rule, for bench/replay_classes.py). Returns
        the indices kept."""
        options = [list(range(len(texts)))] + ([[i] for i in range(len(texts))] if len(texts) > 1 else [])
        best, best_fit = None, self.fit
        for option in options:
            column_sum = self.sums[cls] + texts[option].sum(axis=0)
            picked = [keys[i] for i in option] if keys is not None else None
            members = with_members(self.members.get(cls, {}), picked, texts[option], 1.0)
            trial_fit, column = self._trial(cls, column_sum, members)
            if accept(trial_fit, self.fit) and (best is None or trial_fit.better_than(best_fit)):
                best, best_fit = (option, column_sum, column, members), trial_fit
        if best is None:
            return []
        self._apply(cls, *best[1:])
        return best[0]

    def prune(self, cls: int, kept: np.ndarray, keys: list[str] | None = None) -> list[int]:
        """Drop kept texts of a class one at a time while that strictly raises the number right (a local
        operator: no LLM call). Returns the indices (into ``kept``) dropped."""
        dropped: list[int] = []
        improved = True
        while improved:
            improved = False
            for i in range(len(kept)):
                if i in dropped:
                    continue
                column_sum = self.sums[cls] - kept[i]
                gone = [keys[i]] if keys is not None else None
                members = with_members(self.members.get(cls, {}), gone, kept[i : i + 1], -1.0)
                trial_fit, column = self._trial(cls, column_sum, members)
                if trial_fit.correct > self.fit.correct:
                    self._apply(cls, column_sum, column, members)
                    dropped.append(i)
                    improved = True
                    break
        return dropped

    def per_class(self, n_classes: int) -> list[list[int]]:
        labels = self.data.labels
        totals = np.bincount(labels, minlength=n_classes)
        hits = np.bincount(labels[self.predicted == labels], minlength=n_classes)
        return [[int(h), int(t)] for h, t in zip(hits, totals, strict=True)]

    def confusions(self) -> list[list[int]]:
        """[true, predicted, count] of the errors, most frequent first (then by class order)."""
        return confused_pairs(self.data.labels.tolist(), self.predicted.tolist())

    def misclassified(self) -> list[list[int]]:
        """[training input index, predicted class] of the misclassified training inputs (never val)."""
        rows = self.data.train_rows
        wrong = (self.predicted != self.data.labels) & (rows >= 0)
        return [[int(r), int(p)] for r, p in zip(rows[wrong], self.predicted[wrong], strict=True)]
