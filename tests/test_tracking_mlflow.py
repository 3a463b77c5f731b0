"""--track mlflow on a local file store: the config as params, one metric step per scored step, the call log
and summary as artifacts, one MLflow run across a pause and its resume; failures never stop the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptclimb.session import tracking
from tests.graph_helpers import cli, only_run, run_args, summary

pytest.importorskip("mlflow")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local MLflow store; MLFLOW_ALLOW_FILE_STORE unset (the tracker opts in) and restored afterwards."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "false")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    return tmp_path / "mlruns"


def client(store: Path) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=store.resolve().as_uri())


def steps(mlflow: Any, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in mlflow.get_metric_history(run_id, key))


def test_a_paused_and_resumed_run_is_one_mlflow_run(store, tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "2", "--track", f"mlflow:{store}")
    assert cli(*args, "--max-llm-calls", "2") == 3  # paused by the budget after two LLM iterations
    run_dir = only_run(runs)
    saved = json.loads((run_dir / "config.json").read_text())["track"]
    assert saved == f"mlflow:{store.resolve().as_uri()}"  # absolute: a resume from elsewhere finds it
    run_id = json.loads((run_dir / tracking.TRACKING_FILE).read_text())["run_id"]
    mlflow = client(store)
    paused = mlflow.get_run(run_id)
    assert paused.info.status == "KILLED" and paused.data.tags["promptclimb.status"] == "paused"
    assert paused.data.params["iterations"] == "2" and paused.data.params["max_llm_calls"] == "2"
    assert steps(mlflow, run_id, "best_selection_acc") == [0, 1, 2]  # the pool, then each iteration

    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "resume", run_dir.name, "--max-llm-calls", "10") == 2
    err = capsys.readouterr().err  # a store read back from config.json is the run's choice, local or not
    assert "MLflow tracking" in err and "--track" in err and len(err.strip().splitlines()) == 1
    again = ("resume", run_dir.name, "--max-llm-calls", "10", "--track", f"mlflow:{store}")
    assert cli("--runs-dir", str(runs), *again) == 0  # given anew: the user's own store
    assert json.loads((run_dir / tracking.TRACKING_FILE).read_text())["run_id"] == run_id
    (experiment,) = [e for e in mlflow.search_experiments() if e.name == tracking.EXPERIMENT]
    assert [r.info.run_id for r in mlflow.search_runs([experiment.experiment_id])] == [run_id]
    done = mlflow.get_run(run_id)
    assert done.info.status == "FINISHED" and done.data.tags["promptclimb.status"] == "finished"
    assert done.info.run_name == run_dir.name
    assert steps(mlflow, run_id, "best_selection_acc") == [0, 1, 2, 3, 4]
    assert steps(mlflow, run_id, "llm_calls") == [0, 1, 2, 3, 4]  # 0 calls at the scored pool
    final = summary(run_dir)
    assert done.data.metrics["llm_calls"] == final["llm_calls"] == 4
    assert done.data.metrics["best_selection_acc"] == pytest.approx(final["leaderboard"][0]["selection_acc"])
    assert done.data.metrics["test_acc"] == pytest.approx(final["final"]["selected_test_acc"])
    artifacts = {a.path for a in mlflow.list_artifacts(run_id)}
    assert {"llm_calls.jsonl", "config.json", "run.json", "summary.json"} <= artifacts
    calls = Path(mlflow.download_artifacts(run_id, "llm_calls.jsonl", str(tmp_path / "down")))
    assert calls.read_text() == (run_dir / "llm_calls.jsonl").read_text()


def test_a_resumed_class_specific_run_logs_every_step(store, tmp_path, tiny_clip):
    """A resumed drive's updates carry only what changed: the tracker starts from the saved state."""
    runs = tmp_path / "runs"
    extra = ("--space", "classes", "--iterations", "2", "--restarts", "2", "--track", f"mlflow:{store}")
    assert cli(*run_args(runs, tiny_clip, *extra), "--max-llm-calls", "2") == 3
    run_dir = only_run(runs)
    again = ("resume", run_dir.name, "--max-llm-calls", "10", "--trust-run-llm")  # consent to its own store
    assert cli("--runs-dir", str(runs), *again) == 0
    run_id = json.loads((run_dir / tracking.TRACKING_FILE).read_text())["run_id"]
    mlflow = client(store)
    assert steps(mlflow, run_id, "best_selection_acc") == [0, 1, 2, 3, 4]
    assert steps(mlflow, run_id, "classes_selection_acc") == [1, 2, 3, 4]


def test_tracking_failures_never_stop_the_run(store, tmp_path, tiny_clip, monkeypatch):
    from mlflow.tracking import MlflowClient

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the tracking server is gone")

    monkeypatch.setattr(MlflowClient, "log_batch", broken)
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "1", "--restarts", "1", "--track", f"mlflow:{store}")
    assert cli(*args) == 0
    run_dir = only_run(runs)
    assert summary(run_dir)["status"] == "finished"
    lines = (run_dir / "run.log").read_text().splitlines()
    assert sum("MLflow tracking failed" in line for line in lines) == 1  # said once, then untracked


def test_bad_or_impossible_tracking_is_refused_before_anything_is_created(store, tmp_path, tiny_clip, capsys,
                                                                          monkeypatch):  # fmt: skip
    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--track", "wandb")) == 2
    assert "--track takes mlflow or mlflow:URI" in capsys.readouterr().err
    assert cli(*run_args(runs, tiny_clip, "--track", "mlflow:https://me:secret@mlflow.example")) == 2
    assert "password" in capsys.readouterr().err
    real = tracking.importlib.util.find_spec
    monkeypatch.setattr(
        tracking.importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    assert cli(*run_args(runs, tiny_clip, "--track", "mlflow")) == 2
    err = capsys.readouterr().err
    assert "pip install 'promptclimb[mlflow]'" in err and len(err.strip().splitlines()) == 1
    assert not runs.exists() or not any(runs.iterdir())


def test_a_remote_store_read_back_from_config_json_needs_consent(store, tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "1", "--restarts", "1", "--max-llm-calls", "0")
    assert cli(*args) == 3
    run_dir = only_run(runs)
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, "track": "mlflow:https://tracker.example"}))
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "resume", run_dir.name) == 2
    err = capsys.readouterr().err
    assert "tracker.example" in err and "--trust-run-llm" in err and "--track" in err
    # Given anew on the command line, the store is the user's choice (here: tracking turned off).
    again = ("resume", run_dir.name, "--track", "none", "--max-llm-calls", "5")
    assert cli("--runs-dir", str(runs), *again) == 0
    assert json.loads((run_dir / "config.json").read_text())["track"] is None


def test_a_store_is_resolved_once_where_the_run_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert tracking.resolve("mlflow", env={}) == f"mlflow:{(tmp_path / 'mlruns').as_uri()}"
    assert tracking.resolve("mlflow", env={"MLFLOW_TRACKING_URI": "http://h:5000"}) == "mlflow:http://h:5000"
    assert tracking.resolve("mlflow:file:./x", env={}) == f"mlflow:{(tmp_path / 'x').as_uri()}"
    assert tracking.resolve("mlflow:sqlite:///m.db", env={}) == f"mlflow:sqlite:///{tmp_path / 'm.db'}"
    assert tracking.resolve("none") is None and tracking.resolve(None) is None


def test_a_text_to_image_run_is_tracked_across_its_pause_and_resume(store, tmp_path, monkeypatch, capsys):
    """t2i --track: the phase's best score per scored iteration, the final score and the baseline, the report
    and the final image as artifacts, one MLflow run across a pause (image budget) and its resume."""
    from tests.fake_images_server import FakeImagesServer
    from tests.t2i_helpers import QUERY, endpoints, show, t2i

    monkeypatch.setenv("PROMPTCLIMB_TEST_IMAGES_KEY", "sk-test")
    runs = tmp_path / "runs"
    with FakeImagesServer() as server:
        args = ["--iterations", "2", "--keep-going", "--max-images", "2", "--track", f"mlflow:{store}"]
        assert t2i(runs, "t2i", QUERY, *args, *endpoints(server)) == 3
        run_dir = only_run(runs)
        run_id = json.loads((run_dir / tracking.TRACKING_FILE).read_text())["run_id"]
        mlflow = client(store)
        assert mlflow.get_run(run_id).info.status == "KILLED"
        config = json.loads((run_dir / "config.json").read_text())
        planted = {**config, "track": "mlflow:https://tracker.example"}  # read back: someone else's choice
        (run_dir / "config.json").write_text(json.dumps(planted))
        capsys.readouterr()
        given = ("--generator-base-url", server.base_url, "--llm-base-url", server.base_url)
        assert t2i(runs, "resume", run_dir.name, *given, "--max-images", "10") == 2
        assert "tracker.example" in capsys.readouterr().err
        (run_dir / "config.json").write_text(json.dumps(config))
        assert t2i(runs, "resume", run_dir.name, "--max-images", "10", "--trust-run-llm") == 0
    s = show(runs, run_dir, capsys)
    done = mlflow.get_run(run_id)
    assert done.info.status == "FINISHED" and done.data.params["kind"] == "t2i"
    assert steps(mlflow, run_id, "best_t2i_score") == [0, 1, 2]  # the query's image, then each iteration
    assert done.data.metrics["score"] == pytest.approx(s["final"]["score"])
    assert done.data.metrics["baseline"] == pytest.approx(s["final"]["baseline"])
    assert done.data.metrics["images"] == s["images"]["images"] == 5
    artifacts = {a.path for a in mlflow.list_artifacts(run_id)}
    assert {"llm_calls.jsonl", "summary.json", "report.md", "report.html", "final"} <= artifacts
    (image,) = mlflow.list_artifacts(run_id, "final")
    assert Path(image.path).name == Path(s["final"]["image"]).name
