"""Zero-shot CLIP scoring of prompt templates on a few-shot dataset (implements evaluators/base.py's Scorer).

Accuracy is the argmax of cosine similarity between an image and the class prompts of a template;
margin is the mean of (correct-class cosine - best wrong-class cosine). Image features are encoded once per
model and image file, text features once per model and prompt string (evaluators/cache.py), so re-scoring a
template, resuming a run or changing the seed costs no encoder call for anything already seen.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from promptclimb.evaluators.base import DualEncoder, Split, TemplateScore
from promptclimb.evaluators.cache import FeatureStore, TextRows
from promptclimb.evaluators.classify.class_prompts import class_text
from promptclimb.evaluators.classify.clip import load_clip
from promptclimb.evaluators.classify.cpu_kernels import cosine_matrix
from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.evaluators.classify.dataset import FewShotDataset
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.prototypes import (
    ClassSearch,
    Fit,
    Members,
    Selection,
    greedy_ensemble,
    unit,
    with_members,
)
from promptclimb.llm.class_texts import key_of
from promptclimb.prompts.template import apply_template, validate

logger = logging.getLogger(__name__)

ENSEMBLE_LABEL = "ensemble of {n} templates"
CLASSIFY_ROWS = 8192  # images per similarity block
RAW_TEXTS = "\x00raw texts"  # the group key of class-specific texts (never a template: it holds \x00)
# Where class texts may be the inputs themselves (selection data), each input is scored leave-one-out.
LEAVE_ONE_OUT_SPLITS = ("train", "val")


def default_cache_dir() -> Path:
    """$PROMPTCLIMB_CACHE, else ~/.cache/promptclimb."""
    configured = os.environ.get("PROMPTCLIMB_CACHE", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "promptclimb"


@dataclass
class _SplitImages:
    features: np.ndarray  # [n, d] float32, L2-normalised, as stored in the cache
    labels: np.ndarray  # [n] int64


@dataclass
class Predictions:
    """One split under one classifier: each usable input's label and predicted label (and name, if asked)."""

    labels: list[int]
    predicted: list[int]
    inputs: list[str] | None = None  # a text, or an image's file name, per row


def input_key(text: str) -> str:
    """An input's leave-one-out key: that of the class text it becomes (cut, whitespace collapsed)."""
    return key_of(class_text(text) or text)


def input_name(item: object) -> str:
    """How an input is shown to a person: a text as it is, an image by its file name."""
    text = getattr(item, "text", None)
    return text if isinstance(text, str) else Path(str(getattr(item, "path", item))).name


@dataclass
class _ClassText:
    matrix: np.ndarray  # [classes, d] float32, one row per class prompt
    truncated: bool
    seconds: float  # this template's share of the encoding time


def serialized(method: Callable) -> Callable:
    """One call at a time per scorer: concurrent restarts share it, and its memo, feature cache connection
    and model are not made for concurrent use (scoring is compute bound: nothing is lost by waiting)."""

    @functools.wraps(method)
    def locked(self: ClipScorer, *args: object, **kwargs: object) -> object:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class ClipScorer:
    """Scores templates with one CLIP backbone on one dataset; features cached in cache_dir."""

    def __init__(self, backbone: DualEncoder, dataset: FewShotDataset, cache_dir: str | Path) -> None:
        self.backbone = backbone
        self.dataset = dataset
        self.classnames: list[str] = list(dataset.classnames)
        self.skipped_images: dict[str, int] = {}
        self.stats: dict[str, int] = {
            "images_encoded": 0,
            "image_cache_hits": 0,
            "texts_encoded": 0,
            "text_cache_hits": 0,
        }
        self.image_seconds: dict[str, float] = {}  # per split: time to gather its image features
        self.store = FeatureStore(cache_dir)
        self._splits: dict[str, _SplitImages] = {}
        # A score is a pure function of (template, split) for one scorer: repeats are answered from here.
        self._scores: dict[tuple[str, str], TemplateScore] = {}
        self._lock = threading.RLock()
        self._usable: dict[str, list[int]] = {}  # per split: the dataset items behind its feature rows

    def has_split(self, split: Split) -> bool:
        return self.dataset.has_split(split)

    def close(self) -> None:
        """Close the feature cache (also done when the process ends)."""
        self.store.close()

    @serialized
    def prepare(self, split: Split) -> int:
        """Encode (or read from the cache) the split's image features now; returns how many are usable."""
        return len(self._images(split).labels)

    @serialized
    def score(self, templates: Sequence[str], split: Split) -> list[TemplateScore]:
        start = time.perf_counter()
        images = self._images(split)
        new = [t for t in dict.fromkeys(templates) if (split, t) not in self._scores]
        texts = self._class_texts(new) if new else {}
        for template in new:
            begin = time.perf_counter()
            text = texts[template]
            result = _classify(images, text.matrix, template, split, text.truncated)
            result.seconds = text.seconds + time.perf_counter() - begin
            self._scores[(split, template)] = result
        repeat_seconds = (time.perf_counter() - start) / len(templates) if templates else 0.0
        return [self._copy(self._scores[(split, t)], None if t in new else repeat_seconds) for t in templates]

    @staticmethod
    def _copy(score: TemplateScore, seconds: float | None) -> TemplateScore:
        """A copy callers may change (per_class is the only mutable field)."""
        update: dict = {"per_class": list(score.per_class)}
        if seconds is not None:
            update["seconds"] = seconds
        return score.model_copy(update=update)

    @serialized
    def score_ensemble(self, templates: Sequence[str], split: Split) -> TemplateScore:
        """Per class, the mean of the templates' normalised text features, renormalised."""
        if not templates:
            raise ValueError("an ensemble needs at least one template")
        start = time.perf_counter()
        images = self._images(split)
        mean, truncated = self._ensemble_matrix(templates)
        label = ENSEMBLE_LABEL.format(n=len(templates))
        result = _classify(images, mean, label, split, truncated)
        result.seconds = time.perf_counter() - start
        return result

    def _ensemble_matrix(self, templates: Sequence[str]) -> tuple[np.ndarray, bool]:
        """Per class, the mean of the templates' normalised text features, renormalised; and whether any
        class prompt was cut."""
        texts = self._class_texts(list(templates))
        mean = np.mean([texts[t].matrix for t in dict.fromkeys(templates)], axis=0)
        mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
        return mean.astype(np.float32), any(texts[t].truncated for t in templates)

    @serialized
    def predictions(
        self,
        templates: Sequence[str],
        split: Split,
        prompts: dict[int, list[str]] | None = None,
        *,
        named: bool = False,
    ) -> Predictions:
        """What a classifier predicts for each input of a split: one template (as ``score``), the ensemble of
        several (as ``score_ensemble``), or class-specific prompts (as ``score_classes``). ``named``: with
        each input's name (a text, or an image file name)."""
        images = self._images(split)
        if prompts is not None and self._leave_one_out(split):
            search = self._search(templates, prompts, [split])
            items = self.dataset.items(split)
            inputs = [input_name(items[i]) for i in self._usable[split]] if named else None
            return Predictions(images.labels.tolist(), search.predicted.tolist(), inputs)
        if prompts is not None:
            classes = self._class_vectors(templates, prompts)
        elif len(dict.fromkeys(templates)) == 1:
            classes = self._class_texts([templates[0]])[templates[0]].matrix
        else:
            classes, _ = self._ensemble_matrix(templates)
        predicted = np.zeros(len(images.labels), dtype=np.int64)
        for start in range(0, len(images.labels), CLASSIFY_ROWS):  # bounded memory, as _classify
            part = slice(start, start + CLASSIFY_ROWS)
            predicted[part] = cosine_matrix(images.features[part], classes).argmax(axis=1)
        items = self.dataset.items(split)
        inputs = [input_name(items[i]) for i in self._usable[split]] if named else None
        return Predictions(images.labels.tolist(), predicted.tolist(), inputs)

    # ------------------------------------------------------------------------ class-specific prompts

    @serialized
    def select_templates(
        self, templates: Sequence[str], on: Sequence[Split], max_size: int, anchor: str | None = None
    ) -> list[str]:
        """A template ensemble by greedy forward selection on the selection splits, from ``anchor`` (default:
        the first template), adding only significant gains (no LLM call)."""
        unique = list(dict.fromkeys([*([anchor] if anchor else []), *templates]))
        if not unique:
            return []
        texts = self._class_texts(unique)
        chosen, _ = greedy_ensemble([texts[t].matrix for t in unique], self._selection(on), max_size)
        return [unique[i] for i in chosen]

    @serialized
    def climb_classes(
        self,
        shared: Sequence[str],
        kept: dict[int, list[str]],
        new: dict[int, list[str]],
        on: Sequence[Split],
    ) -> ClassReport:
        """Offer each class its new texts (kept where they beat the classifier, class by class, in class
        order), then drop kept texts whose removal raises the number right. Deterministic."""
        search = self._search(shared, kept, on)
        report = ClassReport()
        for cls in sorted(new):
            if new[cls]:
                taken = search.offer(cls, self._texts(new[cls]), self._keys(new[cls]))
                report.accepted[cls] = [new[cls][i] for i in taken]
        for cls in sorted(kept):
            current = [*kept[cls], *report.accepted.get(cls, [])]
            if len(current) > 1:
                gone = search.prune(cls, self._texts(current), self._keys(current))
                report.dropped[cls] = [current[i] for i in gone]
        return self._report(search, report)

    def _report(self, search: ClassSearch, report: ClassReport) -> ClassReport:
        """The classifier a class search ends with, on the selection data: labels and predictions only."""
        report.after = search.fit
        report.total = len(search.data.labels)
        report.per_class = search.per_class(len(self.classnames))
        report.confusions = search.confusions()
        report.misclassified = search.misclassified()
        return report

    @serialized
    def adopt_texts(
        self,
        shared: Sequence[str],
        kept: dict[int, list[str]],
        written: Sequence[tuple[int, str]],
        on: Sequence[Split],
        nearest: int,
    ) -> ClassReport:
        """Offer each written (class, text), in order, to the ``nearest`` other classes whose shared-template
        vectors are nearest to the text, nearest first; kept where it makes more selection inputs right (no
        tie on the margin: with this many offers a tie's margin is luck on small data). No LLM call,
        deterministic."""
        search = self._search(shared, kept, on)
        names = unit(self._class_sums(shared, {}))
        has = {cls: set(texts) for cls, texts in kept.items()}
        report = ClassReport()
        for index, (own, text) in enumerate(written):
            feature, keys = self._texts([text]), self._keys([text])
            order = np.argsort(-(feature @ names.T)[0], kind="stable")
            for cls in [int(c) for c in order if c != own][:nearest]:
                if text in has.setdefault(cls, set()):
                    continue
                if search.offer(cls, feature, keys, Fit.more_right_than):
                    has[cls].add(text)
                    report.accepted.setdefault(cls, []).append(text)
                    report.adopted.append((index, cls))
        return self._report(search, report)

    @serialized
    def score_classes(
        self, shared: Sequence[str], prompts: dict[int, list[str]], split: Split
    ) -> TemplateScore:
        """Zero-shot accuracy of a class-specific classifier (shared templates + per-class texts)."""
        start = time.perf_counter()
        n = sum(len(texts) for texts in prompts.values())
        label = f"{len(shared)} template(s) + {n} class-specific prompt(s)"
        if self._leave_one_out(split):
            search = self._search(shared, prompts, [split])
            result = _classify(self._images(split), search.sums, label, split, False, search.similarity)
        else:
            result = _classify(self._images(split), self._class_vectors(shared, prompts), label, split, False)
        result.seconds = time.perf_counter() - start
        return result

    @serialized
    def class_embeddings(self, shared: Sequence[str], prompts: dict[int, list[str]]) -> np.ndarray:
        """[classes, dim]: the unit class vectors of a class-specific classifier (an exported head)."""
        return self._class_vectors(shared, prompts)

    # ------------------------------------------------------- read-only views (exports, bench replays)

    @serialized
    def split_features(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        """A split's unit input features and their labels, exactly as the scorer classifies them."""
        images = self._images(split)
        return images.features, images.labels

    @serialized
    def ensemble_text_features(self, templates: Sequence[str]) -> np.ndarray:
        """[classes, dim]: a template ensemble's class vectors, those ``score_ensemble`` classifies with
        (cached features, the same float32 arithmetic): an exported head classifies exactly as the run did."""
        return self._ensemble_matrix(templates)[0]

    @serialized
    def text_features(self, texts: Sequence[str]) -> np.ndarray:
        """[n, dim]: unit features of class texts (not templates), through the feature cache."""
        return self._texts(texts)

    def text_keys(self, texts: Sequence[str]) -> list[str] | None:
        """The keys that match a class text with the selection input it copies (texts only, else None)."""
        return self._keys(texts)

    @serialized
    def class_sums(self, shared: Sequence[str], prompts: dict[int, list[str]]) -> np.ndarray:
        """[classes, dim]: per class the sum of its prompts' unit features (unnormalised class vectors)."""
        return self._class_sums(shared, prompts)

    @serialized
    def selection(self, on: Sequence[Split]) -> Selection:
        """The selection splits' features, labels and keys, as the class search scores on them."""
        return self._selection(on)

    def _search(
        self, shared: Sequence[str], prompts: dict[int, list[str]], on: Sequence[Split]
    ) -> ClassSearch:
        """The class-by-class search over a classifier, on the given selection splits (leave-one-out)."""
        members: dict[int, Members] = {}
        if self._texts_in():
            for cls, texts in prompts.items():
                if texts:
                    members[cls] = with_members({}, self._keys(texts), self._texts(texts), 1.0)
        return ClassSearch(self._selection(on), self._class_sums(shared, prompts), members)

    def _texts_in(self) -> bool:
        return getattr(self.dataset, "modality", "image") == "text"

    def _leave_one_out(self, split: Split) -> bool:
        return self._texts_in() and split in LEAVE_ONE_OUT_SPLITS

    def _keys(self, texts: Sequence[str]) -> list[str] | None:
        """Text keys for leave-one-out (text datasets only: an image is never a class text)."""
        return [key_of(t) for t in texts] if self._texts_in() else None

    @serialized
    def selection_inputs(self, on: Sequence[Split]) -> dict[int, list[str]]:
        """Per class, its selection inputs as class texts, each once (text datasets only; images give none).
        A long input is cut at a word to what a class-prompt file holds (1,000 characters, about what a
        text encoder reads); one with control characters is left out, so the classifier always exports."""
        found: dict[int, list[str]] = {}
        seen: set[tuple[int, str]] = set()
        for split in on:
            if not self.has_split(split):
                continue
            self._images(split)
            items = self.dataset.items(split)
            for i in self._usable[split]:
                raw, label = getattr(items[i], "text", None), int(items[i].label)
                text = class_text(raw) if isinstance(raw, str) else None
                if text is not None and (label, key_of(text)) not in seen:
                    seen.add((label, key_of(text)))
                    found.setdefault(label, []).append(text)
        return found

    def _class_vectors(self, shared: Sequence[str], prompts: dict[int, list[str]]) -> np.ndarray:
        return unit(self._class_sums(shared, prompts)).astype(np.float32)

    def _class_sums(self, shared: Sequence[str], prompts: dict[int, list[str]]) -> np.ndarray:
        unique = list(dict.fromkeys(shared))
        if unique:
            texts = self._class_texts(unique)
            sums = np.sum([texts[t].matrix for t in unique], axis=0).astype(np.float32)
        else:
            sums = np.zeros((len(self.classnames), self.backbone.embed_dim), np.float32)
        for cls, extra in prompts.items():
            if extra:
                sums[cls] += self._texts(extra).sum(axis=0)
        return sums

    def _selection(self, on: Sequence[Split]) -> Selection:
        parts = [(split, self._images(split)) for split in on if self.has_split(split)]
        features = np.concatenate([p.features for _, p in parts]) if parts else np.zeros((0, 1), np.float32)
        labels = np.concatenate([p.labels for _, p in parts]) if parts else np.zeros(0, np.int64)
        rows = [
            self._train_rows() if split == "train" else np.full(len(p.labels), -1, np.int64)
            for split, p in parts
        ]
        keys = None
        if self._texts_in():
            items = {split: self.dataset.items(split) for split, _ in parts}
            keys = [input_key(getattr(items[s][i], "text", "")) for s, _ in parts for i in self._usable[s]]
        return Selection(features, labels, np.concatenate(rows) if rows else np.zeros(0, np.int64), keys)

    def _train_rows(self) -> np.ndarray:
        """Each usable training feature's index among the dataset's training items."""
        return np.array(self._usable.get("train", []), dtype=np.int64)

    def input_text(self, index: int) -> str | None:
        """A training input as text (text datasets only): what the LLM may be shown of a confusion."""
        item = self.dataset.items("train")[index]
        return getattr(item, "text", None)

    def train_label(self, index: int) -> int:
        return int(self.dataset.items("train")[index].label)

    def class_inputs(self, cls: int) -> list[str]:
        """The training inputs of a class as texts (text datasets only; images give none)."""
        return [
            text
            for item in self.dataset.items("train")
            if item.label == cls and isinstance(text := getattr(item, "text", None), str)
        ]

    def _texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit features of raw prompt texts (not templates), through the feature cache."""
        unique = list(dict.fromkeys(texts))
        rows = self.store.get_texts(self.backbone.identity, unique)
        self.stats["text_cache_hits"] += int(rows.found.sum())
        if not rows.found.all():  # one group (texts share no template prefix), encoded as templates are
            self._encode_missing([RAW_TEXTS], {RAW_TEXTS: unique}, unique, rows, {RAW_TEXTS: 0.0})
        position = {t: i for i, t in enumerate(unique)}
        return rows.vectors[[position[t] for t in texts]]

    # ------------------------------------------------------------------------------------------ images

    def _images(self, split: Split) -> _SplitImages:
        if split not in self._splits:
            start = time.perf_counter()
            self._splits[split] = self._load_images(split)
            self.image_seconds[split] = time.perf_counter() - start
        return self._splits[split]

    def _load_images(self, split: Split) -> _SplitImages:
        items = self.dataset.items(split)
        keys = [self.backbone.input_key(item) for item in items]
        found = self.store.get_images(k for k in keys if k is not None)
        self.stats["image_cache_hits"] += sum(1 for k in keys if k is not None and k in found)
        missing = [i for i, k in enumerate(keys) if k is not None and k not in found]
        if missing:
            features, ok = self.backbone.encode_inputs([items[i] for i in missing])
            self.stats["images_encoded"] += len(ok)
            fresh = [(keys[missing[j]], features[row]) for row, j in enumerate(ok)]
            self.store.put_images(fresh)
            # Read back what the store holds: the exact vectors a later cached run will use.
            found.update(self.store.get_images(key for key, _ in fresh))
        usable = [i for i, k in enumerate(keys) if k is not None and k in found]
        self._usable[split] = usable
        self.skipped_images[split] = len(items) - len(usable)
        if self.skipped_images[split]:
            logger.warning("%s split: skipped %d unreadable image(s)", split, self.skipped_images[split])
        labels = np.array([items[i].label for i in usable], dtype=np.int64)
        self._check_coverage(split, labels)
        if not usable:
            return _SplitImages(np.zeros((0, self.backbone.embed_dim), np.float32), labels)
        return _SplitImages(np.stack([found[keys[i]] for i in usable]), labels)

    def _check_coverage(self, split: Split, labels: np.ndarray) -> None:
        if split == "train":
            counts = np.bincount(labels, minlength=len(self.classnames))
            empty = [self.classnames[c] for c in np.flatnonzero(counts == 0)]
            if empty:
                others = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
                raise DataError(f"class '{empty[0]}'{others} has no readable image in the train split")
        elif labels.size == 0:
            raise DataError(f"no readable image in the {split} split")

    # ------------------------------------------------------------------------------------------- texts

    def _class_texts(self, templates: list[str]) -> dict[str, _ClassText]:
        """Per template, its class-prompt features: from the cache, else encoded (new prompts only)."""
        unique = list(dict.fromkeys(templates))
        prompts = {t: [apply_template(t, name) for name in self.classnames] for t in unique}
        every = list(dict.fromkeys(p for t in unique for p in prompts[t]))
        rows = self.store.get_texts(self.backbone.identity, every)
        self.stats["text_cache_hits"] += int(rows.found.sum())
        seconds = dict.fromkeys(unique, 0.0)
        if not rows.found.all():
            self._encode_missing(unique, prompts, every, rows, seconds)
        position = {p: i for i, p in enumerate(every)}
        result = {}
        for t in unique:
            at = [position[p] for p in prompts[t]]
            result[t] = _ClassText(rows.vectors[at], bool(rows.truncated[at].any()), seconds[t])
        return result

    def _encode_missing(
        self,
        unique: list[str],
        prompts: dict[str, list[str]],
        every: list[str],
        rows: TextRows,
        seconds: dict[str, float],
    ) -> None:
        """Encode the prompts not in the cache, grouped by the template that first asks for them (a group
        shares its leading tokens), store them, and fill `rows` with what the store then holds."""
        missing = {every[i] for i in np.flatnonzero(~rows.found)}
        groups: dict[str, list[str]] = {}
        for t in unique:
            group = [p for p in dict.fromkeys(prompts[t]) if p in missing]
            missing.difference_update(group)
            if group:
                groups[t] = group
        start = time.perf_counter()
        encoded = self.backbone.encode_text_groups(list(groups.values()))
        fresh = [
            (p, features[i], flags[i])
            for group, (features, flags) in zip(groups.values(), encoded, strict=True)
            for i, p in enumerate(group)
        ]
        self.stats["texts_encoded"] += len(fresh)
        identity = self.backbone.identity
        self.store.put_texts(identity, fresh)
        # Read back what the store holds: the exact vectors a later cached run will use.
        stored = self.store.get_texts(identity, [p for p, _, _ in fresh])
        position = {p: i for i, p in enumerate(every)}
        at = [position[p] for p, _, _ in fresh]
        if rows.vectors.shape[1] != stored.vectors.shape[1]:
            rows.vectors = np.zeros((len(every), stored.vectors.shape[1]), np.float32)
        rows.vectors[at], rows.truncated[at], rows.found[at] = stored.vectors, stored.truncated, True
        elapsed = time.perf_counter() - start
        for t, group in groups.items():
            seconds[t] = elapsed * len(group) / len(fresh)


@dataclass
class ClassReport:
    """A class-by-class climb: what was kept and dropped, and the classifier on the selection data after it
    (labels and predictions only: what the LLM may be told stays black-box)."""

    accepted: dict[int, list[str]] = field(default_factory=dict)
    dropped: dict[int, list[str]] = field(default_factory=dict)
    after: Fit = Fit(0, 0.0)
    total: int = 0
    per_class: list[list[int]] = field(default_factory=list)
    confusions: list[list[int]] = field(default_factory=list)
    misclassified: list[list[int]] = field(default_factory=list)
    adopted: list[tuple[int, int]] = field(default_factory=list)  # (index of the written text, class)


def _classify(
    images: _SplitImages,
    classes: np.ndarray,
    template: str,
    split: Split,
    truncated: bool,
    similarity: np.ndarray | None = None,
) -> TemplateScore:
    """Top-1 accuracy, per-class accuracy and mean margin of argmax-cosine classification (``similarity``:
    the cosines already computed, as leave-one-out scoring does)."""
    n_images, n_classes = len(images.labels), classes.shape[0]
    if n_images == 0:
        empty = [0.0] * n_classes
        return TemplateScore(template=template, split=split, accuracy=0.0, n_images=0, n_correct=0,
                             margin=0.0, per_class=empty, truncated=truncated)  # fmt: skip
    correct = np.zeros(n_images, dtype=bool)
    gaps = np.zeros(n_images, dtype=np.float32)  # correct-class cosine - best wrong-class cosine
    for start in range(0, n_images, CLASSIFY_ROWS):  # bounded memory on a 50,000-image test split
        part = slice(start, start + CLASSIFY_ROWS)
        labels = images.labels[part]
        if similarity is not None:
            block = similarity[part].copy()
        else:
            block = cosine_matrix(images.features[part], classes)  # both sides are unit vectors
        rows = np.arange(len(labels))
        correct[part] = block.argmax(axis=1) == labels
        if n_classes > 1:
            true = block[rows, labels].copy()
            block[rows, labels] = -np.inf
            gaps[part] = true - block.max(axis=1)
    n_correct = int(correct.sum())
    totals = np.bincount(images.labels, minlength=n_classes)
    hits = np.bincount(images.labels[correct], minlength=n_classes)
    per_class = np.divide(hits, totals, out=np.zeros(n_classes), where=totals > 0)
    margin = float(np.mean(gaps, dtype=np.float64)) if n_classes > 1 else 0.0
    return TemplateScore(
        template=template,
        split=split,
        accuracy=n_correct / n_images,
        n_images=n_images,
        n_correct=n_correct,
        margin=margin,
        per_class=[float(x) for x in per_class],
        truncated=truncated,
    )


def score_templates(
    data: str,
    clip: str,
    templates: list[str],
    *,
    shots: int,
    seed: int,
    split: str,
    cache_dir: str | None,
    layout: str = "auto",
) -> list[dict]:
    """The core of ``promptclimb score``: one {template, split, accuracy, n_images, seconds} per template."""
    cleaned = [validate(t) for t in templates]
    dataset = load_dataset(data, shots=shots, seed=seed, layout=layout)
    if not dataset.has_split(split):
        raise DataError(f"dataset '{dataset.name}' has no {split} split")
    scorer = ClipScorer(load_clip(clip), dataset, cache_dir or default_cache_dir())
    results = scorer.score(cleaned, split)  # type: ignore[arg-type]
    return [
        {"template": r.template, "split": r.split, "accuracy": r.accuracy, "n_images": r.n_images,
         "seconds": round(r.seconds, 4)}
        for r in results
    ]  # fmt: skip
