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

This file is the suite's spec (the file, its grid of cells); session/cells.py runs the cells and
results/suite_tables.py builds the tables.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from promptclimb.errors import UserError
from promptclimb.evaluators.classify.specs import HF_KINDS, ModelLoadError, split_spec
from promptclimb.graph.config import LIU2024_DEFAULTS, RunConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a dependency there)
    import tomli as tomllib

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


class SuiteError(UserError, ValueError):
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
        fixed = {"pool": "single", "pool_size": None, "iterations": 0, "restarts": 1, "seed_baselines": False,
                 "space": "templates"}  # fmt: skip
        return RunConfig(**{**common, **fixed})
    if method == "pool":
        pool = pool_method_pool(suite, suite_dir)
        return RunConfig(
            **{**common, "pool": pool, "pool_size": suite.budget(), "iterations": 0, "restarts": 1},
            seed_baselines=False,  # the best of E pool templates, nothing added
            space="templates",
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
