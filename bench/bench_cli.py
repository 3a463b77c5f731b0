"""How long the bookkeeping commands take: `list` and `show` over many runs, and a refused argument.

Copies one small real run (default: the stored 0.2.0 run under tests/reference) N times into a temporary
runs directory, then times fresh `python -m promptclimb` processes: wall-clock best and median, and the
child's peak RSS (kernel rusage, POSIX only). Each command's exit status is checked.

    python bench/bench_cli.py [--runs 100] [--repeat 5] [--run DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_RUN = ROOT / "tests" / "reference" / "run-0.2.0"


def measure(argv: list[str], expected: int) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one fresh `python -m promptclimb ARGV` process; CPU
    time (user + system) depends less on what else the machine runs."""
    start = time.perf_counter()
    pid = os.spawnv(os.P_NOWAIT, sys.executable, [sys.executable, "-m", "promptclimb", *argv])
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != expected:
        raise SystemExit(f"promptclimb {' '.join(argv)} exited {code}, expected {expected}")
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * scale / 1e6


def make_runs(source: Path, runs_dir: Path, count: int) -> None:
    for k in range(count):
        shutil.copytree(source, runs_dir / f"run-{k:03d}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100, help="run directories to create")
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per command")
    parser.add_argument("--run", type=Path, default=REFERENCE_RUN, help="the run directory to copy")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        runs_dir = Path(tmp) / "runs"
        make_runs(options.run, runs_dir, options.runs)
        where = ["--runs-dir", str(runs_dir)]
        commands = [
            (f"list ({options.runs} runs)", [*where, "list"], 0),
            ("list --json", [*where, "list", "--json"], 0),
            ("show RUN", [*where, "show", "run-000"], 0),
            ("show RUN --json", [*where, "show", "run-000", "--json"], 0),
            ("run --itrations 2 (refused)", ["run", "--data", "x", "--itrations", "2"], 2),
            ("run --data x --shots 0 (refused)", ["run", "--data", "x", "--shots", "0"], 2),
        ]
        devnull = os.open(os.devnull, os.O_WRONLY)
        saved_out, saved_err = os.dup(1), os.dup(2)
        os.dup2(devnull, 1)  # the tables and error lines themselves are not the point
        os.dup2(devnull, 2)
        try:
            results = [
                (name, [measure(argv, code) for _ in range(options.repeat)]) for name, argv, code in commands
            ]
        finally:
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
    print(f"{options.repeat} fresh processes per command; runs copied from {options.run.name}")
    print("| command | best wall s | median wall s | median CPU s | peak RSS |")
    print("| --- | --- | --- | --- | --- |")
    for name, runs in results:
        wall, cpu = [w for w, _, _ in runs], [c for _, c, _ in runs]
        rss = max(r for _, _, r in runs)
        print(
            f"| {name} | {min(wall):.2f} | {statistics.median(wall):.2f} | {statistics.median(cpu):.2f} "
            f"| {rss:.0f} MB |"
        )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
