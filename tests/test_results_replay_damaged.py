"""replay and the call log when a kill cut its last line mid-write."""

from __future__ import annotations

import shutil

from promptclimb.graph.runs import append_call, read_calls
from promptclimb.results.summary import summarize
from tests.graph_helpers import cli
from tests.results_fixtures import results_run  # noqa: F401  (session fixture)
from tests.test_results_replay import board, no_llm  # noqa: F401  (fixture)


def test_replay_skips_a_line_cut_mid_write_with_a_one_line_warning(results_run, tmp_path, no_llm, capsys):  # noqa: F811
    run_dir = tmp_path / "cut"
    shutil.copytree(
        results_run.run_dir, run_dir, ignore=shutil.ignore_patterns("export", "report*", "transfer*")
    )
    log = run_dir / "llm_calls.jsonl"
    whole = log.read_text()
    log.write_text(whole + whole.splitlines()[-1][:57])  # the call in flight when the process was killed
    capsys.readouterr()
    assert cli("--runs-dir", str(tmp_path), "replay", str(run_dir)) == 0
    lines = capsys.readouterr().err.splitlines()
    warnings = [line for line in lines if "WARNING" in line and "RANDOM WEIGHTS" not in line]
    assert len(warnings) == 1 and "cut/llm_calls.jsonl: skipped 1 unreadable line" in warnings[0]
    assert board(summarize(tmp_path / "cut-replay")) == board(summarize(results_run.run_dir))

    # The next record after a cut line starts a line of its own: the log heals instead of losing it.
    calls = read_calls(run_dir)
    append_call(run_dir, calls[0])
    assert read_calls(run_dir) == [*calls, calls[0]]
