"""How long `promptclimb --help` takes and how much memory it needs: the cost of starting the CLI.

Runs the command N times in fresh processes and prints the best and median wall-clock seconds and the
peak resident set size (RSS) of the child, from the kernel's rusage. POSIX only (os.wait4).

    python bench/bench_help.py [--repeat 5] [-- ARGS...]      (default ARGS: --help)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one fresh `python -m promptclimb ARGV` process."""
    start = time.perf_counter()
    pid = os.spawnv(os.P_NOWAIT, sys.executable, [sys.executable, "-m", "promptclimb", *argv])
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"promptclimb {' '.join(argv)} failed")
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return seconds, usage.ru_maxrss * scale / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes to time")
    parser.add_argument("args", nargs="*", default=["--help"], help="promptclimb arguments")
    options = parser.parse_args()
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1)
    os.dup2(devnull, 1)  # the help text itself is not the point
    try:
        runs = [measure(options.args) for _ in range(options.repeat)]
    finally:
        os.dup2(saved, 1)
    seconds = [s for s, _ in runs]
    print(f"promptclimb {' '.join(options.args)}: {options.repeat} fresh processes")
    print(f"wall seconds: best {min(seconds):.2f}, median {statistics.median(seconds):.2f}")
    print(f"peak RSS: {max(rss for _, rss in runs):.0f} MB")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
