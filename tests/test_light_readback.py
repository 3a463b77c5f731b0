"""show and list read runs without the heavy stack: the checkpoint's values straight from the saver, the
same as the compiled graph's snapshot, and no model, node or LLM module imported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from promptclimb.graph.checkpoint import open_checkpointer, read_saved_state, read_state, thread_of, where
from promptclimb.graph.state import OptimState
from promptclimb.graph.wiring import build_graph
from tests.conftest import ROOT
from tests.graph_helpers import cli, only_run, run_args

REFERENCE_RUN = ROOT / "tests" / "reference" / "run-0.2.0"  # paused: its last task's error is a pending write
# the models, the nodes (LangGraph's graph and runtime), the LLM clients
HEAVY = (
    "torch",
    "transformers",
    "numpy",
    "PIL",
    "langgraph.graph",
    "langgraph.runtime",
    "openai",
    "langchain_openai",
)


def both_reads(run_dir: Path) -> tuple[dict, dict]:
    thread, place = thread_of(run_dir), where(run_dir)
    with open_checkpointer(run_dir, readonly=True) as saver:
        from_graph = read_state(build_graph(saver), thread, OptimState, place)
        return read_saved_state(saver, thread, OptimState, place), from_graph


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, tiny_clip: Path) -> tuple[Path, Path]:
    runs = tmp_path_factory.mktemp("light") / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "1", "--restarts", "2")) == 0
    return runs, only_run(runs)


def test_the_saver_gives_the_graphs_values(finished_run, tmp_path):
    reference = shutil.copytree(REFERENCE_RUN, tmp_path / REFERENCE_RUN.name)  # reading may add -wal files
    for run_dir in (reference, finished_run[1]):
        saved, from_graph = both_reads(run_dir)
        assert saved and saved == from_graph, run_dir.name


def test_a_write_only_the_graph_can_apply_sends_the_reader_to_the_graph(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run[1], run_dir)
    with open_checkpointer(run_dir) as saver:
        saved = saver.get_tuple(thread_of(run_dir))
        saver.put_writes(saved.config, [("iteration", 99)], "a-task-that-finished")
    saved, from_graph = both_reads(run_dir)
    assert saved is None and from_graph


@pytest.mark.parametrize("argv", [["list"], ["list", "--json"], ["show", "RUN"], ["show", "RUN", "--json"]])
def test_show_and_list_import_no_model_node_or_llm_module(finished_run, argv):
    runs, run_dir = finished_run
    argv = [run_dir.name if a == "RUN" else a for a in argv]
    code = (
        "import sys\nfrom promptclimb.cli.main import main\n"
        f"code = main(['--runs-dir', {str(runs)!r}, *{argv!r}])\n"
        f"print('RESULT', code, [m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    last = result.stdout.strip().splitlines()[-1]
    assert last == "RESULT 0 []", result.stdout[-2000:] + result.stderr[-2000:]
    if argv[-1] == "--json":  # and the same answer as before
        body = result.stdout.rsplit("RESULT", 1)[0]
        assert json.loads(body)
