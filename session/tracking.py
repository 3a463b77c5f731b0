"""Optional MLflow tracking of a run of either kind (``--track mlflow[:URI]``).

The run's config goes in as params, each scored step (the pool, then every LLM iteration) as one metric step,
and at the end of each drive the call log, the status, the summary and any report as artifacts. The MLflow
run's id is kept in the run directory (tracking.json), so a resume continues the same MLflow run.

MLflow is imported here only, and only once a tracked run has something to log. A tracking failure never
stops the run: it is logged once (a warning and a run.log line) and the run goes on untracked.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from promptclimb.errors import UserError
from promptclimb.graph.runs import (
    CALLS_FILE,
    CONFIG_FILE,
    LOG_FILE,
    REWOUND_CALLS_FILE,
    STATUS_FILE,
    append_log,
    write_file,
)
from promptclimb.llm.credentials import host_of

if TYPE_CHECKING:  # the driver (and LangGraph) load only when a run is driven
    from promptclimb.session.driver import Updates

log = logging.getLogger(__name__)
TRACKING_FILE = "tracking.json"  # {"uri", "run_id"}: the MLflow run a resume continues
DEFAULT_STORE = "mlruns"  # MLflow's classic local store, relative to where the run starts
EXPERIMENT = "promptclimb"  # unless $MLFLOW_EXPERIMENT_NAME names another
LOCAL_SCHEMES = ("", "file", "sqlite")  # stores on this machine: no credential leaves it
REPORT_FILES = ("report.md", "report.html")  # results/render.py's names, uploaded when present
SCORING_NODES = ("rank", "class_evaluate", "gather")  # each ends a scored step: one metric step
PARAM_CHARS = 6000  # MLflow's limit on a param value
_RUN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


class TrackingRefused(UserError, ValueError):
    """--track cannot be honoured: MLflow is not installed, or the URI embeds a password."""


def store_of(track: str) -> str:
    """The MLflow tracking URI of a resolved ``mlflow:URI`` value."""
    return track.partition(":")[2]


def is_local(uri: str) -> bool:
    return urlsplit(uri).scheme.lower() in LOCAL_SCHEMES or re.match(r"^[A-Za-z]:[\\/]", uri) is not None


def absolute(uri: str) -> str:
    """A local store's URI made absolute, so a resume from another directory finds the same store."""
    parts = urlsplit(uri)
    if parts.scheme == "sqlite":  # sqlite:///relative.db, sqlite:////absolute.db
        path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else parts.path
        return "sqlite:///" + str(Path(path).expanduser().resolve()) if path else uri
    path = parts.path if parts.scheme == "file" else uri
    return Path(path).expanduser().resolve().as_uri()


def resolve(track: str | None, env: dict[str, str] | None = None) -> str | None:
    """``--track`` as config.json keeps it: None, or ``mlflow:URI`` with a local store made absolute.

    Refused (one line) when MLflow is missing or the URI carries a password (config.json is shared).
    """
    if track is None or track.strip().lower() in ("", "none"):
        return None
    env = dict(os.environ) if env is None else env
    head, _, uri = track.partition(":")
    if head != "mlflow":
        raise TrackingRefused(f"--track takes mlflow or mlflow:URI, not {track!r}")
    uri = uri or env.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE
    if urlsplit(uri).password:
        raise TrackingRefused(
            "--track: keep the password out of the URI (config.json is shared); "
            "MLflow reads MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN"
        )
    if importlib.util.find_spec("mlflow") is None:
        raise TrackingRefused(
            "--track mlflow needs MLflow: pip install 'promptclimb[mlflow]' (a resume may give --track none)"
        )
    return f"mlflow:{absolute(uri) if is_local(uri) else uri}"


def consent_reason(config: Any, given: dict[str, Any]) -> str | None:
    """Why a resumed run's own tracking URI needs consent: a remote store receives the run's data and
    MLflow's credentials ($MLFLOW_TRACKING_TOKEN, ...), and a local one may name any artifact location (an
    HTTP server too, which gets the same token). Only --track given anew needs none."""
    track = getattr(config, "track", None)
    if not track or "track" in given:
        return None
    store = store_of(track)
    where = f"the store {store}, whose artifact location it chose" if is_local(store) else host_of(store)
    return f"MLflow tracking: the run's data and $MLFLOW_TRACKING_TOKEN would go to {where}"


def flat_params(config: Any) -> dict[str, str]:
    """The config's options as MLflow params (strings within MLflow's length limit)."""
    return {k: str(v)[:PARAM_CHARS] for k, v in config.model_dump(mode="json").items()}


def llm_metrics(usage: Any, other_cost: float = 0.0) -> dict[str, float]:
    """LLM calls, latency and the cost so far (``other_cost``: what else the run paid, such as images)."""
    if usage is None:
        return {}
    return {"llm_calls": float(usage.calls), "cost_usd": usage.cost_usd + other_cost,
            "llm_latency_s": usage.latency_s}  # fmt: skip


def step_metrics(seen: dict[str, Any], selection: str) -> dict[str, float]:
    """What one scored step logs: the selected template's scores, templates scored, LLM calls and cost."""
    from promptclimb.nodes.rank import selection_acc

    metrics: dict[str, float] = {}
    candidates = seen.get("candidates") or []
    if candidates:
        best = candidates[0]  # ranked: the selected template first
        metrics["best_selection_acc"] = selection_acc(best, selection)
        metrics["best_train_acc"] = best.train_acc
        if best.val_acc is not None:
            metrics["best_val_acc"] = best.val_acc
        metrics["templates_scored"] = float(len(candidates))
    classifier = seen.get("classifier")
    if classifier is not None and classifier.total:
        metrics["classes_selection_acc"] = classifier.correct / classifier.total
    return {**metrics, **llm_metrics(seen.get("usage"))}


def t2i_step_metrics(seen: dict[str, Any]) -> dict[str, float]:
    """A text-to-image step: the best score of the current phase so far, images, LLM calls and cost."""
    phase = seen.get("phase")
    scores = [c.score for c in seen.get("candidates") or [] if c.phase == phase]
    metrics: dict[str, float] = {f"best_{phase}_score": max(scores)} if scores else {}
    images = seen.get("image_usage")
    if images is not None:
        metrics["images"] = float(images.images)
        metrics["image_cost_usd"] = images.cost_usd
    return {**metrics, **llm_metrics(seen.get("usage"), images.cost_usd if images is not None else 0.0)}


def t2i_final_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """A text-to-image run's end: the final image's score and each of its measures, and the phase's first
    prompt's score (the baseline)."""
    final = summary.get("final") or {}
    found = {f"final_{k}": v for k, v in (final.get("scores") or {}).items()}
    found.update({k: final[k] for k in ("score", "baseline") if final.get(k) is not None})
    return {k: float(v) for k, v in found.items() if isinstance(v, int | float)}


def final_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """A finished run's test accuracies (fractions), read once at its end."""
    final = summary.get("final") or {}
    names = {
        "selected_test_acc": "test_acc",
        "test_acc": "template_test_acc",
        "ensemble_test_acc": "ensemble_test_acc",
        "classes_test_acc": "classes_test_acc",
        "classes_without_llm_test_acc": "classes_without_llm_test_acc",
    }
    return {metric: final[key] for key, metric in names.items() if final.get(key) is not None}


def saved_values(run_dir: Path, t2i: bool) -> dict[str, Any]:
    """The run's checkpointed values so far ({} for a new run, or where they cannot be read)."""
    from promptclimb.graph.session import current_state
    from promptclimb.graph.t2i.session import current_t2i_state

    read = current_t2i_state if t2i else current_state  # each kind's own serializer
    try:
        return dict(read(run_dir) or {})
    except Exception:  # noqa: BLE001 - only the metrics of a resumed drive's first steps depend on it
        log.debug("tracking: no saved state read from %s", run_dir, exc_info=True)
        return {}


class Tracker:
    """One drive's link to its MLflow run: opened at the first update, so under the run's lock."""

    def __init__(
        self, run_dir: Path, config: Any, summarize: Callable[[], dict[str, Any]], t2i: bool = False
    ) -> None:
        self.run_dir, self.config, self.summarize = run_dir, config, summarize
        self.t2i = t2i  # a text-to-image run: its own state, metrics and final image
        self.uri = store_of(config.track)
        self.client: Any = None
        self.run_id: str | None = None
        self.broken = False
        self.seen: dict[str, Any] = {}
        self.last_step: int | None = None

    def wrap(self, on_update: Updates) -> Updates:
        """``on_update`` with every update also tracked (a tracking failure never reaches the run)."""

        def both(node: str, update: dict[str, Any]) -> None:
            self.guarded(lambda: self.update(node, update))
            on_update(node, update)

        return both

    def guarded(self, work: Callable[[], None]) -> None:
        if self.broken:
            return
        try:
            work()
        except Exception as failure:  # MLflow's store, network or disk: the run matters more
            self.broken = True
            line = f"MLflow tracking failed, the run goes on untracked: {type(failure).__name__}: {failure}"
            line = line.splitlines()[0]
            log.warning(line)
            log.debug("tracking failed", exc_info=True)
            append_log(self.run_dir, [line])

    def open(self) -> None:
        """Continue the run's MLflow run (tracking.json, same store), or create one with the config."""
        if urlsplit(self.uri).scheme in ("", "file"):  # MLflow 3 refuses its file store unless asked
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.uri)
        known = read_tracking(self.run_dir)
        if known.get("uri") == self.uri and known.get("run_id"):
            try:
                run = self.client.get_run(known["run_id"])
            except Exception:  # deleted, or another store of the same name: start a new one
                run = None
            if run is not None:
                self.run_id = run.info.run_id
                self.client.update_run(self.run_id, status="RUNNING")
                missing = {k: v for k, v in flat_params(self.config).items() if k not in run.data.params}
                self.log_params(missing)  # options given anew on a resume keep their first value
                return
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        tags = {"promptclimb.run_dir": str(self.run_dir)}
        run = self.client.create_run(experiment_id, run_name=self.run_dir.name, tags=tags)
        self.run_id = run.info.run_id
        write_file(self.run_dir / TRACKING_FILE, json.dumps({"uri": self.uri, "run_id": self.run_id}) + "\n")
        self.log_params(flat_params(self.config))

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in sorted(params.items())]
        for start in range(0, len(items), 100):  # MLflow takes 100 params a batch
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in sorted(metrics.items())]
        if items:
            self.client.log_batch(self.run_id, metrics=items)

    def update(self, node: str, update: dict[str, Any]) -> None:
        if not self.seen:  # a resumed drive's updates carry only what changes: start from the saved state
            self.seen.update(saved_values(self.run_dir, self.t2i))
        self.seen.update({k: v for k, v in update.items() if v is not None})
        if node not in SCORING_NODES or not self.seen.get("candidates"):
            return
        step = int(self.seen.get("iterations_done", 0))
        if step == self.last_step:
            return
        if self.client is None:
            self.open()
        if self.t2i:
            self.log_metrics(t2i_step_metrics(self.seen), step)
        else:
            self.log_metrics(step_metrics(self.seen, self.config.selection()), step)
        self.last_step = step

    def ended(self, status: str, reason: str | None) -> None:
        """The drive's end: its status, final test accuracies and files (the run's own, a report)."""
        if self.client is None:
            self.open()
        summary = self.summarize()
        step = int(summary.get("iterations_done") or 0)
        self.log_metrics((t2i_final_metrics if self.t2i else final_metrics)(summary), step)
        tags = {"promptclimb.status": status, "promptclimb.reason": reason or ""}
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value[:PARAM_CHARS])
        self.client.log_text(self.run_id, json.dumps(summary, indent=2, default=str), "summary.json")
        for name in (CALLS_FILE, REWOUND_CALLS_FILE, CONFIG_FILE, STATUS_FILE, LOG_FILE, *REPORT_FILES):
            path = self.run_dir / name
            if path.is_file() and not path.is_symlink():  # a planted link never uploads a file outside
                self.client.log_artifact(self.run_id, str(path))
        image = final_image(self.run_dir, summary) if self.t2i else None
        if image is not None:  # the final image itself
            self.client.log_artifact(self.run_id, str(image), "final")
        # MLflow's vocabulary: a paused run (resumable) is KILLED until a resume sets it RUNNING again.
        mlflow_status = {"finished": "FINISHED", "failed": "FAILED"}.get(status, "KILLED")
        self.client.set_terminated(self.run_id, status=mlflow_status)


def final_image(run_dir: Path, summary: dict[str, Any]) -> Path | None:
    """A text-to-image run's final image, when it is a plain file inside the run directory."""
    name = (summary.get("final") or {}).get("image")
    if not isinstance(name, str):
        return None
    path = run_dir / name
    inside = path.resolve().is_relative_to(run_dir.resolve())
    return path if inside and path.is_file() and not path.is_symlink() else None


def read_tracking(run_dir: Path) -> dict[str, str]:
    """tracking.json, or {} when absent or damaged (a run directory's file: checked, never trusted)."""
    try:
        data = json.loads((run_dir / TRACKING_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    run_id, uri = data.get("run_id"), data.get("uri")
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or not isinstance(uri, str):
        return {}
    return {"uri": uri, "run_id": run_id}


def tracker_for(
    run_dir: Path, config: Any, summarize: Callable[[], dict[str, Any]], t2i: bool = False
) -> Tracker | None:
    """A Tracker for a run with ``track`` set (None otherwise)."""
    return Tracker(run_dir, config, summarize, t2i) if getattr(config, "track", None) else None


def with_tracking(config: Any) -> Any:
    """``config`` with its ``track`` resolved (``resolve``); configs without the option pass unchanged."""
    if not hasattr(config, "track"):
        return config
    return config.model_copy(update={"track": resolve(config.track)})
