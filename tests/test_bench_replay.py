"""bench/replay_classes.py: the product's own rule, replayed on a run's texts, gives back the run's classifier
(the check that makes its other rules' numbers worth reading); bad input is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "replay_classes.py"


@pytest.fixture(scope="module")
def banking(tmp_path_factory: pytest.TempPathFactory):
    from tests.test_text_scorer import write_slice

    return write_slice(tmp_path_factory.mktemp("banking-replay"), {"train": 12, "test": 10})


def replay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def blind_run(banking, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tests.graph_helpers import cli, only_run

    runs, cache = tmp_path_factory.mktemp("replay-runs"), tmp_path_factory.mktemp("replay-cache")
    # module-scoped: set up before the per-test cache isolation, so it names its own cache
    assert cli("--runs-dir", str(runs), "run", "--data", str(banking), "--cache-dir", str(cache), "--scorer",
               "text:sentence-transformers/all-MiniLM-L6-v2", "--llm", "scripted:", "--shots", "2",
               "--iterations", "3", "--restarts", "2", "--pool-size", "3", "--space", "classes",
               "--examples", "0", "--input-texts", "false") == 0  # fmt: skip
    return runs, only_run(runs)


def test_the_products_rule_replays_a_blind_class_run_exactly(banking, blind_run, capsys):
    from tests.graph_helpers import show_json

    runs, run_dir = blind_run
    reported = show_json(runs, run_dir, capsys)["final"]["classes_test_acc"]
    done = replay(str(run_dir), "--data", str(banking), "--rules", "today,all,w=0.5,named")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith(f"| {run_dir.name}"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[-1] == "yes"  # the replayed "today" keeps exactly the run's texts
    assert float(cells[2].split()[0]) == pytest.approx(100 * reported, abs=0.05)


def test_a_replay_on_other_data_is_refused_in_one_line(banking, blind_run, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    for split in ("train.csv", "test.csv"):  # one class renamed: the run was not made on this data
        (other / split).write_text((banking / split).read_text().replace("card_arrival", "card_arriving"))
    done = replay(str(blind_run[1]), "--data", str(other))
    assert done.returncode != 0 and done.stderr.strip().startswith("error:")
    assert len(done.stderr.strip().splitlines()) == 1
