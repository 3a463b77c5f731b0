"""Test-set hygiene: only the final evaluation, transfer and bench (whose cells finalize) read the test split;
report only lists it to count images; every access is logged in the run's run.log; no selection path
(propose, evaluate, rank, feedback), no export and no replay machinery outside finalize ever touches it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import promptclimb.evaluators.classify.dataset
import promptclimb.evaluators.classify.scorer
from tests.conftest import ROOT
from tests.graph_helpers import cli
from tests.results_fixtures import results_run  # noqa: F401  (session fixture)

PROJECT_DIRS = ("graph", "nodes", "results")


def caller() -> str:
    """The innermost project file (graph/, nodes/ or results/) on the stack: who asked for the test split."""
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename).resolve()
        if path.is_relative_to(ROOT) and path.relative_to(ROOT).parts[0] in PROJECT_DIRS:
            return path.relative_to(ROOT).as_posix()
        frame = frame.f_back
    return "?"


@pytest.fixture
def test_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(what, who) for every read of the test split: listing its items or scoring on it."""
    reads: list[tuple[str, str]] = []

    def spy(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            split = kwargs.get("split", args[-1] if args else None)
            if split == "test":
                reads.append((name, caller()))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    spy(promptclimb.evaluators.classify.dataset.FewShotDataset, "items")
    spy(promptclimb.evaluators.classify.dataset.FewShotDataset, "fingerprint")
    spy(promptclimb.evaluators.classify.scorer.ClipScorer, "score")
    spy(promptclimb.evaluators.classify.scorer.ClipScorer, "score_ensemble")
    return reads


def test_only_finalize_transfer_and_report_counting_read_the_test_split(results_run, test_reads, capsys):  # noqa: F811
    runs, run_dir = str(results_run.runs), str(results_run.run_dir)
    log = results_run.run_dir / "run.log"
    before = log.read_text()

    assert cli("--runs-dir", runs, "export", run_dir) == 0
    assert test_reads == [], "export read the test split"

    assert cli("--runs-dir", runs, "replay", run_dir) == 0  # a whole graph run: every selection node
    replay_readers = {who for _, who in test_reads}
    assert replay_readers == {"nodes/finalize.py"}, replay_readers
    replay_log = (results_run.run_dir.parent / f"{results_run.run_dir.name}-replay" / "run.log").read_text()
    assert replay_log.count("test split read by finalize") == 1
    test_reads.clear()

    assert cli("--runs-dir", runs, "report", run_dir) == 0
    assert test_reads == [], "report read the test split although final records its size"

    assert cli("--runs-dir", runs, "transfer", run_dir, "--clip", str(results_run.clip), "--top", "1") == 0
    assert test_reads and {who for _, who in test_reads} == {"results/transfer.py"}

    added = log.read_text()[len(before) :]
    assert "test split listed by report" not in added + before
    assert added.count("test split read by transfer") == 2  # the run's CLIP, then the other (here the same)
    assert "test split read by finalize" in before  # the run's own final evaluation
