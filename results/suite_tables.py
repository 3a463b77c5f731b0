"""A benchmark suite's tables: every cell's result collected into paper-style tables (suite.md, suite.csv),
beside the published numbers where backbone and shots match."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptclimb.graph.runs import CONFIG_FILE
from promptclimb.prompts.handmade import COOP_DATASETS, dataset_key
from promptclimb.results.published import AVERAGE, matching
from promptclimb.results.stats import mean_std
from promptclimb.results.suite import (
    COOP_BASELINE,
    HANDMADE,
    METHODS,
    PHOTO,
    Suite,
    cell_id,
    cells,
    clip_label,
    pool_method_pool,
)
from promptclimb.results.summary import summarize


def method_value(final: dict[str, Any] | None, method: str, score: str) -> float | None:
    if not final:
        return None
    if method == "zero-shot":
        return final["baselines"].get(PHOTO)
    if method == "handmade":
        return final["baselines"].get(COOP_BASELINE)
    if method == "clip-ensemble":
        return final["baselines"].get(HANDMADE)
    return final["ensemble_test_acc"] if score == "ensemble" else final["test_acc"]


@dataclass
class ResultRow:
    shots: int
    clip: str
    method: str
    dataset: str  # a dataset name, or "Average"
    values: list[float] = field(default_factory=list)  # test accuracies of the finished seeds
    seeds: list[int] = field(default_factory=list)
    evaluations: list[int] = field(default_factory=list)  # templates scored per seed (equal-budget check)

    @property
    def stats(self) -> tuple[float, float]:
        return mean_std(self.values)


def cell_states(suite: Suite, suite_dir: Path) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """cell id -> (status, summary) for every cell of the grid ("not started", None when absent)."""
    states: dict[str, tuple[str, dict[str, Any] | None]] = {}
    for cell in cells(suite, suite_dir):
        run_dir = suite_dir / cell.id
        if (run_dir / CONFIG_FILE).is_file():
            summary = summarize(run_dir)
            states[cell.id] = (summary["status"], summary)
        else:
            states[cell.id] = ("not started", None)
    return states


def collect(suite: Suite, states: dict[str, tuple[str, dict[str, Any] | None]]) -> list[ResultRow]:
    """Per (shots, clip, method, dataset) the finished seeds' test accuracies, then an Average row: the
    mean over datasets of the per-dataset means, only when every dataset has a value."""
    rows: list[ResultRow] = []
    for shots in suite.shots:
        for clip in suite.clips:
            for method in suite.methods:
                mine = []
                for data in suite.datasets:
                    row = ResultRow(shots, clip, method, data.name)
                    for seed in suite.seeds:
                        status, summary = states.get(
                            cell_id(data.name, shots, seed, clip, method), ("", None)
                        )
                        value = method_value(summary["final"], method, suite.score) if summary else None
                        if status == "finished" and value is not None:
                            row.values.append(value)
                            row.seeds.append(seed)
                            row.evaluations.append(summary["candidates_scored"])
                    mine.append(row)
                rows.extend(mine)
                average = ResultRow(shots, clip, method, "Average")
                if all(r.values for r in mine):
                    average.values = [r.stats[0] for r in mine]
                rows.append(average)
    return rows


def fmt(row: ResultRow | None) -> str:
    if row is None or not row.values:
        return "-"
    mean, std = row.stats
    if row.dataset == "Average" or len(row.values) < 2:
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def tables(suite: Suite, rows: list[ResultRow]) -> list[tuple[str, list[str], list[list[str]]]]:
    """One paper-style table per (shots, clip): (title, header, rows of text); rows are methods, columns
    datasets then Average; cells are mean ± std of test accuracy (%) over seeds."""
    index = {(r.shots, r.clip, r.method, r.dataset): r for r in rows}
    columns = [d.name for d in suite.datasets] + ["Average"]
    out = []
    for shots in suite.shots:
        for clip in suite.clips:
            title = f"{suite.name}: {shots}-shot, CLIP {clip_label(clip)}"
            title += ", test accuracy (%), mean ± std over seeds"
            body = [
                [METHODS[m], *(fmt(index.get((shots, clip, m, c))) for c in columns)] for m in suite.methods
            ]
            out.append((title, ["Method", *columns], body))
    return out


def published_tables(suite: Suite, shots: int, clip: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """The published numbers (results/published.toml) for this CLIP's backbone at these shots, one table
    per source, in the suite's columns; every row and title says "published". A published Average (the
    publication's mean over CoOp's 11 datasets) is shown only when the suite has exactly those 11."""
    keys = [dataset_key(d.coop_name or d.name) for d in suite.datasets]
    same_datasets = set(keys) == set(COOP_DATASETS) and len(keys) == len(COOP_DATASETS)
    out = []
    for table in matching(clip, shots):
        title = f"Published, not measured here: {table.source}; CLIP {table.backbone}, {table.shots}-shot"
        title += f"; {table.protocol}" if table.protocol else ""
        title += f" ({table.note})" if table.note else ""
        ordered = [m for m in suite.methods if m in table.rows]
        ordered += [label for label in table.rows if label not in METHODS]
        body = []
        for label in ordered:
            cells = table.rows[label]
            values = [_published_cell(cells.get(key) if key else None) for key in keys]
            values.append(_published_cell(cells.get(AVERAGE) if same_datasets else None))
            body.append([f"{METHODS.get(label, label)} (published)", *values])
        out.append((title, ["Method (published)", *(d.name for d in suite.datasets), "Average"], body))
    return out


def _published_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def data_settings(suite: Suite) -> str:
    """Which class names and which few-shot draw the suite's cells use (RunConfig class_names, sampler)."""
    base = suite.base_config()
    names = "OpenAI CLIP's published names (clip)" if base.class_names == "clip" else "the splits' (coop)"
    draw = "CoOp's exact draw (coop)" if base.sampler == "coop" else "promptclimb's sampler"
    return f"Data: class names {names}; few-shot images {draw}."


def markdown(suite: Suite, rows: list[ResultRow], statuses: dict[str, str], pool_size: int) -> str:
    budget = suite.budget()
    lines = [f"# Suite {suite.name}", ""]
    lines.append(
        f"Suite file: `{suite.path}`; LLM: {suite.llm or 'embedded local model'}; seeds {suite.seeds}; "
        f"score: the {suite.score} template(s) of each run, on the test split. {data_settings(suite)}"
    )
    lines.append("")
    lines.append(
        f"Equal budget: {budget} template evaluations per run (initial pool + iterations x restarts x "
        f"proposals); the pool method samples {min(budget, pool_size)} templates of its {pool_size}-template "
        "pool. Std: sample standard deviation over seeds. Average: mean over datasets of the per-dataset "
        "means (shown only when every dataset has a result)."
    )
    if pool_size < budget:
        lines.append("")
        lines.append(f"Note: the pool method's pool is smaller than the budget ({pool_size} < {budget}).")
    lines.append("")
    for (shots, clip), (title, header, body) in zip(table_keys(suite), tables(suite, rows), strict=True):
        lines += [f"## {title}", "", *_markdown_table(header, body), ""]
        for published_title, published_header, published_body in published_tables(suite, shots, clip):
            lines += [f"{published_title}:", "", *_markdown_table(published_header, published_body), ""]
    missing = {k: v for k, v in statuses.items() if v != "finished"}
    if missing:
        lines.append("Cells left out (not finished): " + ", ".join(f"{k} ({v})" for k, v in missing.items()))
        lines.append("")
    return "\n".join(lines)


def table_keys(suite: Suite) -> list[tuple[int, str]]:
    return [(shots, clip) for shots in suite.shots for clip in suite.clips]  # the order of tables()


def _markdown_table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(r) + " |" for r in body
    ]


CSV_HEADER = [
    "shots",
    "clip",
    "method",
    "dataset",
    "n_seeds",
    "mean_acc",
    "std_acc",
    "seeds",
    "values",
    "evaluations",
]


def csv_text(rows: list[ResultRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        mean, std = r.stats if r.values else (None, None)
        writer.writerow(
            [
                r.shots,
                r.clip,
                r.method,
                r.dataset,
                len(r.values),
                "" if mean is None else f"{mean:.6f}",
                "" if std is None else f"{std:.6f}",
                " ".join(map(str, r.seeds)),
                " ".join(f"{v:.6f}" for v in r.values),
                " ".join(map(str, r.evaluations)),
            ]
        )
    return buffer.getvalue()


@dataclass
class SuiteResults:
    markdown: Path
    csv: Path
    rows: list[ResultRow]
    statuses: dict[str, str]  # cell id -> status


def write_results(suite: Suite, runs_dir: Path) -> SuiteResults:
    """Collect every cell's result; write suite.md and suite.csv into the suite directory."""
    from promptclimb.prompts.pools import load_pool

    suite_dir = runs_dir / suite.name
    suite_dir.mkdir(parents=True, exist_ok=True)
    states = cell_states(suite, suite_dir)
    rows = collect(suite, states)
    statuses = {cid: status for cid, (status, _) in states.items()}
    pool_size = len(load_pool(pool_method_pool(suite, suite_dir)))
    md, table_csv = suite_dir / "suite.md", suite_dir / "suite.csv"
    md.write_text(markdown(suite, rows, statuses, pool_size))
    table_csv.write_text(csv_text(rows))
    return SuiteResults(md, table_csv, rows, statuses)
