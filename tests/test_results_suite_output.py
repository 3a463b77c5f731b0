"""What bench writes and prints around the numbers: Average rows over per-seed means, the best cell of each
column, suite.tex, paired differences against a baseline, the random-weights banner and the progress line.
Cell results are made up (no cell runs): the tiny suite's own runs are tests/test_results_suite.py's."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from promptclimb.cli.bench import BenchProgress, SuiteClock, duration
from promptclimb.results.suite import COOP_BASELINE, HANDMADE, PHOTO, SuiteError, cell_id, cells, load_suite
from promptclimb.results.suite_latex import latex, latex_escape
from promptclimb.results.suite_paired import check_baseline, fmt_difference, paired, paired_csv_text
from promptclimb.results.suite_tables import (
    ResultRow,
    SuiteTable,
    collect,
    csv_text,
    markdown,
    random_weight_scorers,
    tables,
)
from tests.graph_helpers import cli
from tests.test_results_suite import paper_like_suite

CLIP = "open_clip:RN50/openai"
# method -> dataset -> seed -> test accuracy; DTD's zero-shot seed 3 never finished
ACCURACIES = {
    "zero-shot": {"EuroSAT": {1: 0.40, 2: 0.42, 3: 0.44}, "DTD": {1: 0.30, 2: 0.34}},
    "pos": {"EuroSAT": {1: 0.50, 2: 0.47, 3: 0.53}, "DTD": {1: 0.31, 2: 0.40, 3: 0.35}},
}


def finished(method: str, accuracy: float) -> tuple[str, dict]:
    baselines = {PHOTO: accuracy, COOP_BASELINE: accuracy, HANDMADE: accuracy}
    final = {"test_acc": accuracy, "ensemble_test_acc": accuracy, "baselines": baselines}
    return "finished", {"final": final, "candidates_scored": 12}


@pytest.fixture
def suite(tmp_path: Path):
    return load_suite(paper_like_suite(tmp_path, CLIP, ["EuroSAT", "DTD"]))


@pytest.fixture
def rows(suite) -> list[ResultRow]:
    states = {
        cell_id(dataset, 1, seed, CLIP, method): finished(method, accuracy)
        for method, by_dataset in ACCURACIES.items()
        for dataset, by_seed in by_dataset.items()
        for seed, accuracy in by_seed.items()
    }
    return collect(suite, states)


def row_of(rows: list[ResultRow], method: str, dataset: str) -> ResultRow:
    return next(r for r in rows if (r.method, r.dataset) == (method, dataset))


def test_average_rows_carry_the_seeds_finished_everywhere_and_their_spread(rows):
    pos = row_of(rows, "pos", "Average")
    assert pos.seeds == [1, 2, 3]  # per seed, the mean over both datasets
    assert pos.values == pytest.approx([0.405, 0.435, 0.44])
    assert pos.stats == pytest.approx((0.426667, 0.018930), abs=1e-6)
    zero_shot = row_of(rows, "zero-shot", "Average")
    assert zero_shot.seeds == [1, 2] and zero_shot.values == pytest.approx([0.35, 0.38])  # DTD lacks seed 3
    assert row_of(rows, "liu2024", "Average").values == []  # nothing finished: no Average
    averages = {
        r["method"]: r for r in csv.DictReader(io.StringIO(csv_text(rows))) if r["dataset"] == "Average"
    }
    assert (averages["pos"]["n_seeds"], averages["pos"]["seeds"]) == ("3", "1 2 3")
    assert float(averages["pos"]["std_acc"]) == pytest.approx(0.018930, abs=1e-6)
    assert (averages["zero-shot"]["n_seeds"], averages["liu2024"]["n_seeds"]) == ("2", "0")


def test_the_best_cell_of_each_column_is_bold_and_ties_are_both_bold(suite, rows):
    md = markdown(suite, rows, {}, pool_size=10)
    line = next(line for line in md.splitlines() if line.startswith("| LLM, positive feedback only |"))
    assert line == "| LLM, positive feedback only | **50.0 ± 3.0** | **35.3 ± 4.5** | **42.7 ± 1.9** |"
    zero_shot = next(line for line in md.splitlines() if line.startswith('| Zero-shot "a photo of a {}." |'))
    assert "**" not in zero_shot

    def result(*values: float) -> ResultRow:
        return ResultRow(1, CLIP, "x", "d", list(values), list(range(1, len(values) + 1)))

    # 50.04 and 49.96 both print 50.0: a tie; a column with a single result has nothing to beat
    grid = [[result(0.5004), result(0.2)], [result(0.4996), None], [result(0.3), None]]
    table = SuiteTable(1, CLIP, "t", ["a", "b"], ["zero-shot", "pos", "pool"], grid)
    assert table.best() == [[True, False], [True, False], [False, False]]


def test_latex_is_escaped_booktabs_with_the_best_cells_bold(suite, rows):
    assert latex_escape('50% & $x_1$ {a} #~^\\ "q"') == (
        r"50\% \& \$x\_1\$ \{a\} \#\textasciitilde{}\textasciicircum{}\textbackslash{} ``q''"
    )
    tex = latex(tables(suite, rows), "RANDOM WEIGHTS: x_y had no weights")
    assert r"\usepackage{booktabs}" in tex and tex.count(r"\toprule") == 1 and r"\bottomrule" in tex
    assert (
        r"\caption{\textbf{RANDOM WEIGHTS: x\_y had no weights} p: 1-shot, CLIP open\_clip:RN50/openai" in tex
    )
    assert r"\begin{tabular}{lrrr}" in tex and r"Method & EuroSAT & DTD & Average \\" in tex
    assert (
        r"LLM, positive feedback only & \textbf{50.0 $\pm$ 3.0} & \textbf{35.3 $\pm$ 4.5} & "
        r"\textbf{42.7 $\pm$ 1.9} \\"
    ) in tex
    assert r"Zero-shot ``a photo of a \{\}.'' & 42.0 $\pm$ 2.0 & 32.0 $\pm$ 2.8 & 36.5 $\pm$ 2.1 \\" in tex


def test_paired_differences_use_the_seeds_both_methods_finished(suite, rows):
    differences = {(r.method, r.dataset): r for r in paired(suite, rows, "zero-shot")}
    euro, dtd, average = (differences[("pos", d)] for d in ("EuroSAT", "DTD", "Average"))
    assert euro.seeds == [1, 2, 3] and euro.differences == pytest.approx([0.10, 0.05, 0.09])
    assert dtd.seeds == [1, 2] and dtd.differences == pytest.approx([0.01, 0.06])  # no baseline on seed 3
    assert average.seeds == [1, 2] and average.differences == pytest.approx([0.055, 0.055])
    assert fmt_difference(euro) == "+8.0 ± 2.6 (s1 +10.0, s2 +5.0, s3 +9.0)"
    assert fmt_difference(differences[("liu2024", "EuroSAT")]) == "-"
    assert ("zero-shot", "EuroSAT") not in differences  # the baseline against itself
    line = next(r for r in csv.DictReader(io.StringIO(paired_csv_text(list(differences.values())))))
    assert line["baseline"] == "zero-shot" and line["method"] == "handmade"
    md = markdown(suite, rows, {}, pool_size=10, paired=paired(suite, rows, "zero-shot"))
    assert 'paired difference against Zero-shot "a photo of a {}."' in md
    assert "| LLM, positive feedback only | +8.0 ± 2.6 (s1 +10.0, s2 +5.0, s3 +9.0) | +3.5 ± 3.5" in md
    with pytest.raises(SuiteError, match="not a method of suite p"):
        check_baseline(suite, "neg")


def test_table_only_writes_latex_and_paired_files_and_refuses_an_unknown_baseline(tmp_path, capsys):
    path = paper_like_suite(tmp_path, CLIP, ["EuroSAT"])
    runs = tmp_path / "runs"
    assert cli("--runs-dir", str(runs), "bench", str(path), "--baseline", "magic") == 2
    assert "--baseline magic: not a method of suite p" in capsys.readouterr().err and not runs.exists()
    args = ["--runs-dir", str(runs), "bench", str(path), "--table-only", "--latex", "--baseline", "zero-shot"]
    assert cli(*args) == 0
    printed = capsys.readouterr().out
    assert all(
        f"wrote {runs / 'p' / name}" in printed for name in ("suite.md", "suite.tex", "suite-paired.csv")
    )
    assert (
        "paired difference against" in printed
        and (runs / "p" / "suite.tex").read_text().count("tabular") == 2
    )


def test_the_random_weights_banner_names_the_scorers_the_cells_logged(suite, rows, tmp_path):
    suite_dir = tmp_path / "runs" / "p"
    grid = cells(suite, suite_dir)
    assert random_weight_scorers(suite, suite_dir, grid, set()) == []
    (suite_dir / grid[3].id).mkdir(parents=True)
    (suite_dir / grid[3].id / "run.log").write_text(
        f"WARNING: {CLIP} has no weights: it runs with RANDOM weights\n"
    )
    assert random_weight_scorers(suite, suite_dir, grid, set()) == [CLIP]
    assert random_weight_scorers(suite, tmp_path / "elsewhere", grid, {CLIP}) == [
        CLIP
    ]  # as a worker reported
    md = markdown(suite, rows, {}, pool_size=10, random_scorers=[CLIP])
    assert md.splitlines()[2] == (
        f"**WARNING: RANDOM WEIGHTS: {CLIP} had no weights and ran with random ones; every accuracy measured "
        "with it is meaningless.**"
    )
    assert "RANDOM" not in markdown(suite, rows, {}, pool_size=10)


def test_the_progress_line_counts_cells_and_estimates_from_the_cells_that_ran(capsys):
    now = [100.0]
    clock = SuiteClock(4, clock=lambda: now[0])
    assert clock.line() == "0/4 done, 0s elapsed, ETA unknown"
    clock.ended(skipped=True)  # finished earlier: costs nothing, says nothing about the time per cell
    assert clock.eta() is None
    now[0] += 90
    clock.ended(skipped=False)
    assert clock.eta() == pytest.approx(180.0) and clock.line() == "2/4 done, 1m30s elapsed, ETA 3m00s"
    now[0] += 30
    assert clock.line() == "2/4 done, 2m00s elapsed, ETA 2m30s"  # counting down until the next cell ends
    clock.ended(skipped=False)
    assert clock.line() == "3/4 done, 2m00s elapsed, ETA 1m00s"
    clock.ended(skipped=False)
    assert clock.line() == "4/4 done, 2m00s elapsed"  # no ETA once every cell has ended
    assert (duration(3725), duration(59.6)) == ("1h02m", "1m00s")

    now[0] = 0.0
    with BenchProgress(2, clock=lambda: now[0]) as progress:  # not a terminal: one plain line per event
        progress.started("cell-a")
        now[0] = 12.0
        progress.ended("cell-a", skipped=False, what="finished")
    assert capsys.readouterr().err.splitlines() == [
        "cell-a: started (0/2 done, 0s elapsed, ETA unknown)",
        "cell-a: finished (1/2 done, 12s elapsed, ETA 12s)",
    ]
