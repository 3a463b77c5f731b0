"""``promptclimb report RUN``: report.md, a self-contained report.html and PNG plots in the run directory.

Every accuracy comes with a Wilson 95% interval for its split size n. The numbers are those of
``show --json`` (results/summary.py); the split sizes come from the dataset the run's config loads (train and
val are the few-shot samples; the test split is only *listed* to count its images or texts, never decoded,
and that listing is written to run.log) unless the run's Final already records them. Image and text runs
are worded by results/wording.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptclimb.errors import UserError
from promptclimb.graph.config import RunConfig
from promptclimb.graph.runs import LOG_FILE, append_log, load_config
from promptclimb.llm.pricing import usage_cost_text
from promptclimb.results.plots import Bar, plot_candidates, plot_progress, plot_test_bars
from promptclimb.results.render import REPORT_HTML, REPORT_MD, Block, Code, Inline, Strong, write_document
from promptclimb.results.stats import wilson_interval
from promptclimb.results.suite import COOP_BASELINE, HANDMADE, PHOTO  # finalize's keys of the baselines
from promptclimb.results.summary import summarize
from promptclimb.results.wording import (
    handmade_text,
    inputs_noun,
    method_text,
    scorer_label,
    scorer_name,
    selection_text,
)

log = logging.getLogger(__name__)

__all__ = ["REPORT_HTML", "REPORT_MD", "Report", "ReportError", "write_report"]
PLOT_PROGRESS = "report-progress.png"
PLOT_CANDIDATES = "report-candidates.png"
PLOT_TEST = "report-test.png"


class ReportError(UserError, ValueError):
    """A run that cannot be reported yet (nothing scored); the one-line message says why."""


# ------------------------------------------------------------------------------------ formatting


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def ci_text(x: float | None, n: int | None) -> str:
    if x is None or not n:
        return "-"
    low, high = wilson_interval(x, n)
    return f"[{100 * low:.1f}, {100 * high:.1f}]"


def lift_text(x: float | None, reference: float | None) -> str:
    if x is None or reference is None:
        return "-"
    return f"{100 * (x - reference):+.1f} pp"


# ------------------------------------------------------------------------------------------ data


def split_sizes(run_dir: Path, config: RunConfig, final: dict[str, Any] | None) -> dict[str, int]:
    """Images (or texts) per split: from Final when it records them, else from the dataset the config loads.

    Listing the test split (to count it, no input is read) is logged in run.log like any test access.
    """
    sizes = {k: final[f"n_{k}"] for k in ("train", "val", "test") if final and final.get(f"n_{k}")}
    need_test = bool(final and final.get("test_split") == "test" and "test" not in sizes)
    if "train" in sizes and not need_test:
        return sizes
    from promptclimb.evaluators.classify.errors import DataError
    from promptclimb.evaluators.classify.registry import load_any_dataset

    try:  # CSV text data and every image layout, as the run loaded them
        dataset = load_any_dataset(
            config.data, **config.draw(), text_column=config.text_column, label_column=config.label_column
        )  # type: ignore[arg-type]
    except DataError as error:  # the data moved: report without intervals rather than not at all
        log.warning("cannot load the run's dataset to count its inputs: %s", error)
        return sizes
    sizes.setdefault("train", len(dataset.items("train")))
    if dataset.has_split("val"):
        sizes.setdefault("val", len(dataset.items("val")))
    if need_test and dataset.has_split("test"):
        sizes["test"] = len(dataset.items("test"))
        append_log(run_dir, ["test split listed by report (input count only, no input read)"])
    return sizes


def llm_steps(summary: dict[str, Any]) -> list[tuple[int, int]]:
    """The (restart, iteration) of every LLM step the state shows (scored or rejected proposals), in order."""
    steps = {(r["restart"], r["iteration"]) for r in summary["leaderboard"] if r["source"] == "llm"}
    steps |= {(r["restart"], r["iteration"]) for r in summary["rejections"]}
    return sorted(steps)


def step_calls(run_dir: Path, summary: dict[str, Any]) -> tuple[dict[tuple[int, int], int], bool]:
    """Cumulative LLM calls (failed attempts and re-asks included) after each (restart, iteration), and
    whether they are exact; otherwise one call per iteration is assumed."""
    from promptclimb.graph.runs import read_calls
    from promptclimb.results.calllog import used_attempts

    steps = llm_steps(summary)
    counted = summary["usage"]["calls"] if summary["usage"] else 0
    per_step = [1] * len(steps)
    exact = counted == summary["iterations_done"] == len(steps)
    if not exact:
        groups, matched = used_attempts(read_calls(run_dir), counted)
        if matched and len(groups) == len(steps):
            per_step, exact = [len(g.calls) for g in groups], True
    calls, total = {}, 0
    for step, n in zip(steps, per_step, strict=True):
        total += n
        calls[step] = total
    return calls, exact


def progress_curves(
    summary: dict[str, Any], calls: dict[tuple[int, int], int]
) -> dict[int, list[tuple[int, float]]]:
    """Per restart: (cumulative LLM calls, best training accuracy so far), starting at the pool's best."""
    rows = summary["leaderboard"]
    pool_best = max((r["train_acc"] for r in rows if r["source"] == "pool"), default=0.0)
    best_at: dict[tuple[int, int], float] = {}
    for r in rows:
        if r["source"] == "llm":
            key = (r["restart"], r["iteration"])
            best_at[key] = max(best_at.get(key, 0.0), r["train_acc"])
    curves: dict[int, list[tuple[int, float]]] = {}
    previous = 0  # calls before the current restart
    for (restart, _iteration), x in sorted(calls.items()):
        if restart not in curves:
            curves[restart] = [(previous, pool_best)]
        best = max(curves[restart][-1][1], best_at.get((restart, _iteration), 0.0))
        curves[restart].append((x, best))
        previous = x
    return curves or {0: [(0, pool_best)]}


def class_progress_curves(run_dir: Path) -> dict[int, list[tuple[int, float]]]:
    """--space classes: per restart, (LLM calls so far, best selection accuracy there), read from the kept
    checkpoints, one after each iteration; the class-specific classifier counts (it writes no template)."""
    from promptclimb.graph.session import list_rewind_points

    curves: dict[int, list[tuple[int, float]]] = {}
    for point in list_rewind_points(run_dir):
        curves.setdefault(point.restart, []).append((point.llm_calls, point.best))
    return curves


def candidate_points(summary: dict[str, Any]) -> list[tuple[int, int, float, str]]:
    return [
        (r["restart"], r["iteration"] if r["source"] == "llm" else 0, r["train_acc"], r["source"])
        for r in summary["leaderboard"]
    ]


def random_weights_warning(run_dir: Path) -> bool:
    path = run_dir / LOG_FILE
    return path.exists() and "RANDOM weights" in path.read_text()


# ---------------------------------------------------------------------------------------- report


@dataclass
class Report:
    markdown: Path
    html: Path
    plots: list[Path]
    numbers: dict[str, Any]  # what the tables show, for tests and scripts


def class_texts(final: dict[str, Any]) -> int:
    return sum(len(v) for v in (final.get("class_prompts") or {}).values())


def result_rows(
    final: dict[str, Any], sizes: dict[str, int], config: RunConfig
) -> tuple[list[list[Inline]], dict[str, Any], list[Bar]]:
    n = sizes.get("test")
    photo = final["baselines"].get(PHOTO)
    handmade = final["baselines"].get(HANDMADE)
    ensemble = final["ensemble_templates"]
    entries = [
        ("selected", "Selected template", [Code(final["template"])], final["test_acc"], "#1f77b4"),
        (
            "ensemble",
            f"Top-{len(ensemble)} ensemble",
            [f"{len(ensemble)} templates (below)"],
            final["ensemble_test_acc"],
            "#2ca02c",
        ),
    ]
    if final.get("class_templates"):  # --space classes: the class-specific classifier
        inputs = final.get("class_input_texts") or 0
        of_them = f" ({inputs} of them training inputs)" if inputs else ""
        shared = len(final["class_templates"])
        what = f"{shared} shared template(s) + {class_texts(final)} class texts{of_them}"
        classes_acc = final.get("classes_test_acc")
        entries.append(("classes", "Class-specific prompts", [what], classes_acc, "#9467bd"))
        alone = final.get("classes_without_llm_test_acc")
        if alone is not None:  # the same classifier before any LLM call: what the LLM's texts add
            label, has = ("Inputs alone (no LLM)", "+ the inputs") if inputs else ("Before the LLM", "alone")
            entries.append(("inputs", label, [f"{shared} shared template(s) {has}"], alone, "#c5b0d5"))
    entries += [
        ("photo", "Zero-shot baseline", [Code(PHOTO)], photo, "#7f7f7f"),
        ("handmade", "Hand-made ensemble", [handmade_text(config)], handmade, "#bcbd22"),
    ]
    for template, acc in final["baselines"].items():  # what a user types first: "{}", a hand-made template
        if template not in (PHOTO, HANDMADE, COOP_BASELINE):
            name = "Class name alone" if template == "{}" else "Hand-made template"
            entries.append((f"user:{template}", name, [Code(template)], acc, "#8c564b"))
    reported = final.get("selected", "template")
    reported_key = "selected" if reported == "template" else reported
    rows, numbers, bars = [], {}, []
    for key, name, what, acc, color in entries:
        if key == reported_key:
            numbers["reported"] = {"name": name, "test_acc": acc}
            what = [*what, " ", Strong("reported")]
        lifts = [[lift_text(acc, photo)], [lift_text(acc, handmade)]]
        rows.append([[name], what, [pct(acc)], [ci_text(acc, n)], *lifts])
        low_high = wilson_interval(acc, n) if acc is not None and n else None
        numbers[key] = {"test_acc": acc, "ci95": low_high}
        if acc is not None:
            low, high = low_high or (acc, acc)
            label = "Zero-shot\n" + PHOTO if key == "photo" else name.replace(" template", "\ntemplate")
            bars.append(Bar(label, acc, low, high, color))
    return rows, numbers, bars


def para(*parts: str) -> Block:
    return Block("p", list(parts))


def overview_blocks(run_dir: Path, summary: dict[str, Any], config: RunConfig) -> list[Block]:
    status = summary["status"] + (f" ({summary['reason']})" if summary["reason"] else "")
    blocks = [
        Block("h1", [f"promptclimb report: {summary['run_id']}"]),
        para(
            f"Status: {status}. Data: {config.data} ({inputs_noun(config)}), {config.shots}-shot, seed "
            f"{config.seed}. {scorer_label(config)}. Optimizer LLM: {config.llm or 'embedded local model'}. "
            f"Method: {method_text(config)}; {summary['iterations_done']} iterations over "
            f"{summary['restarts_done']} restart(s), {summary['candidates_scored']} templates scored, "
            f"ranked by {selection_text(summary['selection'])}."
        ),
    ]
    if random_weights_warning(run_dir):
        warning = f"WARNING: {scorer_name(config)} ran with RANDOM weights: these accuracies are meaningless."
        blocks.append(Block("warning", [warning]))
    return blocks


RESULT_HEADER = [
    "",
    "template(s)",
    "test accuracy",
    "95% CI (Wilson)",
    'lift vs "a photo of a {}."',
    "lift vs hand-made",
]


def result_blocks(
    summary: dict[str, Any], sizes: dict[str, int], numbers: dict[str, Any], config: RunConfig
) -> list[Block]:
    final, noun = summary["final"], inputs_noun(config)
    blocks = [Block("h2", ["Result"])]
    if not final:
        return [*blocks, para("The run has not finished: no test accuracy yet (training results below).")]
    if final["test_split"] == "test":
        rows, result_numbers, _ = result_rows(final, sizes, config)
        numbers.update(result_numbers)
        blocks.append(Block("table", header=RESULT_HEADER, rows=rows))
        blocks.append(
            para(
                f"Test split: n = {sizes.get('test', 'unknown')} {noun}, the same for every row. Lifts are "
                "differences in percentage points (pp); the intervals are per accuracy (Wilson score, 95%), "
                "not intervals of the differences. Everything was selected without the test split, by "
                f"{selection_text(summary['selection'])}; the run reports the classifier marked reported."
            )
        )
    else:
        blocks.append(para("The dataset has no test split: only training accuracies are known."))
    n_train = sizes.get("train")
    acc = final["train_acc"]
    numbers["selected_train"] = {"train_acc": acc, "ci95": wilson_interval(acc, n_train) if n_train else None}
    n_text = f"(n = {n_train or 'unknown'} {noun})"
    blocks.append(
        para(
            "Selected template ",
            Code(final["template"]),
            f": training accuracy {acc_ci(acc, n_train)} {n_text}.",
        )
    )
    return blocks


def acc_ci(acc: float | None, n: int | None) -> str:
    return "-" if acc is None else f"{pct(acc)} {ci_text(acc, n)}"


def ensemble_blocks(summary: dict[str, Any], sizes: dict[str, int]) -> list[Block]:
    final, board = summary["final"], summary["leaderboard"]
    ensemble = (
        final["ensemble_templates"]
        if final
        else [r["template"] for r in board[: summary["config"]["ensemble_size"]]]
    )
    train = {r["template"]: r["train_acc"] for r in board}
    items: list[Inline] = [[Code(t), f": train {acc_ci(train.get(t), sizes.get('train'))}"] for t in ensemble]
    return [Block("h2", [f"Top-{len(ensemble)} ensemble"]), Block("list", items=items)]


def selection_size(summary: dict[str, Any], sizes: dict[str, int]) -> int | None:
    """Inputs behind the selection score: train, plus val where it is pooled."""
    pooled = summary["selection"] == "train+val" and sizes.get("val")
    return sizes.get("train", 0) + sizes["val"] if pooled and sizes.get("train") else sizes.get("train")


def leaderboard_blocks(summary: dict[str, Any], sizes: dict[str, int], limit: int = 10) -> list[Block]:
    """The top of the leaderboard in its ranking order, the ranking score first."""
    rows, n_selection = [], selection_size(summary, sizes)
    for i, r in enumerate(summary["leaderboard"][:limit], 1):
        where = f"restart {r['restart'] + 1}, iteration {r['iteration']}"
        if r["source"] in ("pool", "local"):  # local: an edit or crossover the scorer tried, no LLM call
            where = "pool" if r["source"] == "pool" else f"local edit (restart {r['restart'] + 1})"
        train, val = acc_ci(r["train_acc"], sizes.get("train")), acc_ci(r.get("val_acc"), sizes.get("val"))
        selection = acc_ci(r.get("selection_acc", r["train_acc"]), n_selection)
        rows.append([[str(i)], [Code(r["template"])], [selection], [train], [val], [where]])
    header = ["#", "template", "selection (95% CI)", "train", "val", "from"]
    return [
        Block("h2", [f"Leaderboard (top {limit}, ranked by {selection_text(summary['selection'])})"]),
        Block("table", header=header, rows=rows),
    ]


CLASSES_SHOWN = 10  # worst classes listed when there are more than CLASSES_ALL
CLASSES_ALL = 15
PAIRS_SHOWN = 5
REPORTED = {"template": "selected template", "ensemble": "top-k ensemble", "classes": "class-specific"}


def class_rows(diagnosis: dict[str, Any]) -> tuple[list[list[Inline]], str]:
    """Per-class rows (train and test accuracy), worst first, and how many of how many are shown."""
    train, test = diagnosis["train"]["per_class"], diagnosis.get("test", {}).get("per_class")
    order = test or train  # worst by test accuracy once the test split is read
    ranked = sorted(range(len(order)), key=lambda c: (order[c]["acc"] is None, order[c]["acc"] or 0.0))
    shown = ranked if len(ranked) <= CLASSES_ALL else ranked[:CLASSES_SHOWN]
    rows = []
    for c in shown:
        cells = [[train[c]["class"]], [f"{pct(train[c]['acc'])} ({train[c]['correct']}/{train[c]['n']})"]]
        if test:
            cells.append([f"{pct(test[c]['acc'])} ({test[c]['correct']}/{test[c]['n']})"])
        rows.append(cells)
    every = len(shown) == len(ranked)
    what = f"all {len(ranked)} classes" if every else f"the worst {len(shown)} of {len(ranked)}"
    return rows, what


def diagnosis_blocks(summary: dict[str, Any], config: RunConfig) -> list[Block]:
    """Per-class accuracy, the most confused pairs and a few misread training inputs of the reported
    classifier (from its predictions only; runs that finished before this was recorded have none)."""
    final = summary["final"] or {}
    diagnosis = final.get("diagnosis") or {}
    if "train" not in diagnosis:
        return []
    noun = inputs_noun(config)
    splits = [s for s in ("train", "test") if s in diagnosis]
    rows, what = class_rows(diagnosis)
    header = ["class", "train", *(["test"] if "test" in diagnosis else [])]
    blocks = [
        Block("h2", ["Where it goes wrong"]),
        para(
            f"The reported classifier ({REPORTED[final.get('selected', 'template')]}), from its predictions "
            f"only: per-class accuracy ({what}, worst first), the most confused class pairs and a few "
            f"misread training {noun}."
        ),
        Block("table", header=header, rows=rows),
    ]
    for split in splits:
        pairs = diagnosis[split]["confused"][:PAIRS_SHOWN]
        if pairs:
            items: list[Inline] = [[f"{p['true']} read as {p['predicted']}: {p['count']}"] for p in pairs]
            blocks += [para(f"Most confused pairs ({split}):"), Block("list", items=items)]
    misread = diagnosis["train"]["misread"]
    if misread:
        items = [[Code(m["input"]), f": {m['true']}, read as {m['predicted']}"] for m in misread]
        blocks += [para(f"Misread training {noun}:"), Block("list", items=items)]
    return blocks


def usage_blocks(summary: dict[str, Any], numbers: dict[str, Any]) -> list[Block]:
    usage = summary["usage"] or {}
    numbers["usage"] = usage
    header = ["LLM calls", "input tokens", "output tokens", "cost (USD, estimated)", "rejected proposals"]
    row = [
        [str(usage.get("calls", 0))],
        [str(usage.get("input_tokens", 0))],
        [str(usage.get("output_tokens", 0))],
        [usage_cost_text(usage)],
        [str(len(summary["rejections"]))],
    ]
    return [Block("h2", ["LLM usage"]), Block("table", header=header, rows=[row])]


def build_blocks(
    run_dir: Path, summary: dict[str, Any], sizes: dict[str, int], plots: dict[str, Path], config: RunConfig
) -> tuple[list[Block], dict[str, Any]]:
    numbers: dict[str, Any] = {"n": sizes, "inputs": inputs_noun(config)}
    blocks = overview_blocks(run_dir, summary, config)
    blocks += result_blocks(summary, sizes, numbers, config)
    blocks += ensemble_blocks(summary, sizes)
    blocks += leaderboard_blocks(summary, sizes)
    blocks += diagnosis_blocks(summary, config)
    blocks += usage_blocks(summary, numbers)
    blocks.append(Block("h2", ["Plots"]))
    blocks += [Block("img", [caption], image=path) for caption, path in plots.items()]
    return blocks, numbers


def make_plots(
    run_dir: Path, summary: dict[str, Any], config: RunConfig, sizes: dict[str, int]
) -> dict[str, Path]:
    """caption -> PNG path."""
    name, noun = Path(config.data).name, inputs_noun(config)
    calls, exact = step_calls(run_dir, summary)
    train_title = (
        f"Hill-climbing progress ({name}, {config.shots}-shot, n = {sizes.get('train', '?')} train {noun})"
    )
    if config.space == "classes":
        pooled = "train+val pooled" if summary["selection"] == "train+val" else "train"
        progress = plot_progress(
            class_progress_curves(run_dir) or progress_curves(summary, calls),
            run_dir / PLOT_PROGRESS,
            f"Hill-climbing progress ({name}, {config.shots}-shot, the class-specific classifier counts)",
            measure=f"best selection accuracy so far ({pooled}, %)",
        )
    else:
        progress = plot_progress(
            progress_curves(summary, calls), run_dir / PLOT_PROGRESS, train_title, exact_calls=exact
        )
    plots = {
        "Best accuracy so far against LLM calls": progress,
        "Training accuracy of every scored template": plot_candidates(
            candidate_points(summary),
            run_dir / PLOT_CANDIDATES,
            f"Every scored template ({name}, training split)",
        ),
    }
    final = summary["final"]
    if final and final["test_split"] == "test":
        _, _, bars = result_rows(final, sizes, config)
        title = f"Test accuracy ({name}, n = {sizes.get('test', '?')} test {noun})"
        caption = "Test accuracy of the selected template, the ensemble and the baselines"
        plots[caption] = plot_test_bars(bars, run_dir / PLOT_TEST, title)
    return plots


def write_report(run_dir: Path) -> Report:
    summary = summarize(run_dir)
    if not summary["leaderboard"]:
        raise ReportError(f"run {run_dir.name} has no scored template yet: nothing to report")
    config = load_config(run_dir)
    sizes = split_sizes(run_dir, config, summary["final"])
    plots = make_plots(run_dir, summary, config, sizes)
    blocks, numbers = build_blocks(run_dir, summary, sizes, plots, config)
    md, page = write_document(run_dir, blocks, f"promptclimb report: {summary['run_id']}")
    return Report(md, page, list(plots.values()), numbers)
