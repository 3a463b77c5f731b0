"""bench/bench_climb.py's per-seed differences: a blind baseline is compared with blind rows only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH_CLIMB = Path(__file__).resolve().parents[1] / "bench" / "bench_climb.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_climb", BENCH_CLIMB)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_class_space_resampling_is_the_blind_rows_baseline_only():
    bench = load_bench()
    assert "classes-none-blind" in bench.DEFAULT_METHODS
    rows = {
        "{}": [{"test": 0.60}, {"test": 0.60}],
        "resample": [{"selected_test": 0.61}, {"selected_test": 0.62}],
        "classes": [{"selected_test": 0.80}, {"selected_test": 0.81}],
        "classes-none-blind": [{"selected_test": 0.62}, {"selected_test": 0.61}],
        "classes-blind": [{"selected_test": 0.63}, {"selected_test": 0.64}],
    }
    lines = bench.differences(rows, [1, 2]).splitlines()
    assert "| classes-blind - classes-none-blind | +1.0 | +3.0 | +2.0 ± 1.4 |" in lines
    assert "| classes-none-blind - resample | +1.0 | -1.0 | +0.0 ± 1.4 |" in lines
    assert not any(line.startswith("| classes - classes-none-blind") for line in lines)


def test_a_class_row_that_kept_no_llm_text_says_0_and_a_template_row_says_nothing():
    bench = load_bench()
    cell = {"selected_test": 0.6, "test": 0.6, "calls": 10, "tokens": 1, "wall_s": 1.0, "proposals": 12}
    rows = {
        "resample": [{**cell, "kept_texts": 0}],
        "classes": [{**cell, "kept_texts": 0}],
        "classes-blind": [{**cell, "kept_texts": 3}],
    }
    args = bench.argparse.Namespace(
        data=str(bench.DATA), shots=4, scorer="s", llm=None, iterations=5, restarts=2, seeds="1"
    )
    lines = {line.split(" | ")[0]: line.split(" | ") for line in bench.table(rows, args, [1]).splitlines()}
    assert (lines["| resample"][-2], lines["| classes"][-2], lines["| classes-blind"][-2]) == ("-", "0", "3")


def test_bad_data_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("text,category\n")
    argv = [sys.executable, str(BENCH_CLIMB), "--data", str(data), "--methods", "{}"]
    done = subprocess.run([*argv, "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip() == f"error: {data / 'train.csv'} has no rows"
