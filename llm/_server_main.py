"""Entry point of the embedded llama.cpp server child: die with the parent, then run llama_cpp.server.

Run by file path (not ``-m llm...``) so the child imports nothing of the project. The parent passes its PID in
PROMPTCLIMB_PARENT_PID: on Linux the kernel kills this process when the parent dies, even by SIGKILL, so a
crashed run never leaves a server holding a GB of memory.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    # The parent may have died before prctl took effect: then we were re-parented already.
    expected = os.environ.get("PROMPTCLIMB_PARENT_PID")
    if expected and os.getppid() != int(expected):
        sys.exit(1)


if __name__ == "__main__":
    # Run by path, sys.path[0] is llm/: its modules (models.py, errors.py...) must not shadow real packages.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    _die_with_parent()
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
