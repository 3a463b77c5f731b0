"""A benchmark suite's cells, run with models shared by the cells of one invocation (results/suite.py
describes the suite and its grid; session/distributed.py runs the same cells as Ray tasks).

The cell runs the suite file's configuration, never its config.json's: a cell whose saved configuration
differs is refused, so a cell directory chooses no model, endpoint or code (session/consent.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptclimb.graph.checkpoint import STORE_FILE, mark_new_run, thread_id_of, thread_taken
from promptclimb.graph.config import RunConfig
from promptclimb.graph.runs import CONFIG_FILE, load_config, read_status, write_status
from promptclimb.results.suite import Cell, Suite, SuiteError, cells, comparable
from promptclimb.session.driver import INTERRUPTED


class SerializedEncoder:
    """One scorer model shared by concurrent cells, its encoding calls made one at a time.

    Why: a Hugging Face fast tokenizer is one Rust object that two threads cannot use at once (transformers
    sets its truncation and padding on every call, and the second caller gets "RuntimeError: Already
    borrowed", huggingface/transformers#47085); and on a CPU one forward pass already keeps every core busy
    (torch's intra-op threads), so two at once only oversubscribe them. Cache reads, classification and the
    LLM waits, where concurrency pays, never take this lock. Everything else is the model's own.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def encode_inputs(self, items: Sequence[Any]) -> Any:
        with self.lock:
            return self.inner.encode_inputs(items)

    def encode_text_groups(self, groups: Sequence[Sequence[str]]) -> Any:
        with self.lock:
            return self.inner.encode_text_groups(groups)


class Models(ExitStack):
    """Scorer backbones and LLM backends shared by the cells of one bench invocation, loaded on first use
    (a suite whose cells are all finished loads nothing). Safe to call from concurrent cells: each model is
    loaded once (the lock is held while loading: a second cell waits for the first one's model)."""

    def __init__(self) -> None:
        super().__init__()
        self._clips: dict[tuple, Any] = {}
        self._llms: dict[tuple, Any] = {}
        self._loading = threading.Lock()

    def clip(self, config: RunConfig) -> Any:
        from promptclimb.evaluators.classify.registry import load_backbone

        key = (config.scorer_spec(), config.device, config.precision)
        with self._loading:
            if key not in self._clips:
                backbone = load_backbone(key[0], device=config.device, precision=config.precision)
                self._clips[key] = SerializedEncoder(backbone)
            return self._clips[key]

    def llm(self, config: RunConfig) -> Any:
        # Shared across cells: generated scripted replies depend only on (conversation, seed), and a real
        # model is stateless per request; only an embedded server is worth not restarting per cell.
        from promptclimb.llm.backends import open_backend

        key = (config.llm, config.llm_base_url, config.llm_api_key_env, config.temperature)
        with self._loading:
            if key not in self._llms:
                options = config.backend_options()
                self._llms[key] = self.enter_context(open_backend(config.llm, **options))  # type: ignore[arg-type]
            return self._llms[key]


@dataclass
class CellOutcome:
    cell: Cell
    status: str  # finished | paused | failed
    reason: str | None
    skipped: bool  # already finished before this invocation: nothing was loaded or run
    random_weights: str | None = None  # the scorer spec, when the cell ran it without weights


def prepare_cell_dir(suite_dir: Path, cell: Cell) -> Path:
    run_dir = suite_dir / cell.id
    if (run_dir / CONFIG_FILE).is_file():
        if comparable(load_config(run_dir)) != comparable(cell.config):
            raise SuiteError(
                f"cell {cell.id} was run with another configuration than the suite now asks for; "
                f"delete {run_dir} or give the suite another name"
            )
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / STORE_FILE).is_file():  # (a directory an interrupted first attempt left is reused)
        if thread_taken(thread_id_of(run_dir, cell=True)):
            raise SuiteError(
                f"cell {cell.id} of suite {suite_dir.name} already has checkpoints in the PostgreSQL store "
                "(a suite of that name in another runs directory?); give the suite another name"
            )
        mark_new_run(run_dir, cell=True)  # with --checkpoints postgresql://...: the cell's thread there
    write_status(run_dir, "paused", "not started yet")
    cell.config.save(run_dir / CONFIG_FILE)  # last: a directory with a config is a resumable run
    return run_dir


def run_cell(
    suite_dir: Path, cell: Cell, models: Models, on_update: Callable[[str, dict[str, Any]], None]
) -> CellOutcome:
    from promptclimb.session.classify import execute, load_inputs, make_context

    run_dir = prepare_cell_dir(suite_dir, cell)
    status, reason = read_status(run_dir)
    if status == "finished":
        return CellOutcome(cell, status, reason, skipped=True)
    dataset, pool = load_inputs(cell.config)
    backbone = models.clip(cell.config)
    backend = models.llm(cell.config) if cell.needs_llm else None
    context = make_context(cell.config, run_dir, dataset, backbone, backend)
    # The pool is always passed: the graph ignores it once the run has a checkpoint, and needs it when an
    # earlier attempt stopped before the first one.
    status, reason = execute(run_dir, context, pool, on_update)
    if reason == INTERRUPTED:
        raise KeyboardInterrupt
    # Returned, not only logged: a Ray worker's log never reaches the driver, its return value does.
    random = cell.clip if backbone.random_weights else None
    return CellOutcome(cell, status, reason, skipped=False, random_weights=random)


def run_suite(
    suite: Suite,
    runs_dir: Path,
    on_cell: Callable[[Cell, int, int], None] | None = None,
    on_update: Callable[[str, dict[str, Any]], None] | None = None,
    jobs: int = 1,
) -> Iterator[CellOutcome]:
    """Run, resume or skip every cell, yielding each outcome; a KeyboardInterrupt (inside a cell, which is
    then paused, or between cells) stops the suite, resumable. ``jobs`` > 1 runs that many cells at once
    (run_cells_threaded); outcomes then come in the order cells end."""
    suite_dir = runs_dir / suite.name
    grid = cells(suite, suite_dir)
    suite_dir.mkdir(parents=True, exist_ok=True)
    updates = on_update or (lambda node, update: None)
    with Models() as models:
        if jobs > 1:
            yield from run_cells_threaded(suite_dir, grid, models, jobs, on_cell, updates)
            return
        for k, cell in enumerate(grid):
            if on_cell is not None:
                on_cell(cell, k, len(grid))
            yield run_cell(suite_dir, cell, models, updates)


class _Stopped(Exception):
    """A queued cell that was not started because the suite is stopping."""


def run_cells_threaded(
    suite_dir: Path,
    grid: list[Cell],
    models: Models,
    jobs: int,
    on_cell: Callable[[Cell, int, int], None] | None,
    on_update: Callable[[str, dict[str, Any]], None],
) -> Iterator[CellOutcome]:
    """Run the cells on ``jobs`` threads sharing ``models``, yielding each outcome as its cell ends.

    Threads pay because a cell mostly waits: on the LLM (I/O), or in torch, which releases the GIL. Each
    cell is still its own run (own directory, lock, checkpoints, call log). A KeyboardInterrupt reaches only
    the main thread: it sets ``stop``, every running cell pauses at its next checkpointed step (resumable,
    like a Ctrl-C in a sequential suite), queued cells are not started, and it is raised again here once
    all threads have ended. A SuiteError (an edited suite) stops the suite the same way, then is raised.
    """
    stop = threading.Event()

    def stoppable(node: str, update: dict[str, Any]) -> None:
        on_update(node, update)
        if stop.is_set():
            raise KeyboardInterrupt  # in this cell's thread: supervise() records it paused

    def one(k: int, cell: Cell) -> CellOutcome:
        if stop.is_set():
            raise _Stopped
        if on_cell is not None:
            on_cell(cell, k, len(grid))
        return run_cell(suite_dir, cell, models, stoppable)

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="cell")
    pending: set[Future[CellOutcome]] = {pool.submit(one, k, cell) for k, cell in enumerate(grid)}
    failure: BaseException | None = None
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                error = future.exception()
                if error is None:
                    yield future.result()
                elif not isinstance(error, _Stopped) and failure is None:
                    failure = error  # an interrupted cell (KeyboardInterrupt) or a SuiteError
                    stop.set()
    except BaseException as error:  # Ctrl-C in the main thread, or the caller closed the generator
        failure = failure or error
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=failure is not None)
    if failure is not None:
        raise failure
