"""--class-names and --sampler: saved in the run's config, so resume rebuilds the same names and images."""

from __future__ import annotations

import json
from pathlib import Path

from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.graph.config import RunConfig
from promptclimb.session.classify import load_data
from tests.data_fixtures import _coop_json
from tests.graph_helpers import cli, only_run, show_json
from tests.test_data_classnames import EUROSAT


def make_eurosat(root: Path) -> Path:
    dataset_dir = root / "eurosat"
    dataset_dir.mkdir(parents=True)
    classes = [(name, name) for name in EUROSAT]
    _coop_json(dataset_dir, dataset_dir / "2750", "split_zhou_EuroSAT.json", classes, counts=(4, 2, 1))
    return dataset_dir


def test_paper_names_and_coop_draw_survive_a_resume(tmp_path: Path, tiny_clip: Path, capsys):
    data = make_eurosat(tmp_path)
    runs = tmp_path / "runs"
    coop = load_dataset(data, shots=1, seed=1, sampler="coop")
    assert coop.items("train") != load_dataset(data, shots=1, seed=1).items("train")  # the draws differ

    args = [
        "--runs-dir",
        str(runs),
        "run",
        "--data",
        str(data),
        "--clip",
        str(tiny_clip),
        "--space",
        "templates",
    ]
    args += ["--llm", "scripted:"]
    args += ["--pool", "caption", "--pool-size", "4", "--iterations", "2", "--restarts", "1"]
    args += ["--class-names", "clip", "--sampler", "coop", "--max-llm-calls", "1"]
    assert cli(*args) == 3  # paused by the budget
    run_dir = only_run(runs)
    config = RunConfig.load(run_dir / "config.json")
    assert (config.class_names, config.sampler) == ("clip", "coop")
    dataset = load_data(config)
    assert dataset.classnames == list(EUROSAT.values())
    assert dataset.items("train") == coop.items("train")
    # Resume rebuilds the data from the saved config; data.json would refuse another draw or other names.
    assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "5") == 0
    assert show_json(runs, run_dir, capsys)["status"] == "finished"


def test_old_configs_load_with_todays_defaults(tmp_path: Path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"data": "."}))
    config = RunConfig.load(path)
    assert (config.class_names, config.sampler) == ("coop", "promptclimb")


def test_score_command_takes_the_same_options(tmp_path: Path, tiny_clip: Path, capsys, monkeypatch):
    import promptclimb.session.scoring as session

    data = make_eurosat(tmp_path)
    seen = []
    real = session.load_data
    monkeypatch.setattr(session, "load_data", lambda config: seen.append(config) or real(config))
    args = ["score", "a photo of a {}.", "--data", str(data), "--clip", str(tiny_clip)]
    args += ["--class-names", "clip", "--sampler", "coop", "--cache-dir", str(tmp_path / "cache"), "--json"]
    assert cli(*args) == 0
    assert [(c.class_names, c.sampler) for c in seen] == [("clip", "coop")]
    assert json.loads(capsys.readouterr().out)[0]["n_images"] == 10  # one CoOp-drawn image per class
