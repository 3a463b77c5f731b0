"""Paired per-seed differences of a suite's methods against a named baseline method (``bench --baseline``).

Two methods of one seed see the same few-shot draw, so their difference on that seed is the fair unit of
comparison: the tables give its mean ± sample std over the seeds both finished, and every per-seed value.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from promptclimb.results.published import AVERAGE
from promptclimb.results.stats import mean_std
from promptclimb.results.suite import METHODS, Suite, SuiteError, clip_label

if TYPE_CHECKING:  # suite_tables writes these tables: a runtime import would be circular
    from promptclimb.results.suite_tables import ResultRow


@dataclass
class PairedRow:
    shots: int
    clip: str
    method: str
    baseline: str
    dataset: str  # a dataset name, or "Average" (per seed: the mean over datasets, as the Average rows)
    seeds: list[int] = field(default_factory=list)  # seeds finished by both the method and the baseline
    differences: list[float] = field(default_factory=list)  # method - baseline, per seed (fractions)

    @property
    def stats(self) -> tuple[float, float]:
        return mean_std(self.differences)


def check_baseline(suite: Suite, baseline: str | None) -> str | None:
    """The baseline method asked for, refused in one line when the suite does not run it."""
    if baseline is not None and baseline not in suite.methods:
        raise SuiteError(
            f"--baseline {baseline}: not a method of suite {suite.name} "
            f"(its methods: {', '.join(suite.methods)})"
        )
    return baseline


def paired(suite: Suite, rows: list[ResultRow], baseline: str) -> list[PairedRow]:
    """For every other method, per (shots, clip) and column, the differences on the seeds both finished."""
    index = {(r.shots, r.clip, r.method, r.dataset): r for r in rows}
    columns = [d.name for d in suite.datasets] + [AVERAGE]
    out = []
    for shots in suite.shots:
        for clip in suite.clips:
            for method in suite.methods:
                if method == baseline:
                    continue
                for column in columns:
                    row = PairedRow(shots, clip, method, baseline, column)
                    mine = index.get((shots, clip, method, column))
                    base = index.get((shots, clip, baseline, column))
                    if mine is not None and base is not None:
                        for seed, value in zip(mine.seeds, mine.values, strict=True):
                            if seed in base.seeds:
                                row.seeds.append(seed)
                                row.differences.append(value - base.values[base.seeds.index(seed)])
                    out.append(row)
    return out


def fmt_difference(row: PairedRow | None) -> str:
    """Mean ± std in percentage points, then each seed's difference: "+1.2 ± 0.8 (s1 +0.6, s2 +1.8)"."""
    if row is None or not row.differences:
        return "-"
    mean, std = row.stats
    spread = f" ± {100 * std:.1f}" if len(row.differences) > 1 else ""
    each = ", ".join(f"s{s} {100 * d:+.1f}" for s, d in zip(row.seeds, row.differences, strict=True))
    return f"{100 * mean:+.1f}{spread} ({each})"


def paired_tables(suite: Suite, rows: list[PairedRow]) -> list[tuple[str, list[str], list[list[str]]]]:
    """One table per (shots, clip): (title, header, rows of text); rows are the other methods."""
    if not rows:
        return []
    baseline = rows[0].baseline
    index = {(r.shots, r.clip, r.method, r.dataset): r for r in rows}
    columns = [d.name for d in suite.datasets] + [AVERAGE]
    methods = [m for m in suite.methods if m != baseline]
    out = []
    for shots in suite.shots:
        for clip in suite.clips:
            title = (
                f"{suite.name}: {shots}-shot, CLIP {clip_label(clip)}, paired difference against "
                f"{METHODS[baseline]} (test accuracy points, method - baseline on the same seed): "
                "mean ± std over seeds (each seed)"
            )
            body = [
                [METHODS[m], *(fmt_difference(index.get((shots, clip, m, c))) for c in columns)]
                for m in methods
            ]
            out.append((title, ["Method", *columns], body))
    return out


PAIRED_CSV_HEADER = [
    "shots",
    "clip",
    "method",
    "baseline",
    "dataset",
    "n_seeds",
    "mean_diff",
    "std_diff",
    "seeds",
    "differences",
]


def csv_table(header: list[str], rows: list[list[object]]) -> str:
    """A suite table as CSV text (both suite.csv and suite-paired.csv)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    return buffer.getvalue()


def paired_csv_text(rows: list[PairedRow]) -> str:
    table: list[list[object]] = []
    for r in rows:
        mean, std = r.stats if r.differences else (None, None)
        table.append(
            [
                r.shots,
                r.clip,
                r.method,
                r.baseline,
                r.dataset,
                len(r.differences),
                "" if mean is None else f"{mean:.6f}",
                "" if std is None else f"{std:.6f}",
                " ".join(map(str, r.seeds)),
                " ".join(f"{d:.6f}" for d in r.differences),
            ]
        )
    return csv_table(PAIRED_CSV_HEADER, table)
