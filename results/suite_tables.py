"""A benchmark suite's tables: every cell's result collected into paper-style tables (suite.md, suite.csv),
beside the published numbers where backbone and shots match."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptclimb.graph.runs import CONFIG_FILE, LOG_FILE
from promptclimb.prompts.handmade import COOP_DATASETS, dataset_key
from promptclimb.results.atomic import write_text
from promptclimb.results.published import AVERAGE, matching
from promptclimb.results.stats import mean_std
from promptclimb.results.suite import (
    COOP_BASELINE,
    HANDMADE,
    METHODS,
    PHOTO,
    Cell,
    Suite,
    cell_id,
    cells,
    clip_label,
    pool_method_pool,
)
from promptclimb.results.suite_paired import (
    PairedRow,
    check_baseline,
    csv_table,
    paired,
    paired_csv_text,
    paired_tables,
)
from promptclimb.results.summary import summarize

# session/classify.py logs this in a cell's run.log whenever its scorer runs without weights
RANDOM_WEIGHTS_MARK = "RANDOM weights"


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
    """Per (shots, clip, method, dataset) the finished seeds' test accuracies, then an Average row over the
    seeds finished on every dataset: per seed, the mean over datasets (so its std is over seeds, as in the
    dataset rows, and its n_seeds is the number of such seeds)."""
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
                rows.append(average_row(shots, clip, method, mine, suite.seeds))
    return rows


def average_row(shots: int, clip: str, method: str, datasets: list[ResultRow], seeds: list[int]) -> ResultRow:
    """The Average of one method's dataset rows: one value per seed finished on every dataset, the mean of
    that seed's accuracies over the datasets; no value when no seed is finished everywhere."""
    average = ResultRow(shots, clip, method, AVERAGE)
    for seed in seeds:
        if datasets and all(seed in r.seeds for r in datasets):
            average.values.append(sum(r.values[r.seeds.index(seed)] for r in datasets) / len(datasets))
            average.seeds.append(seed)
    return average


def fmt(row: ResultRow | None) -> str:
    if row is None or not row.values:
        return "-"
    mean, std = row.stats
    if len(row.values) < 2:
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


@dataclass
class SuiteTable:
    """One paper-style table: rows are methods, columns datasets then Average, cells the rows' results."""

    shots: int
    clip: str
    title: str
    columns: list[str]
    methods: list[str]
    cells: list[list[ResultRow | None]]  # [method][column]

    @property
    def header(self) -> list[str]:
        return ["Method", *self.columns]

    def best(self) -> list[list[bool]]:
        """[method][column]: the best cell of each column (the highest mean as printed, so ties are all
        best); a column with fewer than two results has none."""
        marks = [[False] * len(self.columns) for _ in self.methods]
        for k in range(len(self.columns)):
            shown: dict[int, float] = {}
            for m, row in enumerate(r[k] for r in self.cells):
                if row is not None and row.values:
                    shown[m] = round(100 * row.stats[0], 1)
            if len(shown) < 2:
                continue
            top = max(shown.values())
            for m, value in shown.items():
                marks[m][k] = value == top
        return marks

    def body(self, mark: Callable[[str], str] | None = None) -> list[list[str]]:
        """The rows as text, the best cells passed through ``mark`` (markdown's bold, say)."""
        best = self.best()
        out = []
        for m, method in enumerate(self.methods):
            texts = [fmt(cell) for cell in self.cells[m]]
            if mark is not None:
                texts = [mark(text) if best[m][k] else text for k, text in enumerate(texts)]
            out.append([METHODS[method], *texts])
        return out


def tables(suite: Suite, rows: list[ResultRow]) -> list[SuiteTable]:
    """One paper-style table per (shots, clip); cells are mean ± std of test accuracy (%) over seeds."""
    index = {(r.shots, r.clip, r.method, r.dataset): r for r in rows}
    columns = [d.name for d in suite.datasets] + [AVERAGE]
    out = []
    for shots in suite.shots:
        for clip in suite.clips:
            title = f"{suite.name}: {shots}-shot, CLIP {clip_label(clip)}"
            title += ", test accuracy (%), mean ± std over seeds"
            results = [[index.get((shots, clip, m, c)) for c in columns] for m in suite.methods]
            out.append(SuiteTable(shots, clip, title, columns, list(suite.methods), results))
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


def random_banner(scorers: list[str]) -> str | None:
    """The warning a suite with random-weight scorers carries wherever its numbers go (None: none had)."""
    if not scorers:
        return None
    names = ", ".join(clip_label(c) for c in scorers)
    which = "it" if len(scorers) == 1 else "them"
    return (
        f"RANDOM WEIGHTS: {names} had no weights and ran with random ones; every accuracy measured with "
        f"{which} is meaningless."
    )


def markdown(
    suite: Suite,
    rows: list[ResultRow],
    statuses: dict[str, str],
    pool_size: int,
    random_scorers: list[str] | None = None,
    paired: list[PairedRow] | None = None,
) -> str:
    budget = suite.budget()
    lines = [f"# Suite {suite.name}", ""]
    banner = random_banner(random_scorers or [])
    if banner:
        lines += [f"**WARNING: {banner}**", ""]
    lines.append(
        f"Suite file: `{suite.path}`; LLM: {suite.llm or 'embedded local model'}; seeds {suite.seeds}; "
        f"score: the {suite.score} template(s) of each run, on the test split. {data_settings(suite)}"
    )
    lines.append("")
    lines.append(
        f"Equal budget: {budget} template evaluations per run (initial pool + iterations x restarts x "
        f"proposals); the pool method samples {min(budget, pool_size)} templates of its {pool_size}-template "
        "pool. Std: sample standard deviation over seeds. Average: per seed, the mean over datasets; then "
        "mean ± std over the seeds finished on every dataset (shown only when there is one). Bold: the best "
        "cell of each column (ties all bold)."
    )
    if pool_size < budget:
        lines.append("")
        lines.append(f"Note: the pool method's pool is smaller than the budget ({pool_size} < {budget}).")
    lines.append("")
    for table in tables(suite, rows):
        body = table.body(mark=lambda text: f"**{text}**")
        lines += [f"## {table.title}", "", *_markdown_table(table.header, body), ""]
        for title, header, published in published_tables(suite, table.shots, table.clip):
            lines += [f"{title}:", "", *_markdown_table(header, published), ""]
    for title, header, body in paired_tables(suite, paired or []):
        lines += [f"## {title}", "", *_markdown_table(header, body), ""]
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
    table: list[list[object]] = []
    for r in rows:
        mean, std = r.stats if r.values else (None, None)
        table.append(
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
    return csv_table(CSV_HEADER, table)


def ran_with_random_weights(run_dir: Path) -> bool:
    """What the cell's run.log says: the run writes this warning whenever its scorer had no weights."""
    path = run_dir / LOG_FILE
    return path.is_file() and RANDOM_WEIGHTS_MARK in path.read_text(errors="replace")


def random_weight_scorers(suite: Suite, suite_dir: Path, grid: list[Cell], reported: set[str]) -> list[str]:
    """The suite's scorers that ran with random weights: as this invocation's cells reported (``reported``,
    carried back from threads or Ray workers), or as an earlier invocation's cells logged."""
    found = set(reported)
    for cell in grid:
        if cell.clip not in found and ran_with_random_weights(suite_dir / cell.id):
            found.add(cell.clip)
    return [clip for clip in suite.clips if clip in found]


@dataclass
class SuiteResults:
    markdown: Path
    csv: Path
    rows: list[ResultRow]
    statuses: dict[str, str]  # cell id -> status
    random_scorers: list[str]  # scorers that ran with random weights (the banner's)
    paired: list[PairedRow]  # differences against the baseline ([] without one)
    paired_csv: Path | None  # suite-paired.csv, with a baseline
    latex: Path | None  # suite.tex, when asked for

    @property
    def banner(self) -> str | None:
        return random_banner(self.random_scorers)

    @property
    def written(self) -> list[Path]:
        return [p for p in (self.markdown, self.csv, self.paired_csv, self.latex) if p is not None]


def write_results(
    suite: Suite,
    runs_dir: Path,
    random_scorers: set[str] | None = None,
    baseline: str | None = None,
    latex: bool = False,
) -> SuiteResults:
    """Collect every cell's result; write suite.md and suite.csv into the suite directory, suite-paired.csv
    with a ``baseline`` method, suite.tex with ``latex``. ``random_scorers``: the scorers this invocation's
    cells reported as random-weight (the run logs of earlier invocations are read too)."""
    from promptclimb.prompts.pools import load_pool
    from promptclimb.results.suite_latex import latex as latex_text

    check_baseline(suite, baseline)
    suite_dir = runs_dir / suite.name
    suite_dir.mkdir(parents=True, exist_ok=True)
    grid = cells(suite, suite_dir)
    states = cell_states(suite, suite_dir)
    rows = collect(suite, states)
    statuses = {cid: status for cid, (status, _) in states.items()}
    randoms = random_weight_scorers(suite, suite_dir, grid, random_scorers or set())
    differences = paired(suite, rows, baseline) if baseline else []
    pool_size = len(load_pool(pool_method_pool(suite, suite_dir)))
    md, table_csv = suite_dir / "suite.md", suite_dir / "suite.csv"
    write_text(md, markdown(suite, rows, statuses, pool_size, randoms, differences))  # a planted link stays
    write_text(table_csv, csv_text(rows))
    paired_csv = suite_dir / "suite-paired.csv" if baseline else None
    if paired_csv is not None:
        write_text(paired_csv, paired_csv_text(differences))
    tex = suite_dir / "suite.tex" if latex else None
    if tex is not None:
        write_text(tex, latex_text(tables(suite, rows), random_banner(randoms)))
    return SuiteResults(md, table_csv, rows, statuses, randoms, differences, paired_csv, tex)
