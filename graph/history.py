"""A bounded checkpoint history that still allows rewinding to each iteration, for SQLite and PostgreSQL.

Every checkpoint holds the whole state (the leaderboard grows with the run), so keeping them all would grow
the store quadratically. After each step we keep, on the current branch of the root namespace:

- the newest ``KEEP_NEWEST`` checkpoints (a resume needs the latest; a kill mid-step leaves its writes on it);
- the first checkpoint of each *boundary*: for a classification run the one where the pool had been scored,
  the end of each LLM iteration and the start of each restart (``classify_boundary``: one checkpoint per
  iteration, against four or more written); for text-to-image runs each phase.

Checkpoints off the current branch (the abandoned one after a rewind) are dropped. The kept ones are relinked
into a chain (each one's parent is the previous kept one), so ``get_state_history`` lists a valid history
and forking from any of them works. Sub-graph namespaces (``checkpoint_ns`` other than ""), which concurrent
restarts may write while a step is in flight, keep their newest ``KEEP_NEWEST`` checkpoints each: a running
sub-graph resumes from its latest checkpoint, which is never deleted.

LangGraph 1.2 / langgraph-checkpoint 4.3 have no public call that deletes single checkpoints: a saver offers
``delete_thread``, ``delete_for_runs`` and ``prune(strategy="keep_latest" | "delete")`` (PostgreSQL only),
none of which keeps restart boundaries. So *what* to keep is chosen through the public API (``saver.list``,
the tuples' parent configs and channel values), and the deletion itself is a few statements on each saver's
own tables (``_forget_sqlite``, ``_forget_postgres``): the least private route there is. Our graphs use no
DeltaChannel, so no kept checkpoint needs a deleted ancestor to rebuild its values.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver

KEEP_NEWEST = 3
PRUNE_EVERY_S = 0.5  # while concurrent lanes climb (see pruning_in_background); ~20 ms a time
log = logging.getLogger(__name__)
_PRUNING = threading.Lock()  # one plan-and-delete at a time (the driving loop and the background pruner)
Boundary = Callable[[dict[str, Any]], Hashable]


def classify_boundary(values: dict[str, Any]) -> Hashable:
    """A classification run's boundaries: the scored pool, the end of each LLM iteration (``rewind --to``)
    and the start of each restart (``rewind --restart``)."""
    return values.get("restart"), bool(values.get("candidates")), values.get("iterations_done")


def t2i_boundary(values: dict[str, Any]) -> Hashable:
    return values.get("phase")


def checkpoint_id(item: CheckpointTuple) -> str:
    return item.config["configurable"]["checkpoint_id"]


def parent_id(item: CheckpointTuple) -> str | None:
    return item.parent_config["configurable"]["checkpoint_id"] if item.parent_config else None


def lineage(items: list[CheckpointTuple]) -> list[CheckpointTuple]:
    """The current branch of one namespace, newest first: the newest checkpoint and its ancestors."""
    if not items:
        return []
    by_id = {checkpoint_id(t): t for t in items}
    newest = max(by_id)  # checkpoint ids sort by time (uuid6), as LangGraph picks the latest
    branch, seen, node = [], set(), by_id.get(newest)
    while node is not None and checkpoint_id(node) not in seen:
        branch.append(node)
        seen.add(checkpoint_id(node))
        node = by_id.get(parent_id(node) or "")
    return branch


def plan_history(
    items: list[CheckpointTuple], boundary: Boundary | None, keep: int = KEEP_NEWEST
) -> tuple[list[str], list[tuple[str, str | None]]]:
    """(ids to delete, (id, new parent id) relinks) for one namespace."""
    branch = lineage(items)
    kept = {checkpoint_id(t) for t in branch[:keep]}
    if boundary is not None:
        seen: set[Hashable] = set()
        for item in reversed(branch):  # oldest first: the first checkpoint of each boundary
            key = boundary(item.checkpoint.get("channel_values") or {})
            if key not in seen:
                seen.add(key)
                kept.add(checkpoint_id(item))
    chain = [t for t in reversed(branch) if checkpoint_id(t) in kept]
    relinks, previous = [], None
    for item in chain:
        if parent_id(item) != previous:
            relinks.append((checkpoint_id(item), previous))
        previous = checkpoint_id(item)
    drop = sorted(checkpoint_id(t) for t in items if checkpoint_id(t) not in kept)
    return drop, relinks


def prune_history(
    saver: BaseCheckpointSaver, thread: dict[str, Any], boundary: Boundary | None, keep: int = KEEP_NEWEST
) -> int:
    """Bound the thread's history (module docstring); returns how many checkpoints were deleted."""
    thread_id = thread["configurable"]["thread_id"]
    with _PRUNING:
        by_ns: dict[str, list[CheckpointTuple]] = {}
        for item in saver.list({"configurable": {"thread_id": thread_id}}):
            by_ns.setdefault(item.config["configurable"].get("checkpoint_ns", ""), []).append(item)
        deleted = 0
        for ns, items in by_ns.items():
            drop, relinks = plan_history(items, boundary if ns == "" else None, keep)
            if drop or relinks:
                forget(saver, thread_id, ns, drop, relinks)
                deleted += len(drop)
    return deleted


Relinks = list[tuple[str, str | None]]


def forget(saver: BaseCheckpointSaver, thread_id: str, ns: str, drop: list[str], relinks: Relinks) -> None:
    """Delete checkpoints (their writes, unshared blobs) and relink the kept ones, in one transaction."""
    if isinstance(saver, SqliteSaver):
        _forget_sqlite(saver, thread_id, ns, drop, relinks)
    else:
        _forget_postgres(saver, thread_id, ns, drop, relinks)


def _forget_sqlite(saver: SqliteSaver, thread_id: str, ns: str, drop: list[str], relinks: Relinks) -> None:
    key = "thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
    with saver.lock, saver.conn:
        saver.conn.executemany(
            f"UPDATE checkpoints SET parent_checkpoint_id = ? WHERE {key}",
            [(parent, thread_id, ns, child) for child, parent in relinks],
        )
        rows = [(thread_id, ns, c) for c in drop]
        saver.conn.executemany(f"DELETE FROM writes WHERE {key}", rows)
        saver.conn.executemany(f"DELETE FROM checkpoints WHERE {key}", rows)


# Blobs (PostgreSQL keeps channel values apart, shared by every checkpoint whose channel_versions name them):
# those named by a deleted checkpoint and by no kept one. The newest checkpoint is always kept, so a blob a
# step in flight is about to reference again is never among them.
_DELETE_BLOBS = """
DELETE FROM checkpoint_blobs b
USING (
    SELECT DISTINCT v.key AS channel, v.value AS version
    FROM checkpoints c, jsonb_each_text(c.checkpoint -> 'channel_versions') v
    WHERE c.thread_id = %(t)s AND c.checkpoint_ns = %(ns)s AND c.checkpoint_id = ANY(%(drop)s)
) d
WHERE b.thread_id = %(t)s AND b.checkpoint_ns = %(ns)s AND b.channel = d.channel AND b.version = d.version
AND NOT EXISTS (
    SELECT 1 FROM checkpoints k, jsonb_each_text(k.checkpoint -> 'channel_versions') kv
    WHERE k.thread_id = %(t)s AND k.checkpoint_ns = %(ns)s AND NOT (k.checkpoint_id = ANY(%(drop)s))
    AND kv.key = b.channel AND kv.value = b.version
)
"""


def _forget_postgres(saver: Any, thread_id: str, ns: str, drop: list[str], relinks: Relinks) -> None:
    args = {"t": thread_id, "ns": ns, "drop": drop}
    key = "thread_id = %(t)s AND checkpoint_ns = %(ns)s"
    with saver.lock, saver.conn.transaction(), saver.conn.cursor() as cur:
        for child, parent in relinks:
            cur.execute(
                f"UPDATE checkpoints SET parent_checkpoint_id = %(p)s WHERE {key} AND checkpoint_id = %(c)s",
                {**args, "p": parent, "c": child},
            )
        if drop:
            cur.execute(_DELETE_BLOBS, args)
            cur.execute(f"DELETE FROM checkpoint_writes WHERE {key} AND checkpoint_id = ANY(%(drop)s)", args)
            cur.execute(f"DELETE FROM checkpoints WHERE {key} AND checkpoint_id = ANY(%(drop)s)", args)


def branch(saver: BaseCheckpointSaver, thread: dict[str, Any]) -> Iterable[CheckpointTuple]:
    """The root namespace's current branch, oldest first (what rewinding chooses from)."""
    root = {"configurable": {**thread["configurable"], "checkpoint_ns": ""}}
    return reversed(lineage(list(saver.list(root))))


@contextmanager
def pruning_in_background(
    saver: BaseCheckpointSaver,
    thread: dict[str, Any],
    boundary: Boundary | None,
    every_s: float = PRUNE_EVERY_S,
) -> Iterator[None]:
    """Prune every ``every_s`` seconds while the block runs.

    Concurrent lanes run inside one superstep of the run, and LangGraph hands their updates to the driving
    loop in bursts (often only when a lane ends): pruning there alone would let each lane's namespace grow
    for its whole climb. Safe beside the writers: the newest checkpoint of each namespace is never deleted,
    and a checkpoint being written has it as its parent.
    """
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            try:
                prune_history(saver, thread, boundary)
            except Exception:  # best effort: the driving loop prunes too, and reports its failures
                log.debug("background pruning failed", exc_info=True)

    worker = threading.Thread(target=loop, name="prune-checkpoints", daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()
