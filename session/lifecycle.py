"""Start and resume a run of either kind: the steps in order, with the models open while the caller drives.

    start:  check the inputs, open the models, check the endpoint, create the run directory, make the context
    resume: refuse a locked or finished run, apply the options given anew, ask consent for what the run's
            config.json chose, check the data, open the models, save the new options under the run's lock

Then ``Session.drive`` hands the run to the kind-neutral driver, and ``Session.summary`` reads it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptclimb.graph.checkpoint import RunLocked, is_locked
from promptclimb.graph.runs import check_progress_kept, read_status, save_config
from promptclimb.session.consent import Trust, check_consent
from promptclimb.session.kinds import T2I, Kind, kind_named, kind_of
from promptclimb.session.tracking import with_tracking


@dataclass
class Opened:
    """What a kind's ``open`` builds: the run directory, its context, the initial pool, progress so far."""

    run_dir: Path
    context: Any
    pool: list[str]
    done: dict[str, Any]  # iterations_done (classification: also restarts, usage, place) before this drive
    warnings: list[str] = field(default_factory=list)  # for the user (the CLI prints them)


@dataclass
class Session:
    """A run ready to drive: what the caller shows (run_dir, config, done) and how it goes on."""

    kind: Kind
    opened: Opened
    prepare: Callable[[], None] | None = None  # runs under the run's lock before driving (a resume's save)
    written: list[Path] | None = field(default=None, init=False)  # outputs, once written

    @property
    def run_dir(self) -> Path:
        return self.opened.run_dir

    @property
    def config(self) -> Any:
        return self.opened.context.config

    def drive(self, on_update: Callable[[str, dict[str, Any]], None]) -> tuple[str, str | None]:
        """Drive the run to its end or a stop; returns (status, reason)."""
        from promptclimb.session.driver import execute
        from promptclimb.session.tracking import tracker_for

        o = self.opened
        t2i = self.kind.name == T2I
        tracker = tracker_for(o.run_dir, self.config, self.summary, t2i)  # None unless --track
        if tracker is not None:
            on_update = tracker.wrap(on_update)
        result = execute(o.run_dir, self.kind, o.context, o.pool, on_update, self.prepare)
        if tracker is not None:
            self.outputs(result[0])  # a finished run's report exists before the tracker uploads it
            tracker.guarded(lambda: tracker.ended(*result))
        return result

    def summary(self) -> dict[str, Any]:
        return self.kind.summarize(self.run_dir)

    def outputs(self, status: str) -> list[Path]:
        """Files a finished run writes (text-to-image: its report), written once."""
        if self.written is None:
            self.written = self.kind.finished(self.run_dir) if status == "finished" else []
        return self.written


@contextmanager
def start(kind: str, config: Any, runs_dir: Path) -> Iterator[Session]:
    """A new run of ``kind``: nothing is created before its inputs, models and endpoint are checked."""
    row = kind_named(kind)
    with row.open(with_tracking(config), runs_dir=runs_dir) as opened:
        yield Session(row, opened)


def ready_to_resume(run_dir: Path) -> bool:
    """The checks every resume makes before loading any model: not locked by another process (RunLocked),
    progress not lost (CheckpointError); False when the run already finished (nothing to do)."""
    if is_locked(run_dir):
        raise RunLocked(f"run {run_dir.name} is in use by another process")
    if read_status(run_dir)[0] == "finished":
        return False
    check_progress_kept(run_dir)
    return True


def resume_config(
    kind: Kind, run_dir: Path, given: dict[str, Any], trust: Trust
) -> tuple[Any, dict[str, Any]]:
    """The run's config with the options given anew on this command line, once consent is checked."""
    given = {k: v for k, v in given.items() if k in kind.overrides and v is not None}
    config = kind.load_config(run_dir).model_copy(update=given)
    check_consent(kind, config, given, trust)
    return with_tracking(config), given


@contextmanager
def resume(run_dir: Path, given: dict[str, Any], trust: Trust) -> Iterator[Session]:
    """Continue a paused, killed or failed run (call ``ready_to_resume`` first)."""
    kind = kind_of(run_dir)
    config, given = resume_config(kind, run_dir, given, trust)
    with kind.open(config, run_dir=run_dir) as opened:
        # Saved under the run's lock: a refused concurrent resume leaves config.json as it was.
        save = (lambda: save_config(run_dir, config)) if given else None
        yield Session(kind, opened, save)
