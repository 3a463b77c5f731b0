"""Benchmark suites: a grid of datasets x shots x seeds x CLIP backbones x methods, one normal run per cell.

A suite is a TOML file (see suites/*.toml):

    name = "tiny"                    # cells live in <runs-dir>/<name>/<cell-id>
    llm = "scripted:"                # optimizer LLM of the LLM methods (omit: the embedded local model)
    methods = ["zero-shot", "handmade", "pool", "none", "pos", "pos+neg"]
    shots = [1]
    seeds = [1, 2, 3]
    clips = ["openai:RN50", "openai/clip-vit-base-patch16"]  # scorer specs; a bare id or directory
                                     # (relative to the file) is CLIP through transformers (hf:)
    score = "selected"               # test accuracy of the "selected" template, or of the top-k "ensemble"
    pool_method_pool = ["caption", "clip-imagenet"]  # what the "pool" method samples (default: run.pool)

    [[datasets]]
    name = "clothing"               # column name in the table
    path = "../data/clothing"       # relative to the suite file
    layout = "auto"                 # and optionally coop_name = "dtd"

    [run]                           # any other RunConfig field, shared by every cell
    iterations = 10
    restarts = 3

Methods, at an equal budget of E = pool size + iterations x restarts x proposals template evaluations:

- ``zero-shot`` ("a photo of a {}."), ``handmade`` (CoOp's single hand-made template of the dataset, what
  the paper's "handmade" row reports) and ``clip-ensemble`` (CLIP's hand-made ensemble: ImageNet's 80
  templates, or CLIP's list for a CoOp dataset) are read from one "baselines" cell: a run of the single
  template with no LLM iteration, whose finalize scores all three.
- ``pool``: the best, on training data, of a random sample of E templates of the initial pool; no LLM.
- ``none`` / ``neg`` / ``pos`` / ``pos+neg``: the conversational LLM hill-climb (``--meta chat``) with that
  feedback mode (``none`` resamples without seeing any score); not the authors' released loop.
- ``liu2024``: Liu et al.'s released loop (``--meta liu2024``) with the release's own settings (1 restart,
  3 + 3 templates shown, 1 asked, 80 pool captions drawn per seed from ``released_pool``, default the CC0
  stand-in): [run]'s loop and pool settings do not apply to it.
- ``promptclimb``: promptclimb's default loop (``--meta compact``), at the same iterations and restarts.

Each cell is a normal run directory (config, checkpoints, run log), so an interrupted suite resumes cell by
cell: finished cells are skipped without loading anything, paused or failed ones resumed, missing ones
started. A cell's saved configuration is checked against the suite's, so an edited suite never mixes
settings silently.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from promptclimb.evaluators.classify.specs import HF_KINDS, ModelLoadError, split_spec
from promptclimb.graph.config import LIU2024_DEFAULTS, RunConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a dependency there)
    import tomli as tomllib
from promptclimb.graph.checkpoint import STORE_FILE, mark_new_run, thread_id_of, thread_taken
from promptclimb.graph.runs import CONFIG_FILE, load_config, read_status, write_status
from promptclimb.prompts.handmade import COOP_DATASETS, dataset_key
from promptclimb.results.published import AVERAGE, matching
from promptclimb.results.stats import mean_std
from promptclimb.results.summary import summarize

log = logging.getLogger(__name__)

BASELINES_CELL = "baselines"
POOL_FILE = "pool-method-pool.txt"
PHOTO = "a photo of a {}."
HANDMADE = "hand-made ensemble"
COOP_BASELINE = "CoOp's template"  # nodes/finalize.py's key for CoOp's single template

# method -> row label of the table, in the paper's order
METHODS: dict[str, str] = {
    "zero-shot": 'Zero-shot "a photo of a {}."',
    "handmade": "Hand-made: CoOp's single template",
    "clip-ensemble": "CLIP's hand-made ensemble",
    "pool": "Best of initial pool (no LLM)",
    "none": "LLM resampling, no feedback",
    "neg": "LLM, negative feedback only",
    "pos": "LLM, positive feedback only",
    "pos+neg": "LLM, positive + negative feedback (conversational variant)",
    "liu2024": "Liu et al. (released code)",
    "promptclimb": "promptclimb's default loop (compact)",
}
SCORES = ("selected", "ensemble")
SUITE_FIELDS = {
    "name",
    "llm",
    "methods",
    "shots",
    "seeds",
    "clips",
    "score",
    "pool_method_pool",
    "released_pool",
    "datasets",
    "run",
}
# RunConfig fields the grid sets per cell; [run] may not set them.
GRID_FIELDS = {"data", "layout", "coop_name", "shots", "seed", "clip", "scorer", "llm", "feedback", "meta"}


class SuiteError(ValueError):
    """A suite file or suite directory that cannot be used; the one-line message says why."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    path: str
    layout: str = "auto"
    coop_name: str | None = None


@dataclass(frozen=True)
class Cell:
    id: str
    dataset: str  # DatasetSpec.name
    shots: int
    seed: int
    clip: str
    method: str  # a METHODS key, or BASELINES_CELL for the zero-shot / hand-made cell
    config: RunConfig

    @property
    def needs_llm(self) -> bool:
        return self.config.iterations > 0


@dataclass
class Suite:
    name: str
    path: Path
    datasets: list[DatasetSpec]
    shots: list[int]
    seeds: list[int]
    clips: list[str]
    methods: list[str]
    llm: str | None
    score: str
    pool_method_pool: list[str]  # pool names or files, merged; [] = the LLM methods' pool
    run: dict[str, Any] = field(default_factory=dict)
    released_pool: str = "caption-standin"  # liu2024's pool (the release's LAION-COCO file for the paper)

    def base_config(self) -> RunConfig:
        return RunConfig(data=".", **self.run)

    def budget(self) -> int:
        """Template evaluations allowed to one LLM cell: its initial pool plus every proposal asked for."""
        from promptclimb.prompts.pools import load_pool

        base = self.base_config().model_copy(update={"meta": "chat"})  # the paper's method's budget
        pool = load_pool(base.pool, size=base.pool_size, seed=1)
        return len(pool) + base.iterations * base.restarts * base.asked()


# ------------------------------------------------------------------------------------------ parsing


def _list(raw: dict[str, Any], key: str, kind: type, default: list | None = None) -> list:
    value = raw.get(key, default)
    if value is None:
        raise SuiteError(f"suite: missing '{key}'")
    if not isinstance(value, list):
        value = [value]
    if not value or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
        raise SuiteError(f"suite: '{key}' must be a non-empty list of {kind.__name__}")
    if len(set(value)) != len(value):
        raise SuiteError(f"suite: '{key}' has duplicates: {value}")
    return value


def _resolve(base: Path, value: str) -> str:
    """Paths are relative to the suite file; a Hugging Face id or pool name (no such path) stays as is."""
    candidate = Path(value).expanduser()
    if candidate.is_absolute():
        return str(candidate)
    local = (base / candidate).resolve()
    if local.exists() or value.startswith((".", "~")):
        return str(local)
    return value


def _resolve_scorer(base: Path, entry: str, path: Path) -> str:
    """A `clips` entry: a bare id or directory stays what it was (CLIP through transformers); in a spec
    such as "openai:./RN50.pt?tokenizer=./tok" the model and option paths resolve against the suite file."""
    try:
        kind, target = split_spec(entry)
    except ModelLoadError as error:
        raise SuiteError(f"{path}: clips: {error}") from error
    if kind == "hf" and not entry.startswith("hf:"):
        return _resolve(base, entry)
    model, query, options = target.partition("?")
    # option values that are paths (e.g. "?tokenizer=./tokenizer") are relative to the suite file too
    pairs = [option.partition("=") for option in options.split("&")] if options else []
    options = "&".join(f"{key}{eq}{_resolve(base, value) if eq else value}" for key, eq, value in pairs)
    return f"{kind}:{_resolve(base, model)}{query}{options}"


def _datasets(raw: dict[str, Any], base: Path) -> list[DatasetSpec]:
    entries = raw.get("datasets")
    if not entries or not isinstance(entries, list):
        raise SuiteError("suite: 'datasets' must be a non-empty list ([[datasets]] tables or paths)")
    specs = []
    for entry in entries:
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict) or "path" not in entry:
            raise SuiteError("suite: each dataset needs a 'path'")
        unknown = set(entry) - {"name", "path", "layout", "coop_name"}
        if unknown:
            raise SuiteError(f"suite: unknown dataset field(s) {', '.join(sorted(unknown))}")
        path = _resolve(base, str(entry["path"]))
        name = str(entry.get("name") or Path(path).name)
        specs.append(DatasetSpec(name, path, str(entry.get("layout", "auto")), entry.get("coop_name")))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise SuiteError(f"suite: dataset names must be unique, got {names}")
    return specs


def _run_table(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    run = raw.get("run", {})
    if not isinstance(run, dict):
        raise SuiteError(f"{path}: [run] must be a table")
    clash = set(run) & GRID_FIELDS
    if clash:
        raise SuiteError(f"{path}: [run] cannot set {', '.join(sorted(clash))} (the suite grid sets them)")
    unknown = set(run) - set(RunConfig.model_fields)
    if unknown:
        raise SuiteError(f"{path}: unknown [run] field(s) {', '.join(sorted(unknown))}")
    run = dict(run)
    for key in ("cache_dir", "pool"):
        if key in run:
            run[key] = _resolve(path.parent, str(run[key]))
    return run


def load_suite(path: Path) -> Suite:
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as error:
        raise SuiteError(f"cannot read suite file {path}: {error.strerror or error}") from error
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{path}: invalid TOML: {error}") from error
    unknown = set(raw) - SUITE_FIELDS
    if unknown:
        raise SuiteError(f"{path}: unknown suite field(s) {', '.join(sorted(unknown))}")
    name = str(raw.get("name") or path.stem)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise SuiteError(f"{path}: suite name {name!r} must be a plain directory name")
    methods = _list(raw, "methods", str, list(METHODS))
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise SuiteError(f"{path}: unknown method(s) {', '.join(bad)} (known: {', '.join(METHODS)})")
    score = str(raw.get("score", "selected"))
    if score not in SCORES:
        raise SuiteError(f"{path}: score must be one of {', '.join(SCORES)}, got {score!r}")
    shots = _list(raw, "shots", int, [1])
    if min(shots) < 1:
        raise SuiteError(f"{path}: shots must be positive, got {shots}")
    pools = raw.get("pool_method_pool", [])
    pools = [pools] if isinstance(pools, str) else pools
    suite = Suite(
        name=name,
        path=path,
        datasets=_datasets(raw, path.parent),
        shots=shots,
        seeds=_list(raw, "seeds", int, [1, 2, 3]),
        clips=[_resolve_scorer(path.parent, c, path) for c in _list(raw, "clips", str)],
        methods=methods,
        llm=raw.get("llm") or None,
        score=score,
        pool_method_pool=[_resolve(path.parent, str(p)) for p in pools],
        run=_run_table(raw, path),
        released_pool=_resolve(path.parent, str(raw.get("released_pool", "caption-standin"))),
    )
    try:
        suite.budget()
    except ValidationError as error:
        first = error.errors()[0]
        raise SuiteError(f"{path}: [run] {'.'.join(map(str, first['loc']))}: {first['msg']}") from error
    except ValueError as error:  # an unknown pool (TemplateError)
        raise SuiteError(f"{path}: {error}") from error
    return suite


# ------------------------------------------------------------------------------------------- cells


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "x"


def clip_slug(clip: str) -> str:
    """The backbone's part of a cell id: "clip-vit-base-patch16" for a transformers CLIP (as it always
    was), the kind and the model for other scorers ("openai-rn50", "openai-vit-b-16")."""
    kind, target = split_spec(clip)
    model = target.partition("?")[0] if kind not in HF_KINDS else target
    if Path(model).is_absolute():
        name = Path(model).name
    else:
        name = model.split("/")[-1] if kind in HF_KINDS else model
    return slug(name if kind in HF_KINDS else f"{kind}-{name}")


def clip_label(clip: str) -> str:
    """A CLIP as tables name it: the id ("open_clip:RN50/openai"), or a local directory's name."""
    return Path(clip).name if Path(clip).is_absolute() else clip


def cell_method(method: str) -> str:
    return BASELINES_CELL if method in ("zero-shot", "handmade", "clip-ensemble") else method


def cell_id(dataset: str, shots: int, seed: int, clip: str, method: str) -> str:
    return f"{slug(dataset)}-{shots}shot-s{seed}-{clip_slug(clip)}-{slug(cell_method(method))}"


def pool_method_pool(suite: Suite, suite_dir: Path) -> str:
    """The pool the "pool" method samples: the LLM methods' pool, one named pool, or a merged file."""
    if not suite.pool_method_pool:
        return suite.base_config().pool
    if len(suite.pool_method_pool) == 1:
        return suite.pool_method_pool[0]
    from promptclimb.prompts.pools import load_pool

    merged = list(dict.fromkeys(t for name in suite.pool_method_pool for t in load_pool(name)))
    path = suite_dir / POOL_FILE
    text = "# merged by promptclimb bench from: " + ", ".join(suite.pool_method_pool) + "\n"
    text += "".join(t + "\n" for t in merged)
    if not path.exists() or path.read_text() != text:
        suite_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(path.resolve())


def scorer_fields(clip: str) -> dict[str, str]:
    """RunConfig fields of a `clips` entry: `clip` for CLIP through transformers (so the cells of older
    suites keep their saved configuration), `scorer` for every other kind."""
    kind, target = split_spec(clip)
    return {"clip": target} if kind in HF_KINDS else {"scorer": clip}


def cell_config(
    suite: Suite, suite_dir: Path, data: DatasetSpec, shots: int, seed: int, clip: str, method: str
) -> RunConfig:
    common = {
        **suite.run,
        "data": data.path,
        "layout": data.layout,
        "coop_name": data.coop_name,
        "shots": shots,
        "seed": seed,
        **scorer_fields(clip),
        "llm": suite.llm,
    }
    if method == BASELINES_CELL:
        return RunConfig(**{**common, "pool": "single", "pool_size": None, "iterations": 0, "restarts": 1})
    if method == "pool":
        pool = pool_method_pool(suite, suite_dir)
        return RunConfig(
            **{**common, "pool": pool, "pool_size": suite.budget(), "iterations": 0, "restarts": 1}
        )
    if method == "promptclimb":
        return RunConfig(**{**common, "meta": "compact"})
    if method == "liu2024":  # the release's loop and pool settings, whatever [run] sets for the others
        mine = {k: v for k, v in common.items() if k not in (*LIU2024_DEFAULTS, "proposals")}
        return RunConfig(**{**mine, "meta": "liu2024", "pool": suite.released_pool})
    return RunConfig(**{**common, "feedback": method, "meta": "chat"})  # the paper's loop and ablations


def cells(suite: Suite, suite_dir: Path) -> list[Cell]:
    """Every cell in a stable order: datasets, shots, seeds, clips, then the methods (cheap ones first)."""
    wanted = list(dict.fromkeys(cell_method(m) for m in suite.methods))
    grid = []
    for data in suite.datasets:
        for shots in suite.shots:
            for seed in suite.seeds:
                for clip in suite.clips:
                    for method in wanted:
                        config = cell_config(suite, suite_dir, data, shots, seed, clip, method)
                        grid.append(
                            Cell(
                                cell_id(data.name, shots, seed, clip, method),
                                data.name,
                                shots,
                                seed,
                                clip,
                                method,
                                config,
                            )
                        )
    ids = [c.id for c in grid]
    if len(set(ids)) != len(ids):
        raise SuiteError(f"suite {suite.name}: two cells share an id (rename datasets or clips)")
    return grid


def comparable(config: RunConfig) -> dict[str, Any]:
    # Budgets and rate limits may change on a resume without changing what the cell computes.
    return config.model_dump(exclude={"max_llm_calls", "max_cost", "llm_rpm", "llm_tpm"})


# ------------------------------------------------------------------------------------------- running


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
    from promptclimb.graph.session import execute, load_inputs, make_context

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
    if reason == "interrupted by the user":
        raise KeyboardInterrupt
    return CellOutcome(cell, status, reason, skipped=False)


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


# -------------------------------------------------------------------------------------------- table


def method_value(final: dict[str, Any] | None, method: str, score: str) -> float | None:
    if not final:
        return None
    if method == "zero-shot":
        return final["baselines"].get(PHOTO)
    if method == "handmade":
        return final["baselines"].get(COOP_BASELINE)
    if method == "clip-ensemble":
        return final["baselines"].get(HANDMADE)
    return final["ensemble_test_acc"] if score == "ensemble" else final["test_acc"]


@dataclass
class ResultRow:
    shots: int
    clip: str
    method: str
    dataset: str  # a dataset name, or "Average"
    values: list[float] = field(default_factory=list)  # test accuracies of the finished seeds
    seeds: list[int] = field(default_factory=list)
    evaluations: list[int] = field(default_factory=list)  # templates scored per seed (equal-budget check)

    @property
    def stats(self) -> tuple[float, float]:
        return mean_std(self.values)


def cell_states(suite: Suite, suite_dir: Path) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """cell id -> (status, summary) for every cell of the grid ("not started", None when absent)."""
    states: dict[str, tuple[str, dict[str, Any] | None]] = {}
    for cell in cells(suite, suite_dir):
        run_dir = suite_dir / cell.id
        if (run_dir / CONFIG_FILE).is_file():
            summary = summarize(run_dir)
            states[cell.id] = (summary["status"], summary)
        else:
            states[cell.id] = ("not started", None)
    return states


def collect(suite: Suite, states: dict[str, tuple[str, dict[str, Any] | None]]) -> list[ResultRow]:
    """Per (shots, clip, method, dataset) the finished seeds' test accuracies, then an Average row: the
    mean over datasets of the per-dataset means, only when every dataset has a value."""
    rows: list[ResultRow] = []
    for shots in suite.shots:
        for clip in suite.clips:
            for method in suite.methods:
                mine = []
                for data in suite.datasets:
                    row = ResultRow(shots, clip, method, data.name)
                    for seed in suite.seeds:
                        status, summary = states.get(
                            cell_id(data.name, shots, seed, clip, method), ("", None)
                        )
                        value = method_value(summary["final"], method, suite.score) if summary else None
                        if status == "finished" and value is not None:
                            row.values.append(value)
                            row.seeds.append(seed)
                            row.evaluations.append(summary["candidates_scored"])
                    mine.append(row)
                rows.extend(mine)
                average = ResultRow(shots, clip, method, "Average")
                if all(r.values for r in mine):
                    average.values = [r.stats[0] for r in mine]
                rows.append(average)
    return rows


def fmt(row: ResultRow | None) -> str:
    if row is None or not row.values:
        return "-"
    mean, std = row.stats
    if row.dataset == "Average" or len(row.values) < 2:
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def tables(suite: Suite, rows: list[ResultRow]) -> list[tuple[str, list[str], list[list[str]]]]:
    """One paper-style table per (shots, clip): (title, header, rows of text); rows are methods, columns
    datasets then Average; cells are mean ± std of test accuracy (%) over seeds."""
    index = {(r.shots, r.clip, r.method, r.dataset): r for r in rows}
    columns = [d.name for d in suite.datasets] + ["Average"]
    out = []
    for shots in suite.shots:
        for clip in suite.clips:
            title = f"{suite.name}: {shots}-shot, CLIP {clip_label(clip)}"
            title += ", test accuracy (%), mean ± std over seeds"
            body = [
                [METHODS[m], *(fmt(index.get((shots, clip, m, c))) for c in columns)] for m in suite.methods
            ]
            out.append((title, ["Method", *columns], body))
    return out


def published_tables(suite: Suite, shots: int, clip: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """The published numbers (results/published.toml) for this CLIP's backbone at these shots, one table
    per source, in the suite's columns; every row and title says "published". A published Average (the
    publication's mean over CoOp's 11 datasets) is shown only when the suite has exactly those 11."""
    keys = [dataset_key(d.coop_name or d.name) for d in suite.datasets]
    same_datasets = set(keys) == set(COOP_DATASETS) and len(keys) == len(COOP_DATASETS)
    out = []
    for table in matching(clip, shots):
        title = f"Published, not measured here: {table.source}; CLIP {table.backbone}, {table.shots}-shot"
        title += f"; {table.protocol}" if table.protocol else ""
        title += f" ({table.note})" if table.note else ""
        ordered = [m for m in suite.methods if m in table.rows]
        ordered += [label for label in table.rows if label not in METHODS]
        body = []
        for label in ordered:
            cells = table.rows[label]
            values = [_published_cell(cells.get(key) if key else None) for key in keys]
            values.append(_published_cell(cells.get(AVERAGE) if same_datasets else None))
            body.append([f"{METHODS.get(label, label)} (published)", *values])
        out.append((title, ["Method (published)", *(d.name for d in suite.datasets), "Average"], body))
    return out


def _published_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def data_settings(suite: Suite) -> str:
    """Which class names and which few-shot draw the suite's cells use (RunConfig class_names, sampler)."""
    base = suite.base_config()
    names = "OpenAI CLIP's published names (clip)" if base.class_names == "clip" else "the splits' (coop)"
    draw = "CoOp's exact draw (coop)" if base.sampler == "coop" else "promptclimb's sampler"
    return f"Data: class names {names}; few-shot images {draw}."


def markdown(suite: Suite, rows: list[ResultRow], statuses: dict[str, str], pool_size: int) -> str:
    budget = suite.budget()
    lines = [f"# Suite {suite.name}", ""]
    lines.append(
        f"Suite file: `{suite.path}`; LLM: {suite.llm or 'embedded local model'}; seeds {suite.seeds}; "
        f"score: the {suite.score} template(s) of each run, on the test split. {data_settings(suite)}"
    )
    lines.append("")
    lines.append(
        f"Equal budget: {budget} template evaluations per run (initial pool + iterations x restarts x "
        f"proposals); the pool method samples {min(budget, pool_size)} templates of its {pool_size}-template "
        "pool. Std: sample standard deviation over seeds. Average: mean over datasets of the per-dataset "
        "means (shown only when every dataset has a result)."
    )
    if pool_size < budget:
        lines.append("")
        lines.append(f"Note: the pool method's pool is smaller than the budget ({pool_size} < {budget}).")
    lines.append("")
    for (shots, clip), (title, header, body) in zip(table_keys(suite), tables(suite, rows), strict=True):
        lines += [f"## {title}", "", *_markdown_table(header, body), ""]
        for published_title, published_header, published_body in published_tables(suite, shots, clip):
            lines += [f"{published_title}:", "", *_markdown_table(published_header, published_body), ""]
    missing = {k: v for k, v in statuses.items() if v != "finished"}
    if missing:
        lines.append("Cells left out (not finished): " + ", ".join(f"{k} ({v})" for k, v in missing.items()))
        lines.append("")
    return "\n".join(lines)


def table_keys(suite: Suite) -> list[tuple[int, str]]:
    return [(shots, clip) for shots in suite.shots for clip in suite.clips]  # the order of tables()


def _markdown_table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(r) + " |" for r in body
    ]


CSV_HEADER = [
    "shots",
    "clip",
    "method",
    "dataset",
    "n_seeds",
    "mean_acc",
    "std_acc",
    "seeds",
    "values",
    "evaluations",
]


def csv_text(rows: list[ResultRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        mean, std = r.stats if r.values else (None, None)
        writer.writerow(
            [
                r.shots,
                r.clip,
                r.method,
                r.dataset,
                len(r.values),
                "" if mean is None else f"{mean:.6f}",
                "" if std is None else f"{std:.6f}",
                " ".join(map(str, r.seeds)),
                " ".join(f"{v:.6f}" for v in r.values),
                " ".join(map(str, r.evaluations)),
            ]
        )
    return buffer.getvalue()


@dataclass
class SuiteResults:
    markdown: Path
    csv: Path
    rows: list[ResultRow]
    statuses: dict[str, str]  # cell id -> status


def write_results(suite: Suite, runs_dir: Path) -> SuiteResults:
    """Collect every cell's result; write suite.md and suite.csv into the suite directory."""
    from promptclimb.prompts.pools import load_pool

    suite_dir = runs_dir / suite.name
    suite_dir.mkdir(parents=True, exist_ok=True)
    states = cell_states(suite, suite_dir)
    rows = collect(suite, states)
    statuses = {cid: status for cid, (status, _) in states.items()}
    pool_size = len(load_pool(pool_method_pool(suite, suite_dir)))
    md, table_csv = suite_dir / "suite.md", suite_dir / "suite.csv"
    md.write_text(markdown(suite, rows, statuses, pool_size))
    table_csv.write_text(csv_text(rows))
    return SuiteResults(md, table_csv, rows, statuses)
