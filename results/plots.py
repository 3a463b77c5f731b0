"""PNG plots of a run, drawn with matplotlib's Agg canvas (no display, no pyplot global state).

Every function takes plain numbers (fractions in [0, 1]; the plots show percent) and writes one PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless; harmless when a backend was already chosen by the caller

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from promptclimb.results.atomic import write_with

DPI = 120
SIZE = (7.0, 4.2)  # inches: 840 x 504 px at DPI
RESTART_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
POOL_COLOR = "#7f7f7f"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
MIN_SPAN = 10.0  # percentage points: flat curves are not blown up into noise-sized axes


def _accuracy_limits(values: Sequence[float]) -> tuple[float, float]:
    """y limits in percent around the data, at least MIN_SPAN tall, inside [0, 100] plus a margin."""
    if not values:
        return 0.0, 100.0
    low, high = min(values), max(values)
    pad = max((MIN_SPAN - (high - low)) / 2, 2.0)
    low, high = max(0.0, low - pad), min(100.0, high + pad)
    if high - low < MIN_SPAN:
        low, high = (0.0, MIN_SPAN) if low == 0.0 else (100.0 - MIN_SPAN, 100.0)
    return low - 1, high + 1


@dataclass(frozen=True)
class Bar:
    label: str
    accuracy: float  # fraction
    low: float  # Wilson 95% interval, fractions
    high: float
    color: str = "#1f77b4"


def _figure() -> Figure:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    return write_with(path, lambda tmp: figure.savefig(tmp, format="png", dpi=DPI))


def _restart_color(restart: int) -> str:
    return RESTART_COLORS[restart % len(RESTART_COLORS)]


def plot_progress(
    curves: dict[int, Sequence[tuple[int, float]]],
    path: Path,
    title: str,
    exact_calls: bool = True,
    measure: str = "best training accuracy so far (%)",
) -> Path:
    """Best-so-far training accuracy against cumulative LLM calls, one step line per restart.

    ``curves`` maps a restart to its points (LLM calls so far in the run, best training accuracy so far);
    each restart starts from the best template of the initial pool. Without ``exact_calls`` the x values
    count iterations (one call each), and the axis says so.
    """
    figure = _figure()
    ax = figure.add_subplot()
    every: list[float] = []
    for restart, points in sorted(curves.items()):
        if not points:
            continue
        xs = [x for x, _ in points]
        ys = [100 * y for _, y in points]
        every += ys
        color = _restart_color(restart)
        marker = MARKERS[restart % len(MARKERS)]
        ax.step(xs, ys, where="post", color=color, linewidth=2, alpha=0.85)
        ax.plot(xs, ys, marker, color=color, markersize=6, linestyle="none")
        ax.plot([], [], color=color, marker=marker, linewidth=2, label=f"restart {restart + 1}")
    ax.set_ylim(*_accuracy_limits(every))
    ax.set_xlabel(
        "LLM calls (cumulative over the run)"
        if exact_calls
        else "LLM iterations (cumulative; calls not split)"
    )
    ax.set_ylabel(measure)
    ax.set_title(title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(loc="lower right", fontsize="small", title="from the pool's best", title_fontsize="small")
    return _save(figure, path)


def plot_candidates(points: Sequence[tuple[int, int, float, str]], path: Path, title: str) -> Path:
    """Every scored template's training accuracy by iteration: (restart, iteration, accuracy, source).

    The initial pool sits at iteration 0, with the local edits the scorer tried (no LLM call); LLM proposals
    are coloured by restart and spread a little sideways per restart so that restarts do not hide each other.
    """
    figure = _figure()
    ax = figure.add_subplot()
    local = [100 * acc for _, _, acc, source in points if source == "local"]
    points = [p for p in points if p[3] != "local"]
    restarts = sorted({r for r, _, _, source in points if source != "pool"})
    width = 0.6 / max(len(restarts), 1)
    pool = [100 * acc for _, _, acc, source in points if source == "pool"]
    if pool:
        ax.scatter(_spread(len(pool), 0.3), pool, color=POOL_COLOR, alpha=0.6, s=28, label="initial pool")
    if local:
        ax.scatter(_spread(len(local), 0.3), local, color=POOL_COLOR, alpha=0.6, s=28, marker="x",
                   label="local edits (no LLM)")  # fmt: skip
    for k, restart in enumerate(restarts):
        mine = [(i, acc) for r, i, acc, source in points if source != "pool" and r == restart]
        offset = (k - (len(restarts) - 1) / 2) * width
        jitter = _spread(len(mine), 0.5 * width)
        ax.scatter(
            [i + offset + j for (i, _), j in zip(mine, jitter, strict=True)],
            [100 * acc for _, acc in mine],
            color=_restart_color(restart),
            alpha=0.6,
            s=28,
            marker=MARKERS[restart % len(MARKERS)],
            label=f"LLM, restart {restart + 1}",
        )
    ax.set_ylim(*_accuracy_limits([100 * acc for *_, acc, _ in points] + local))
    ax.set_xlim(-0.5, max((i for _, i, _, _ in points), default=0) + 0.5)  # whole iterations on the axis
    ax.set_xlabel("iteration (0 = initial pool)")
    ax.set_ylabel("training accuracy (%)")
    ax.set_title(title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    if points or local:
        ax.legend(loc="best", fontsize="small")
    return _save(figure, path)


def _spread(n: int, width: float) -> list[float]:
    """Deterministic sideways offsets in [-width/2, width/2] so that equal scores stay visible."""
    if n <= 1:
        return [0.0] * n
    return [width * (k / (n - 1) - 0.5) for k in range(n)]


def plot_test_bars(bars: Sequence[Bar], path: Path, title: str, split: str = "test") -> Path:
    """Final accuracies side by side, with asymmetric Wilson 95% error bars and the value on each bar."""
    figure = _figure()
    ax = figure.add_subplot()
    xs = list(range(len(bars)))
    heights = [100 * b.accuracy for b in bars]
    errors = [
        [100 * (b.accuracy - b.low) for b in bars],
        [100 * (b.high - b.accuracy) for b in bars],
    ]
    ax.bar(xs, heights, color=[b.color for b in bars], width=0.6)
    ax.errorbar(xs, heights, yerr=errors, fmt="none", ecolor="black", capsize=6, linewidth=1.2)
    for x, b in zip(xs, bars, strict=True):
        ax.annotate(
            f"{100 * b.accuracy:.1f}%",
            (x, 100 * b.high),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize="small",
        )
    ax.set_xticks(xs, [b.label for b in bars], fontsize="small")
    ax.set_ylabel(f"{split} accuracy (%)")
    ax.set_ylim(0, min(105, max([100 * b.high for b in bars], default=100) + 12))
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.text(
        0.99,
        0.98,
        "error bars: Wilson 95% interval",
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize="x-small",
        color="#444444",
    )
    return _save(figure, path)
