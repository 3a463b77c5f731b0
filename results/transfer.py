"""``promptclimb transfer RUN --clip OTHER``: do the run's templates transfer to another CLIP?

The run's top templates (its final ensemble, selected template first), the ensemble itself and the two
zero-shot baselines are scored with the run's own CLIP and with OTHER, on the same train and test splits,
side by side. This reads the test split by design (it is an evaluation, not a selection); every such
access is written to the run's run.log.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from promptclimb.errors import UserError
from promptclimb.graph.runs import append_log, load_config
from promptclimb.results.atomic import write_text
from promptclimb.results.stats import wilson_interval
from promptclimb.results.summary import summarize

TRANSFER_FILE = "transfer.json"
PHOTO = "a photo of a {}."
HANDMADE = "hand-made ensemble"


class TransferError(UserError, ValueError):
    """A run that cannot be transferred yet; the one-line message says why."""


def top_templates(summary: dict[str, Any], top: int | None) -> list[str]:
    final = summary["final"]
    if final:
        templates = list(final["ensemble_templates"])
    else:
        templates = [r["template"] for r in summary["leaderboard"][: summary["config"]["ensemble_size"]]]
    return templates[:top] if top else templates


def transfer_rows(templates: list[str], handmade: list[str]) -> list[dict[str, Any]]:
    """What gets scored: each top template, their ensemble, and the two zero-shot baselines."""
    rows = [{"name": f"#{k}", "kind": "template", "templates": [t]} for k, t in enumerate(templates, 1)]
    rows.append({"name": f"top-{len(templates)} ensemble", "kind": "ensemble", "templates": templates})
    rows.append({"name": PHOTO, "kind": "baseline", "templates": [PHOTO]})
    rows.append({"name": HANDMADE, "kind": "baseline", "templates": handmade})
    return rows


def is_single(row: dict[str, Any]) -> bool:
    return row["kind"] not in ("ensemble", "classes") and len(row["templates"]) == 1


def score_all(scorer: Any, rows: list[dict[str, Any]], split: str) -> list[float]:
    """Accuracy of every row on one split with one CLIP (single templates scored in one batch)."""
    singles = list(dict.fromkeys(r["templates"][0] for r in rows if is_single(r)))
    scored = {s.template: s.accuracy for s in scorer.score(singles, split)}

    def accuracy(row: dict[str, Any]) -> float:
        if row["kind"] == "classes":  # the class-specific classifier: shared templates + texts per class
            per_class = {
                scorer.classnames.index(n): t for n, t in row["texts"].items() if n in scorer.classnames
            }
            return scorer.score_classes(row["templates"], per_class, split).accuracy
        if is_single(row):
            return scored[row["templates"][0]]
        return scorer.score_ensemble(row["templates"], split).accuracy

    return [accuracy(r) for r in rows]


def transfer(
    run_dir: Path,
    other_clip: str,
    *,
    top: int | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
    """Score both CLIPs and write transfer.json (one record per target CLIP, the latest replacing an
    earlier one for the same target); returns this transfer's record."""
    from promptclimb.evaluators.classify.registry import load_any_dataset, load_backbone
    from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir
    from promptclimb.prompts.pools import handmade_templates

    summary = summarize(run_dir)
    if not summary["leaderboard"]:
        raise TransferError(f"run {run_dir.name} has no scored template yet: nothing to transfer")
    config = load_config(run_dir)
    dataset = load_any_dataset(
        config.data, **config.draw(), text_column=config.text_column, label_column=config.label_column
    )  # type: ignore[arg-type]
    templates = top_templates(summary, top)
    rows = transfer_rows(templates, handmade_templates(dataset.name))
    final = summary["final"] or {}
    if final.get("class_templates"):  # --space classes: the class-specific classifier transfers too
        texts = final.get("class_prompts") or {}
        n = sum(len(v) for v in texts.values())
        rows.insert(len(templates) + 1, {"name": f"class-specific ({n} texts)", "kind": "classes",
                                         "templates": final["class_templates"], "texts": texts})  # fmt: skip
    splits = ["train", *(["test"] if dataset.has_split("test") else [])]
    random_weights: dict[str, bool] = {}
    source = config.scorer or config.clip
    for role, clip, spec in (("source", source, config.scorer_spec()), ("target", other_clip, other_clip)):
        options = {"device": device or config.device, "precision": precision or config.precision}
        backbone = load_backbone(spec, **options)  # the run's own model as the run loaded it
        random_weights[clip] = bool(backbone.random_weights)
        scorer = ClipScorer(backbone, dataset, config.cache_dir or default_cache_dir())
        if "test" in splits:
            what = f"{len(templates)} templates, their ensemble and 2 baselines"
            append_log(run_dir, [f"test split read by transfer: {clip} scores {what} ({role})"])
        for split in splits:
            n = len(dataset.items(split))
            for row, acc in zip(rows, score_all(scorer, rows, split), strict=True):
                row.setdefault(role, {})[split] = {"acc": acc, "n": n, "ci95": list(wilson_interval(acc, n))}
    record = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "source_clip": source,
        "target_clip": other_clip,
        "random_weights": random_weights,
        "splits": splits,
        "n": {split: rows[0]["source"][split]["n"] for split in splits},
        "rows": rows,
    }
    save(run_dir, record)
    return record


def save(run_dir: Path, record: dict[str, Any]) -> Path:
    path = run_dir / TRANSFER_FILE
    existing: list[dict[str, Any]] = []
    if path.exists():
        try:
            existing = json.loads(path.read_text()).get("transfers", [])
        except (ValueError, AttributeError):
            existing = []
    kept = [t for t in existing if t.get("target_clip") != record["target_clip"]]
    write_text(path, json.dumps({"transfers": [*kept, record]}, indent=2) + "\n")  # a planted link stays
    return path
