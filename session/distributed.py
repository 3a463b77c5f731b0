"""Benchmark cells as Ray tasks: ``promptclimb bench SUITE.toml --ray [ADDRESS]``.

Ray (an existing engine, not a home-made scheduler) runs each unfinished cell of a suite as one task on
the cluster; the driver collects the outcomes as cells finish, then the usual tables are written.

- A cell is the same resumable run directory as in a sequential bench: the task runs ``run_cell`` on the
  shared runs directory, under the run's OS lock. A retried task (its worker died) resumes the cell from
  its last checkpoint, so an LLM step that was checkpointed is never asked for twice.
- One task per cell, not one actor per worker: a task gets Ray's retries (``max_retries``) and
  cancellation (a KeyboardInterrupt inside the task, which pauses the cell) as they are. CPU workers are
  reused across tasks and keep one ``Models`` per process, so a backbone loads once per worker. A GPU task
  runs in a fresh worker (Ray's default, ``max_calls=1``: the worker exits after the task, which frees its
  GPU memory, and the next task is bound to the GPU Ray gave it); it loads its backbone itself, seconds
  against the minutes of LLM calls of a cell.
- Tasks get plain data only (suite path, runs directory, cell id, the cell's configuration as a dict);
  models never leave a worker.
- Workers must see the driver's files at the same paths (the runs directory, the suite file, the data):
  shared storage such as NFS. A probe task on every node checks this before any cell starts.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from promptclimb.graph.checkpoint import is_locked
from promptclimb.graph.runs import CONFIG_FILE, read_status
from promptclimb.results.suite import Cell, Suite, SuiteError, cells, comparable, load_suite
from promptclimb.session.cells import CellOutcome, Models, prepare_cell_dir, run_cell

log = logging.getLogger(__name__)

# Environment forwarded to the workers of a cluster this process starts or joins; API keys are not among
# them on purpose: they belong in the worker nodes' own environment (README, "Many machines").
FORWARDED_ENV_PREFIXES = ("PROMPTCLIMB_", "HF_", "TRANSFORMERS_")
# $PROMPTCLIMB_CHECKPOINTS may hold a database password: like API keys, it belongs in each node's environment.
FORWARDED_ENV_EXCLUDED = {"PROMPTCLIMB_PARENT_PID", "PROMPTCLIMB_CHECKPOINTS"}
CANCEL_GRACE_S = 30.0  # how long Ctrl-C waits for cancelled cells to write "paused"
PROBE_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 5.0
# Ray's notices that are about Ray, not the suite (token authentication switched on for a local cluster):
# the CLI is the only printer, and these would sit among the bench's lines on every --ray invocation.
RAY_NOTICE_LOGGERS = ("ray._private.authentication.authentication_token_setup",)


class RayError(SuiteError):
    """Ray is missing, the cluster is unreachable, or a worker cannot see the suite's files."""


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local cluster (ray.init()); else the cluster to join
    gpus_per_cell: float = 0.25  # GPUs a CUDA cell reserves: a fraction lets several cells share one GPU
    cpus_per_cell: float = 1.0
    retries: int = 3  # times a cell's task is run again when its worker dies

    def __post_init__(self) -> None:
        if self.gpus_per_cell <= 0 or self.cpus_per_cell <= 0 or self.retries < 0:
            raise RayError("GPUs and CPUs per cell must be positive and retries at least 0")
        if self.gpus_per_cell > 1 and self.gpus_per_cell != int(self.gpus_per_cell):
            raise RayError(f"GPUs per cell: a fraction up to 1 or a whole number, got {self.gpus_per_cell}")


def import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise RayError("--ray needs the ray package: pip install 'promptclimb[ray]'") from error
    return ray


# ------------------------------------------------------------------------------------------ workers


_worker_models: Models | None = None


def worker_models() -> Models:
    """The backbones and LLM backends of this worker process, shared by the cells it runs."""
    global _worker_models
    if _worker_models is None:
        _worker_models = Models()
        atexit.register(_worker_models.close)  # an embedded LLM server stops with the worker
    return _worker_models


def run_cell_task(suite_path: str, runs_dir: str, cell_id: str, expected: dict[str, Any]) -> tuple:
    """Inside a Ray worker: run, resume or skip one cell; returns (status, reason, skipped, random_weights):
    the random-weights fact travels with the result, since the worker's own warning stays in Ray's logs."""
    suite = load_suite(Path(suite_path))
    suite_dir = Path(runs_dir) / suite.name
    cell = next((c for c in cells(suite, suite_dir) if c.id == cell_id), None)
    if cell is None or comparable(cell.config) != expected:
        raise RayError(
            f"node {socket.gethostname()} reads another suite than the driver for cell {cell_id}: "
            "the suite file and its data must be at the same paths on every node"
        )
    outcome = run_cell(suite_dir, cell, worker_models(), lambda node, update: None)
    return outcome.status, outcome.reason, outcome.skipped, outcome.random_weights


def probe_node(token_file: str, token: str, paths: list[str]) -> str | None:
    """Inside a Ray worker: None when this node sees the driver's files, else what it cannot see."""
    try:
        if Path(token_file).read_text() != token:
            return f"sees another {Path(token_file).parent} than the driver"
    except OSError:
        return f"cannot read {Path(token_file).parent}"
    missing = [p for p in paths if not Path(p).exists()]
    return f"cannot see {missing[0]}" if missing else None


@cache
def remote_functions() -> dict[str, Any]:
    """The remote functions, made once ray is imported; GPU tasks keep Ray's one-task-per-worker default."""
    ray = import_ray()
    return {
        "cpu": ray.remote(max_calls=0)(run_cell_task),
        "gpu": ray.remote(num_gpus=1, max_calls=1)(run_cell_task),
        "probe": ray.remote(num_cpus=0)(probe_node),
    }


# ------------------------------------------------------------------------------------------- driver


def forwarded_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k.startswith(FORWARDED_ENV_PREFIXES) and k not in FORWARDED_ENV_EXCLUDED
    }


def check_reachable(address: str) -> None:
    """A quick TCP check, so an unreachable address is a one-line error, not minutes of retries."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RayError(f"Ray address {address!r} must be HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise RayError(f"cannot reach the Ray cluster at {address}: {error.strerror or error}") from error


def connect(address: str | None) -> bool:
    """Start a local cluster or join ``address``; True when this call did (and shutdown is ours)."""
    ray = import_ray()
    if ray.is_initialized():  # a caller's cluster (tests, a notebook): used as it is
        return False
    options: dict[str, Any] = {
        "runtime_env": {"env_vars": forwarded_env()},
        "log_to_driver": False,  # workers' output stays in Ray's logs: the CLI is the only printer
        "logging_level": logging.WARNING,
    }
    if address is None:
        options["include_dashboard"] = False
    else:
        check_reachable(address)
    for name in RAY_NOTICE_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with quiet_ray():
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        raise RayError(f"cannot start or join {where}: {str(error).splitlines()[0]}") from error
    return True


@contextmanager
def quiet_ray() -> Iterator[None]:
    """Ray's own deprecation and future warnings (Python warnings raised inside ray's modules) unprinted."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning, UserWarning):
            warnings.filterwarnings("ignore", category=category, module=r"ray(\.|$)")
        yield


def check_shared_storage(suite: Suite, suite_dir: Path) -> None:
    """Every alive node must see the driver's suite directory (a token file), suite file and data."""
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    token_file = suite_dir / f".ray-probe-{token}"
    token_file.write_text(token)
    paths = [str(suite.path.resolve())] + [d.path for d in suite.datasets if Path(d.path).is_absolute()]
    try:
        probes = {
            node["NodeManagerAddress"]: remote_functions()["probe"]
            .options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
            .remote(str(token_file), token, paths)
            for node in ray.nodes()
            if node["Alive"]
        }
        for where, ref in probes.items():
            try:
                problem = ray.get(ref, timeout=PROBE_TIMEOUT_S)
            except ray.exceptions.RayError as error:
                raise RayError(f"node {where} cannot run promptclimb: {first_line(error)}") from error
            if problem:
                raise RayError(
                    f"node {where} {problem}: the runs directory, suite file and data must be on storage "
                    "every node shares, at the same paths (e.g. NFS)"
                )
    finally:
        token_file.unlink(missing_ok=True)


def first_line(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"


def uses_gpu(cell: Cell, cluster_gpus: float) -> bool:
    """CUDA cells reserve GPUs; so does an unset device on a cluster with GPUs (torch would pick one)."""
    device = cell.config.device
    return device.startswith("cuda") if device else cluster_gpus > 0


def submit(cell: Cell, suite: Suite, runs_dir: Path, options: RayOptions, cluster_gpus: float) -> Any:
    gpu = uses_gpu(cell, cluster_gpus)
    task = remote_functions()["gpu" if gpu else "cpu"].options(
        num_cpus=options.cpus_per_cell,
        num_gpus=options.gpus_per_cell if gpu else 0,
        max_retries=options.retries,
        retry_exceptions=False,  # an error in the cell is recorded in the cell; only dead workers retry
        name=f"promptclimb-{cell.id}",
    )
    return task.remote(str(suite.path.resolve()), str(runs_dir), cell.id, comparable(cell.config))


def outcome_of(ref: Any, cell: Cell) -> CellOutcome:
    ray = import_ray()
    try:
        status, reason, skipped, random_weights = ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        return CellOutcome(cell, "paused", "cancelled", skipped=False)
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, KeyboardInterrupt):
            return CellOutcome(cell, "paused", "interrupted", skipped=False)
        return CellOutcome(cell, "failed", first_line(error), skipped=False)
    except ray.exceptions.WorkerCrashedError:
        return CellOutcome(cell, "failed", "its Ray worker died more often than retries allow", skipped=False)
    except ray.exceptions.RayError as error:  # a lost node, an object that cannot be fetched, ...
        return CellOutcome(cell, "failed", f"Ray: {first_line(error)}", skipped=False)
    return CellOutcome(cell, status, reason, skipped=skipped, random_weights=random_weights)


def cancel(pending: dict[Any, Cell], suite_dir: Path) -> None:
    """Cancel the tasks (a KeyboardInterrupt in each running cell, which pauses it once the step in flight
    ends) and give them a moment to record it; queued tasks never start. Every cell stays resumable."""
    ray = import_ray()
    deadline = time.monotonic() + CANCEL_GRACE_S
    for ref in pending:
        ray.cancel(ref, force=False)
    ray.wait(list(pending), num_returns=len(pending), timeout=CANCEL_GRACE_S)
    # The run locks say when the workers have really left their cells (status written).
    while any(is_locked(suite_dir / c.id) for c in pending.values()) and time.monotonic() < deadline:
        time.sleep(0.1)


def run_suite_on_ray(
    suite: Suite, runs_dir: Path, options: RayOptions | None = None
) -> Iterator[CellOutcome]:
    """Every cell of the suite, as Ray tasks; yields outcomes as cells finish (finished cells first, skipped
    without a task). A KeyboardInterrupt in the consumer cancels the tasks, leaving the cells resumable."""
    options = options or RayOptions()
    runs_dir = runs_dir.resolve()  # the workers' working directory is not ours
    suite_dir = runs_dir / suite.name
    grid = cells(suite, suite_dir)
    suite_dir.mkdir(parents=True, exist_ok=True)
    for cell in grid:  # an edited suite is one error before any task starts
        if (suite_dir / cell.id / CONFIG_FILE).is_file():
            prepare_cell_dir(suite_dir, cell)
    ray = import_ray()
    started_here = connect(options.address)
    try:
        with quiet_ray():
            check_shared_storage(suite, suite_dir)
            gpus = ray.cluster_resources().get("GPU", 0)
            finished = {c.id for c in grid if read_status(suite_dir / c.id)[0] == "finished"}
            pending = {submit(c, suite, runs_dir, options, gpus): c for c in grid if c.id not in finished}
        try:
            for cell in grid:
                if cell.id in finished:
                    yield CellOutcome(cell, "finished", None, skipped=True)
            while pending:
                with quiet_ray():
                    [ref], _ = ray.wait(list(pending), num_returns=1)
                    outcome = outcome_of(ref, pending.pop(ref))
                yield outcome
        except BaseException:  # Ctrl-C, or the consumer stopped early (GeneratorExit)
            if pending:
                with quiet_ray():
                    cancel(pending, suite_dir)
            raise
    finally:
        if started_here:
            with quiet_ray():
                ray.shutdown()
