"""promptclimb report: report.md / report.html / PNG plots of a finished run, numbers equal to show --json."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.results.report import PLOT_CANDIDATES, PLOT_PROGRESS, PLOT_TEST, REPORT_HTML, REPORT_MD
from promptclimb.results.stats import mean_std, wilson_interval
from tests.graph_helpers import cli, only_run, run_args, show_json
from tests.results_fixtures import results_run  # noqa: F401  (session fixture)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def ci(x: float, n: int) -> str:
    low, high = wilson_interval(x, n)
    return f"[{100 * low:.1f}, {100 * high:.1f}]"


def table_rows(md: str, section: str) -> dict[str, str]:
    """First cell -> whole line, for the table rows of one ``## section`` of the report."""
    text = md.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}


def check_png(data: bytes) -> None:
    assert data.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(data))
    image.load()
    assert 600 <= image.width <= 1600 and 350 <= image.height <= 1000, image.size
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20, "a blank plot"


def test_wilson_interval_matches_known_values():
    assert wilson_interval(0.5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0.0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(1.0, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(0.8, 100) == pytest.approx((0.7111, 0.8666), abs=1e-4)
    assert wilson_interval(0.3, 0) == (0.0, 1.0)
    assert mean_std([0.5, 0.7]) == pytest.approx((0.6, 0.14142), abs=1e-5)
    assert mean_std([0.4]) == (0.4, 0.0)


def test_report_numbers_equal_show_json(results_run, capsys):  # noqa: F811
    runs, run_dir = results_run.runs, results_run.run_dir
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "report", str(run_dir)) == 0
    s = show_json(runs, run_dir, capsys)
    md = (run_dir / REPORT_MD).read_text()
    final, usage = s["final"], s["usage"]
    config = s["config"]
    dataset = load_dataset(config["data"], shots=config["shots"], seed=config["seed"])
    n_train, n_test = len(dataset.items("train")), len(dataset.items("test"))

    rows = table_rows(md, "Result")
    expected = {
        "Selected template": final["test_acc"],
        f"Top-{len(final['ensemble_templates'])} ensemble": final["ensemble_test_acc"],
        "Zero-shot baseline": final["baselines"]["a photo of a {}."],
        "Hand-made ensemble": final["baselines"]["hand-made ensemble"],
    }
    photo, handmade = expected["Zero-shot baseline"], expected["Hand-made ensemble"]
    for name, acc in expected.items():
        cells = [c.strip() for c in rows[name].split("|")[1:-1]]
        assert cells[2:] == [
            pct(acc),
            ci(acc, n_test),
            f"{100 * (acc - photo):+.1f} pp",
            f"{100 * (acc - handmade):+.1f} pp",
        ], name
    assert f"n = {n_test} images" in md
    train = f"{pct(final['train_acc'])} {ci(final['train_acc'], n_train)}"
    assert f"`{final['template']}`: training accuracy {train}" in md
    board = table_rows(md, "Leaderboard")
    for i, row in enumerate(s["leaderboard"][:10], 1):
        line = board[str(i)]
        assert row["template"] in line and f"{pct(row['train_acc'])} {ci(row['train_acc'], n_train)}" in line
    for template in final["ensemble_templates"]:
        assert f"`{template}`: train" in md
    usage_line = table_rows(md, "LLM usage")[str(usage["calls"])]
    assert f"| {usage['input_tokens']} | {usage['output_tokens']} | ${usage['cost_usd']:.4f} |" in usage_line
    assert "RANDOM weights" in md  # the tiny CLIP has none: the report says so

    # The run's final results record the split sizes, so the report never lists the test split.
    assert "test split listed by report" not in (run_dir / "run.log").read_text()


def test_report_html_is_self_contained_and_plots_are_valid(results_run, capsys):  # noqa: F811
    runs, run_dir = results_run.runs, results_run.run_dir
    assert cli("--runs-dir", str(runs), "report", run_dir.name) == 0
    for name in (PLOT_PROGRESS, PLOT_CANDIDATES, PLOT_TEST):
        check_png((run_dir / name).read_bytes())
    page = (run_dir / REPORT_HTML).read_text()
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3
    for data in images:
        check_png(base64.b64decode(data))
    assert not re.search(r'(src|href)="(?!data:)', page), "the page must not load anything"
    md = (run_dir / REPORT_MD).read_text()
    assert f"]({PLOT_PROGRESS})" in md and f"]({PLOT_TEST})" in md


def test_report_of_a_paused_run_has_no_test_result(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    assert (
        cli(*run_args(runs, tiny_clip, "--iterations", "3", "--restarts", "1", "--max-llm-calls", "1")) == 3
    )
    run_dir = only_run(runs)
    assert cli("--runs-dir", str(runs), "report", str(run_dir)) == 0
    md = (run_dir / REPORT_MD).read_text()
    assert "has not finished" in md and "Status: paused" in md
    assert not (run_dir / PLOT_TEST).exists()
    check_png((run_dir / PLOT_PROGRESS).read_bytes())
    assert "test split" not in (run_dir / "run.log").read_text()  # nothing finalized, nothing listed


def test_report_on_unknown_run_is_a_one_line_error(tmp_path, capsys):
    assert cli("--runs-dir", str(tmp_path), "report", "nope") == 2
    assert "no run 'nope'" in capsys.readouterr().err


def test_results_commands_refuse_text_to_image_runs(tmp_path, capsys):
    run_dir = tmp_path / "a-t2i-run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text('{"kind": "t2i"}')
    for command in (["report"], ["export"], ["replay"], ["transfer", "--clip", "x"]):
        assert cli("--runs-dir", str(tmp_path), command[0], str(run_dir), *command[1:]) == 2
        assert "text-to-image run" in capsys.readouterr().err


def test_the_leaderboard_says_where_each_template_came_from():
    from promptclimb.results.report import leaderboard_blocks

    rows = [
        {"template": t, "source": source, "restart": 0, "iteration": it, "train_acc": 0.5, "val_acc": 0.5}
        for t, source, it in [("{} x", "local", 0), ("{} y", "llm", 2), ("{} z", "pool", 0)]
    ]
    blocks = leaderboard_blocks({"leaderboard": rows, "selection": "train+val"}, {"train": 10, "val": 10})
    text = repr(blocks)
    assert "local edit (restart 1)" in text and "restart 1, iteration 2" in text and "'pool'" in text
    assert "iteration 0" not in text  # an edit the scorer tried is no LLM step
