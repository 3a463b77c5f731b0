"""Entry point of the embedded llama.cpp server child: die with the parent, bound memory, run the server.

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


def _bound_memory() -> None:
    """Make the prompt cache count what its entries hold, and give freed heap back after each completion.

    llama-cpp-python 0.3.36's RAM cache counts only an entry's llama.cpp state (keys and values), but each
    entry also copies the logits of every token read (tokens x vocabulary floats: 0.9 GB for 1,500 tokens
    of Qwen, 22 GB in all under a "1 GiB" cache, bench/RESULTS.md). Only the last row can matter: a
    restored state always re-reads at least one token before sampling.
    """
    try:
        import ctypes

        import llama_cpp
    except ImportError:
        return

    class CountedRAMCache(llama_cpp.LlamaRAMCache):
        def __setitem__(self, key, value) -> None:  # type: ignore[no-untyped-def]
            value.scores = value.scores[-1:].copy()  # load_state broadcasts one row over the others
            super().__setitem__(key, value)

        @property
        def cache_size(self) -> int:
            return sum(
                state.llama_state_size + state.scores.nbytes + state.input_ids.nbytes
                for state in self.cache_state.values()
            )

    llama_cpp.LlamaRAMCache = CountedRAMCache  # type: ignore[misc]  (the server looks it up at start)
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return  # not glibc
    completion = llama_cpp.Llama.create_completion

    def create_completion_then_trim(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return completion(self, *args, **kwargs)
        finally:
            trim(0)

    llama_cpp.Llama.create_completion = create_completion_then_trim  # type: ignore[method-assign]


def _read_every_prompt_whole() -> None:
    """PROMPTCLIMB_LLM_FRESH_PROMPTS=1: forget the last prompt before each completion, so none of it is
    reused. llama.cpp reads a reused prefix's continuation in other batches than a whole prompt, which
    changes the logits in their last digits and so what is sampled: without this, the same request and
    seed can get another reply after the server has served something else."""
    if os.environ.get("PROMPTCLIMB_LLM_FRESH_PROMPTS") != "1":
        return
    try:
        import llama_cpp
    except ImportError:
        return
    completion = llama_cpp.Llama.create_completion

    def create_completion_from_scratch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.reset()
        return completion(self, *args, **kwargs)

    llama_cpp.Llama.create_completion = create_completion_from_scratch  # type: ignore[method-assign]


if __name__ == "__main__":
    # Run by path, sys.path[0] is llm/: its modules (models.py, errors.py...) must not shadow real packages.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    _die_with_parent()
    _bound_memory()
    _read_every_prompt_whole()
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
