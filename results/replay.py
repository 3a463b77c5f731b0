"""``promptclimb replay RUN``: what a replay reads and compares (session/replay.py drives it).

The run is re-executed in a fresh directory ``RUN-replay`` with the same config, except that the LLM is
the ``scripted:`` provider fed with the replies the run actually used, in order (from llm_calls.jsonl);
CLIP scores come from the feature cache. The replayed leaderboard is then compared with the original.

Which logged calls were used: normally every successful one, in order. A run killed while a call was in
flight logged that call although its step was never checkpointed (the resumed run asked again); those
orphan attempts are recognised in the log (results/calllog.py) and left out. Either way the replayed
leaderboard is compared with the original, so a replay that is not exact says so.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptclimb.errors import UserError
from promptclimb.graph.config import RunConfig
from promptclimb.graph.runs import (
    read_calls,
)
from promptclimb.llm.records import LLMCall
from promptclimb.results.calllog import used_attempts

log = logging.getLogger(__name__)

REPLIES_FILE = "replies.jsonl"
MARKER_FILE = "replay.json"
COMPARED = ("template", "train_acc", "val_acc", "source", "restart", "iteration")


class ReplayError(UserError, ValueError):
    """A run that cannot be replayed; the one-line message says why."""


def used_calls(calls: list[LLMCall], counted_calls: int) -> tuple[list[LLMCall], bool]:
    """The logged calls the run's checkpointed steps consumed, in order, and whether the log matched."""
    groups, matched = used_attempts(calls, counted_calls)
    return [c for g in groups for c in g.calls], matched


def stored_replies(run_dir: Path, summary: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The replies to feed the scripted provider (successful used calls, in order, each with the request it
    answered: concurrent restarts ask in no fixed order), and the match flag."""
    counted = summary["usage"]["calls"] if summary["usage"] else 0
    calls, matched = used_calls(read_calls(run_dir), counted)
    return [{"reply": c.reply, "request": c.request} for c in calls if c.reply is not None], matched


def replay_dir_for(run_dir: Path) -> Path:
    target = run_dir.parent / f"{run_dir.name}-replay"
    if target.exists():
        if not (target / MARKER_FILE).is_file():
            raise ReplayError(f"{target} exists and is not a replay made by promptclimb; move it away first")
        shutil.rmtree(target)  # a replay is derived data: rebuilt from scratch every time
    return target


def replay_config(original: RunConfig, replies_path: Path, status: str, n_replies: int) -> RunConfig:
    # A finished run ends by itself; an unfinished one must stop where it stopped, not ask for more.
    limit = None if status == "finished" else n_replies
    return original.model_copy(
        update={
            "llm": f"scripted:{replies_path}",
            "llm_base_url": None,
            "llm_api_key_env": None,
            "max_llm_calls": limit,
            "max_cost": None,
        }
    )


def leaderboard_view(summary: dict[str, Any]) -> list[tuple]:
    return [tuple(row.get(k) for k in COMPARED) for row in summary["leaderboard"]]


@dataclass
class ReplayResult:
    original: Path
    replay: Path
    status: str
    reason: str | None
    replies: int
    identical: bool
    differences: list[str] = field(default_factory=list)
    final_identical: bool | None = None
    log_matched: bool = True  # the call log matched the state's call count (no ambiguity about orphans)
    warnings: list[str] = field(default_factory=list)  # e.g. cut lines of the call log that were skipped


def compare(original: dict[str, Any], replayed: dict[str, Any]) -> list[str]:
    """Human-readable differences between two leaderboards (templates and accuracies), at most 10."""
    a, b = leaderboard_view(original), leaderboard_view(replayed)
    diffs = []
    if len(a) != len(b):
        diffs.append(f"{len(a)} templates in the original, {len(b)} in the replay")
    for i, (x, y) in enumerate(zip(a, b, strict=False), 1):
        if x != y:
            diffs.append(
                f"#{i}: original {dict(zip(COMPARED, x, strict=True))} "
                f"!= replay {dict(zip(COMPARED, y, strict=True))}"
            )
    return diffs[:10]
