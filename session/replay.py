"""``promptclimb replay RUN``: re-drive a run from its stored LLM replies in ``RUN-replay``, no LLM call.

What is read and compared is results/replay.py's; this is the run's life around it: the consent gate (the
run's config.json chooses the scorer to load), the replay directory, the scripted LLM, the drive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptclimb.graph.config import RunConfig
from promptclimb.graph.runs import CONFIG_FILE, append_log, load_config, read_calls_checked, write_status
from promptclimb.results.replay import (
    MARKER_FILE,
    REPLIES_FILE,
    ReplayResult,
    compare,
    replay_config,
    replay_dir_for,
    stored_replies,
)
from promptclimb.results.summary import summarize
from promptclimb.session.classify import KIND, execute, load_inputs, make_context, open_models
from promptclimb.session.consent import Trust, check_code_consent


def prepare_replay(
    run_dir: Path, original: dict[str, Any], texts: list[dict[str, Any]]
) -> tuple[Path, RunConfig]:
    """A fresh ``RUN-replay`` directory whose LLM is the ``scripted:`` provider fed with ``texts``."""
    config = load_config(run_dir)
    target = replay_dir_for(run_dir)
    target.mkdir(parents=True)
    (target / MARKER_FILE).write_text(
        json.dumps({"replay_of": str(run_dir.resolve()), "replies": len(texts)}) + "\n"
    )
    replies_path = target / REPLIES_FILE
    replies_path.write_text("".join(json.dumps(t) + "\n" for t in texts))
    new_config = replay_config(config, replies_path.resolve(), original["status"], len(texts))
    write_status(target, "paused", "not started yet")
    new_config.save(target / CONFIG_FILE)
    append_log(target, [f"replay of {run_dir} with {len(texts)} stored replies (no LLM call)"])
    return target, new_config


def replay(run_dir: Path, on_update: Any = None, trust: Trust | None = None) -> ReplayResult:
    check_code_consent(KIND, load_config(run_dir), trust or Trust())
    original = summarize(run_dir)
    texts, log_matched = stored_replies(run_dir, original)
    skipped = read_calls_checked(run_dir)[1]
    target, new_config = prepare_replay(run_dir, original, texts)
    dataset, pool = load_inputs(new_config)
    with open_models(new_config) as (backbone, backend):
        context = make_context(new_config, target, dataset, backbone, backend)
        status, reason = execute(target, context, pool, on_update or (lambda node, update: None))
    replayed = summarize(target)
    diffs = compare(original, replayed)
    final_same = None
    if original["final"] is not None or replayed["final"] is not None:
        final_same = original["final"] == replayed["final"]
    return ReplayResult(
        run_dir, target, status, reason, len(texts), not diffs, diffs, final_same, log_matched, skipped
    )
