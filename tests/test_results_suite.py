"""promptclimb bench: the tiny suite produces its table, and an interrupted suite resumes cell by cell."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

import promptclimb.evaluators.classify.registry
import promptclimb.graph.wiring
import promptclimb.session.classify
from promptclimb.graph.runs import read_status
from promptclimb.results.published import backbone_of, published_tables
from promptclimb.results.suite import METHODS, SuiteError, cells, load_suite
from promptclimb.results.suite_tables import collect, data_settings, markdown
from promptclimb.results.summary import summarize
from tests.conftest import DEMO_DATA, ROOT
from tests.graph_helpers import cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

TINY = ROOT / "suites" / "tiny.toml"


def toml_value(value: object) -> str:
    return json.dumps(value)  # strings, numbers and lists of them are valid TOML as JSON writes them


def write_suite(path: Path, raw: dict) -> Path:
    lines = [f"{k} = {toml_value(v)}" for k, v in raw.items() if k not in ("datasets", "run")]
    for data in raw["datasets"]:
        lines += ["", "[[datasets]]", *(f"{k} = {toml_value(v)}" for k, v in data.items())]
    lines += ["", "[run]", *(f"{k} = {toml_value(v)}" for k, v in raw["run"].items())]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def tiny_suite(tmp_path: Path, tiny_clip: Path) -> Path:
    """suites/tiny.toml on the demo data with the tiny CLIP, one iteration: 10 cells."""
    raw = tomllib.loads(TINY.read_text())
    raw["datasets"] = [{"name": "clothing-mini", "path": str(DEMO_DATA)}]
    raw["clips"] = [str(tiny_clip)]
    raw["run"]["iterations"] = 1
    raw["run"]["cache_dir"] = str(tmp_path / "cache")
    return write_suite(tmp_path / "tiny.toml", raw)


def test_shipped_suites_parse():
    tiny = load_suite(TINY)
    assert tiny.llm == "scripted:" and tiny.seeds == [1, 2] and tiny.budget() == 6 + 2 * 1 * 3
    assert Path(tiny.clips[0]).is_dir() and Path(tiny.datasets[0].path).is_dir()
    paper = load_suite(ROOT / "suites" / "paper-1shot.toml")
    assert len(paper.datasets) == 11 and paper.seeds == [1, 2, 3] and paper.shots == [1]
    assert paper.clips == ["openai:RN50", "openai:ViT-B/16", "openai:ViT-B/32"]
    assert paper.methods == [m for m in METHODS if m != "neg"]
    assert "RN50" in (ROOT / "suites" / "paper-1shot.toml").read_text()


def test_tiny_suite_table_and_resume_after_interrupt(tiny_suite, tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    suite = load_suite(tiny_suite)
    grid = cells(suite, runs / "tiny")
    assert len(grid) == 2 * 5  # 2 seeds x (baselines, pool, none, pos, pos+neg)

    # Interrupt inside the 4th cell ("pos", seed 1), after its LLM proposals were asked for.
    real_evaluate, calls = promptclimb.graph.wiring.evaluate, []

    def interrupting(state, runtime):
        calls.append(1)
        if len(calls) == 6:  # cells 1-3 evaluate 1 + 1 + 2 times; the 4th evaluates its pool, then this
            raise KeyboardInterrupt
        return real_evaluate(state, runtime)

    monkeypatch.setattr(promptclimb.graph.wiring, "evaluate", interrupting)
    assert cli("--runs-dir", str(runs), "bench", str(tiny_suite)) == 130
    assert "again to resume" in capsys.readouterr().err
    statuses = [
        read_status(runs / "tiny" / c.id)[0] if (runs / "tiny" / c.id).exists() else None for c in grid
    ]
    assert statuses == ["finished"] * 3 + ["paused"] + [None] * 6
    assert (runs / "tiny" / "suite.md").exists()  # the partial table is written too
    finished_mtimes = {
        c.id: (runs / "tiny" / c.id / "checkpoints.sqlite").stat().st_mtime_ns for c in grid[:3]
    }
    monkeypatch.setattr(promptclimb.graph.wiring, "evaluate", real_evaluate)

    # Resume: the finished cells are skipped, the paused one resumed, the rest started.
    executed, loads = [], []
    real_execute, real_load = (
        promptclimb.session.classify.execute,
        promptclimb.evaluators.classify.registry.load_clip,
    )
    monkeypatch.setattr(
        promptclimb.session.classify,
        "execute",
        lambda run_dir, *a: executed.append(run_dir.name) or real_execute(run_dir, *a),
    )
    monkeypatch.setattr(
        promptclimb.evaluators.classify.registry,
        "load_clip",
        lambda *a, **k: loads.append(a) or real_load(*a, **k),
    )
    assert cli("--runs-dir", str(runs), "bench", str(tiny_suite)) == 0
    assert executed == [c.id for c in grid[3:]]
    assert len(loads) == 1  # one CLIP, shared by the cells
    for c in grid[:3]:
        assert (runs / "tiny" / c.id / "checkpoints.sqlite").stat().st_mtime_ns == finished_mtimes[c.id]
    summaries = {c.id: summarize(runs / "tiny" / c.id) for c in grid}
    assert all(s["status"] == "finished" for s in summaries.values())

    # Re-running a finished suite costs nothing: no cell runs, no model loads.
    executed.clear()
    loads.clear()
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "bench", str(tiny_suite)) == 0
    assert executed == [] and loads == []
    printed, err = capsys.readouterr()
    # No model loaded, yet the cells' run logs still say their CLIP had random weights: the banner comes last.
    assert err.splitlines()[-1] == (
        f"WARNING: RANDOM WEIGHTS: {Path(suite.clips[0]).name} had no weights and ran with random ones; "
        "every accuracy measured with it is meaningless."
    )
    assert "(10/10 done, " in err and err.count("finished earlier: skipped") == 10
    assert "LLM, positive + negative feedback (conversational variant)" in printed and "Average" in printed

    check_table(runs / "tiny", grid, summaries, suite.budget())


def check_table(suite_dir: Path, grid: list, summaries: dict, budget: int) -> None:
    def seeds_of(method: str) -> list[dict]:
        cell = "baselines" if method in ("zero-shot", "handmade") else method
        return [summaries[c.id]["final"] for c in grid if c.method == cell]

    def value(final: dict, method: str) -> float:
        if method == "zero-shot":
            return final["baselines"]["a photo of a {}."]
        if method == "handmade":  # CoOp's single template, as the paper's "handmade" row
            return final["baselines"]["CoOp's template"]
        return final["test_acc"]

    md = (suite_dir / "suite.md").read_text()
    assert "| Method | clothing-mini | Average |" in md
    assert md.splitlines()[2].startswith("**WARNING: RANDOM WEIGHTS: ")  # on top, bold
    rows = {
        r["method"]: r
        for r in csv.DictReader((suite_dir / "suite.csv").open())
        if r["dataset"] == "clothing-mini"
    }
    assert list(rows) == ["zero-shot", "handmade", "pool", "none", "pos", "pos+neg"]
    averages = {
        r["method"]: r for r in csv.DictReader((suite_dir / "suite.csv").open()) if r["dataset"] == "Average"
    }
    for method, row in rows.items():
        values = [value(f, method) for f in seeds_of(method)]
        mean = sum(values) / 2
        std = (sum((v - mean) ** 2 for v in values)) ** 0.5  # sample std of two values: |a - b| / sqrt(2)
        assert row["n_seeds"] == "2" and row["seeds"] == "1 2"
        assert float(row["mean_acc"]) == pytest.approx(mean, abs=1e-6)
        assert float(row["std_acc"]) == pytest.approx(std, abs=1e-6)
        line = next(line for line in md.splitlines() if line.startswith(f"| {METHODS[method]} |"))
        cell = f"{100 * mean:.1f} ± {100 * std:.1f}"  # one dataset: its Average is its own per-seed values
        assert line.replace("**", "") == f"| {METHODS[method]} | {cell} | {cell} |"
        average = averages[method]
        assert (average["n_seeds"], average["seeds"], average["values"]) == ("2", "1 2", row["values"])
        assert average["std_acc"] == row["std_acc"]
    # Equal budget: the pool method scores as many templates as an LLM cell may, the LLM cells no more.
    evaluations = {m: [int(x) for x in rows[m]["evaluations"].split()] for m in rows}
    assert evaluations["pool"] == [budget, budget]
    assert all(0 < e <= budget for m in ("none", "pos", "pos+neg") for e in evaluations[m])


def test_an_edited_suite_does_not_mix_settings(tiny_suite, tmp_path, capsys):
    runs = tmp_path / "runs"
    suite = load_suite(tiny_suite)
    cell = cells(suite, runs / "tiny")[0]
    (runs / "tiny" / cell.id).mkdir(parents=True)
    cell.config.model_copy(update={"pool": "clip-imagenet"}).save(runs / "tiny" / cell.id / "config.json")
    assert cli("--runs-dir", str(runs), "bench", str(tiny_suite)) == 2
    assert "another configuration" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\nclips = ["c"]\nmethods = ["magic"]\ndatasets = ["d"]\n', "unknown method(s) magic"),
        ('name = "x"\nclips = ["c"]\ndatasets = ["d"]\n[run]\nseed = 3\n', "[run] cannot set seed"),
        ('name = "x"\nclips = ["c"]\ndatasets = ["d"]\nshots = [0]\n', "shots"),
        ('name = "x"\ndatasets = ["d"]\n', "missing 'clips'"),
        ("name = [", "invalid TOML"),
    ],
)
def test_bad_suite_files_are_one_line_errors(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code = cli("--runs-dir", str(tmp_path / "runs"), "bench", str(path))
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    with pytest.raises(SuiteError):
        load_suite(path)


def test_paper_suite_uses_the_papers_names_and_draw(tmp_path):
    paper = load_suite(ROOT / "suites" / "paper-1shot.toml")
    grid = cells(paper, tmp_path / "paper-1shot")
    assert {(c.config.class_names, c.config.sampler) for c in grid} == {("clip", "coop")}
    assert "few-shot images CoOp's exact draw (coop)" in data_settings(paper)
    tiny = load_suite(TINY)
    assert {(c.config.class_names, c.config.sampler) for c in cells(tiny, tmp_path)} == {
        ("coop", "promptclimb")
    }


def test_published_numbers_are_the_papers():
    liu = published_tables()[0]
    assert "2309.05950" in liu.source and (liu.backbone, liu.shots) == ("RN50", 1)
    assert liu.rows == {
        "zero-shot": {"Average": 55.6},
        "handmade": {"Average": 58.8},
        "CoOp (white-box prompt learning)": {"Average": 59.6},
        "liu2024": {"dtd": 44.8, "Average": 61.1},  # the paper's method: what its released code runs
    }
    assert backbone_of("open_clip:RN50/openai") == "RN50"
    assert backbone_of("openai/clip-vit-base-patch32") == "ViT-B/32"
    assert backbone_of("laion/CLIP-ViT-B-32-laion2B-s34B-b79K") is None  # not the published weights


def paper_like_suite(tmp_path: Path, clip: str, datasets: list[str]) -> Path:
    raw = {
        "name": "p",
        "llm": "scripted:",
        "clips": [clip],
        "seeds": [1, 2, 3],
        "methods": ["zero-shot", "handmade", "clip-ensemble", "pool", "pos", "pos+neg", "liu2024"],
        "datasets": [
            {"name": d, "path": str(tmp_path / d), "layout": "coop", "coop_name": d} for d in datasets
        ],
        "run": {"class_names": "clip", "sampler": "coop", "pool_size": 6, "iterations": 1, "restarts": 1},
    }
    return write_suite(tmp_path / "p.toml", raw)


def test_suite_table_shows_published_numbers_only_where_the_setting_matches(tmp_path):
    eleven = ["ImageNet", "Caltech101", "OxfordPets", "StanfordCars", "Flowers102", "Food101"]
    eleven += ["FGVCAircraft", "SUN397", "DTD", "EuroSAT", "UCF101"]
    rn50 = load_suite(paper_like_suite(tmp_path, "open_clip:RN50/openai", eleven))
    md = markdown(rn50, collect(rn50, {}), {}, pool_size=10)
    lines = md.splitlines()
    assert "Published, not measured here: Liu et al." in md and "RN50, 1-shot" in md
    header = next(line for line in lines if line.startswith("| Method (published) |"))
    assert header.endswith("| UCF101 | Average |")
    published = {
        line.split(" | ")[0][2:]: line
        for line in lines
        if "(published) |" in line and not line.startswith("| Method")
    }
    assert list(published) == [
        'Zero-shot "a photo of a {}." (published)',
        "Hand-made: CoOp's single template (published)",
        "Liu et al. (released code) (published)",
        "CoOp (white-box prompt learning) (published)",
    ]
    averages = [line.rsplit(" | ", 1)[1].rstrip(" |") for line in published.values()]
    assert averages == ["55.6", "58.8", "61.1", "59.6"]
    dashes = [line.count(" - ") for line in published.values()]
    assert dashes == [11, 11, 10, 11]  # no per-dataset number invented: only the recorded DTD cell
    assert "| 44.8 |" in published["Liu et al. (released code) (published)"]
    # The measured rows never carry a published number.
    measured = [line for line in lines if line.startswith("| Hand-made: CoOp's single template |")]
    assert measured and "58.8" not in measured[0]

    # Another backbone: nothing published is shown. Fewer datasets: no published Average either.
    vit = load_suite(paper_like_suite(tmp_path, "openai/clip-vit-base-patch16", eleven))
    assert "Published" not in markdown(vit, collect(vit, {}), {}, pool_size=10)
    two = load_suite(paper_like_suite(tmp_path, "open_clip:RN50/openai", ["EuroSAT", "DTD"]))
    md_two = markdown(two, collect(two, {}), {}, pool_size=10)
    assert "(published) | - | - | - |" in md_two and "55.6" not in md_two


def test_glov_numbers_show_for_vit_b_32_per_dataset_without_an_average(tmp_path):
    eleven = ["ImageNet", "Caltech101", "OxfordPets", "StanfordCars", "Flowers102", "Food101"]
    eleven += ["FGVCAircraft", "SUN397", "DTD", "EuroSAT", "UCF101"]
    vit = load_suite(paper_like_suite(tmp_path, "openai:ViT-B/32", eleven))
    md = markdown(vit, collect(vit, {}), {}, pool_size=10)
    assert "Published, not measured here: Mirza et al., GLOV" in md and "Liu et al., Language" not in md
    rows = {line.split(" | ")[0][2:]: line for line in md.splitlines() if "(published) |" in line}
    glov = rows["GLOV (published)"]
    # Column order of the suite (ImageNet first, EuroSAT and UCF101 last); the source prints no average.
    assert glov.startswith("| GLOV (published) | 64.5 | 93.7 |") and glov.endswith("| 50.8 | 63.8 | - |")
    zero_shot = 'Zero-shot "a photo of a {}." (published)'
    assert rows[zero_shot].startswith(f"| {zero_shot} | 61.9 |")


def test_bench_prints_the_published_table_after_the_measured_one(tmp_path, capsys):
    from promptclimb.cli.bench import print_suite_tables
    from promptclimb.results.suite_tables import write_results

    suite = load_suite(paper_like_suite(tmp_path, "open_clip:RN50/openai", ["EuroSAT"]))
    print_suite_tables(suite, write_results(suite, tmp_path / "runs"))
    out = capsys.readouterr().out
    assert out.index("1-shot, CLIP open_clip:RN50/openai") < out.index("Published, not measured here")
    assert "CoOp (white-box prompt learning) (published)" in out
