"""The embedded chat server: llama-cpp-python's OpenAI-compatible server as a child process.

It listens on 127.0.0.1 on a free port, is health-checked (GET /v1/models) before use and is stopped by its
PID (SIGTERM, then SIGKILL) when its context exits, fails or is interrupted. Safety nets: an atexit hook,
a SIGTERM/SIGHUP handler that turns the signal into SystemExit (so ``with`` blocks unwind) and, on Linux,
the child dies with its parent even when the parent is SIGKILLed (see _server_main.py).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import httpx

from promptclimb.llm.deadline import interrupt_requests
from promptclimb.llm.errors import BackendError, one_line

log = logging.getLogger(__name__)

THREADS_ENV = "PROMPTCLIMB_LLM_THREADS"
BATCH_THREADS_ENV = "PROMPTCLIMB_LLM_BATCH_THREADS"
BATCH_ENV = "PROMPTCLIMB_LLM_BATCH"
FLASH_ATTN_ENV = "PROMPTCLIMB_LLM_FLASH_ATTN"
DRAFT_ENV = "PROMPTCLIMB_LLM_DRAFT_TOKENS"
PROMPT_CACHE_ENV = "PROMPTCLIMB_LLM_PROMPT_CACHE_MB"
RSS_CEILING_ENV = "PROMPTCLIMB_LLM_RSS_CEILING_MB"
# 1: every request is read from its first token, with no prompt cache, so a reply depends only on the request
# and its seed (reusing a cached prefix changes llama.cpp's arithmetic, and so the tokens it samples).
REPRODUCIBLE_ENV = "PROMPTCLIMB_LLM_REPRODUCIBLE"
FRESH_PROMPTS_ENV = "PROMPTCLIMB_LLM_FRESH_PROMPTS"  # what the child reads (_server_main.py)
# Room for the states of about 5 conversations of 1,500 tokens with Qwen2.5-1.5B (28 KB of keys and values a
# token, about 45 MB an entry once the cache counts all it holds: _server_main.py). bench/RESULTS.md has
# what it saves and what it costs.
DEFAULT_PROMPT_CACHE_MB = 256
# Restart a server whose RSS passes (its RSS after the first reply) x this + its prompt cache, between
# requests: whatever still grows in llama.cpp or the C heap cannot take the machine down in a long bench.
RSS_CEILING_FACTOR = 1.25
HOST = "127.0.0.1"
_STOP_GRACE_S = 5.0
_TERM_GRACE_S = 1.0  # an idle server stops well within it; mid-reply it would wait, with nothing to save
_PORT_ATTEMPTS = 3
_SERVER_MAIN = Path(__file__).with_name("_server_main.py")
_LOG_TAIL_BYTES = 1 << 20
_ERROR_LINE = re.compile(r"error|exception|address already in use|failed", re.IGNORECASE)
_CHILD_ENV = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "TMPDIR", "TEMP", "TMP", "LD_LIBRARY_PATH", "SYSTEMROOT"}
)
_CHILD_ENV_PREFIXES = ("LC_", "CUDA_", "HIP_", "ROCR_", "GGML_", "OMP_", "DYLD_", "MALLOC_")

_live: dict[int, subprocess.Popen] = {}
_live_lock = threading.Lock()
_previous_handlers: dict[int, object] = {}


def llama_cpp_available() -> bool:
    """Whether llama-cpp-python and its server extras are importable (checked without importing them)."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette"))


def default_prompt_cache_bytes() -> int:
    """The embedded server's prompt cache: $PROMPTCLIMB_LLM_PROMPT_CACHE_MB (0: none), else the default.

    llama.cpp always reuses the prefix shared with the prompt it served last; the cache also keeps the
    states of other prompts, so conversations that take turns (concurrent cells) do not re-read their whole
    history on every call (measured: 2 conversations taking turns, 21.8 s per call without, 2.8 s with).
    """
    configured = os.environ.get(PROMPT_CACHE_ENV, "").strip()
    if not configured:
        return DEFAULT_PROMPT_CACHE_MB << 20
    try:
        megabytes = int(configured)
    except ValueError:
        megabytes = -1
    if megabytes < 0:
        raise BackendError(f"{PROMPT_CACHE_ENV} must be a whole number of MB >= 0, got {configured!r}")
    return megabytes << 20


def _env_int(name: str, default: int, minimum: int) -> int:
    configured = os.environ.get(name, "").strip()
    if not configured:
        return default
    try:
        value = int(configured)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise BackendError(f"{name} must be a whole number >= {minimum}, got {configured!r}")
    return value


def default_threads() -> int:
    """Generation threads: $PROMPTCLIMB_LLM_THREADS, else half the cores.

    llama.cpp threads spin while they wait for each other: with as many threads as cores, any other busy
    process (a CLIP forward pass, a test) slows generation down tenfold, measured on 2 cores.
    """
    return _env_int(THREADS_ENV, max(1, (os.cpu_count() or 2) // 2), 1)


@dataclass(frozen=True)
class Tuning:
    """How the server computes: llama.cpp's speed and memory settings (bench/bench_llm.py measures them)."""

    threads: int  # decoding, one token at a time
    batch_threads: int  # reading the prompt, many tokens at a time
    batch: int = 128  # tokens per forward pass while reading a prompt (n_batch = n_ubatch)
    flash_attn: bool = False
    draft_tokens: int = 0  # prompt-lookup decoding: tokens guessed from the prompt per step (0: off)
    logits_all: bool = False  # keep every token's logits (llama-cpp-python's server default; for the bench)

    def args(self) -> list[str]:
        draft = ["--draft_model", "prompt-lookup-decoding", "--draft_model_num_pred_tokens",
                 str(self.draft_tokens)] if self.draft_tokens else []  # fmt: skip
        return [
            "--n_threads", str(self.threads),
            "--n_threads_batch", str(self.batch_threads),
            "--n_batch", str(self.batch),
            "--n_ubatch", str(self.batch),
            "--flash_attn", str(self.flash_attn),
            # The server's default keeps the logits of every token read: n_ctx x vocabulary floats (2.5 GB
            # for Qwen), copied into every prompt-cache entry. Only logprobs need them, and we ask none;
            # prompt-lookup decoding checks its guesses with them, so it keeps them.
            "--logits_all", str(self.logits_all or bool(self.draft_tokens)),
            *draft,
        ]  # fmt: skip


def default_tuning() -> Tuning:
    """The settings that won in bench/RESULTS.md, each overridable from the environment."""
    threads = default_threads()
    return Tuning(
        threads=threads,
        batch_threads=_env_int(BATCH_THREADS_ENV, threads, 1),
        batch=_env_int(BATCH_ENV, Tuning.batch, 8),
        flash_attn=bool(_env_int(FLASH_ATTN_ENV, int(Tuning.flash_attn), 0)),
        draft_tokens=_env_int(DRAFT_ENV, Tuning.draft_tokens, 0),
    )


def reproducible() -> bool:
    """$PROMPTCLIMB_LLM_REPRODUCIBLE=1: replies that depend only on the request and its seed (slower: no
    prefix of an earlier request is reused)."""
    return bool(_env_int(REPRODUCIBLE_ENV, 0, 0))


def rss_ceiling_bytes() -> int | None:
    """$PROMPTCLIMB_LLM_RSS_CEILING_MB if set (0: never restart), else None: derived from the first reply."""
    if not os.environ.get(RSS_CEILING_ENV, "").strip():
        return None
    return _env_int(RSS_CEILING_ENV, 0, 0) << 20


def process_rss_bytes(pid: int) -> int | None:
    """Resident memory of a process (Linux /proc; None elsewhere or when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class EmbeddedServer:
    """One llama.cpp server process serving one GGUF file."""

    def __init__(
        self,
        model_path: Path,
        *,
        alias: str,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        startup_timeout_s: float = 300.0,
        prompt_cache_bytes: int | None = None,
        tuning: Tuning | None = None,
        rss_ceiling: int | None = None,
    ) -> None:
        """``prompt_cache_bytes`` > 0: keep model states of earlier prompts (llama-cpp-python's RAM cache),
        so a prompt that extends one of them, not only the last one served, skips reading its prefix;
        None: default_prompt_cache_bytes(); 0: no cache. ``tuning``: None, default_tuning() (``n_threads``
        sets both thread counts). ``rss_ceiling``: bytes past which recycle_if_needed() restarts the server;
        None: rss_ceiling_bytes(), else derived from the RSS after the first reply; 0: never."""
        self.model_path = model_path
        self.alias = alias
        self.n_ctx = n_ctx
        self.fresh_prompts = reproducible()
        self.prompt_cache_bytes = (
            default_prompt_cache_bytes() if prompt_cache_bytes is None else prompt_cache_bytes
        )
        if self.fresh_prompts:  # a cached state is a reused prefix too
            self.prompt_cache_bytes = 0
        tuning = tuning or default_tuning()
        if n_threads:
            tuning = replace(tuning, threads=n_threads, batch_threads=n_threads)
        self.tuning = tuning
        self.startup_timeout_s = startup_timeout_s
        self.rss_ceiling = rss_ceiling_bytes() if rss_ceiling is None else rss_ceiling
        self.requests = 0  # seen by recycle_if_needed(), over every process of this server
        self.restarts = 0
        self._recycle_lock = threading.Lock()
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._log: BinaryIO | None = None  # the child's output, already unlinked from the file system
        # A fresh key per server: other local users and processes cannot use the model we pay memory for.
        self.api_key = secrets.token_urlsafe(24)

    @property
    def n_threads(self) -> int:
        return self.tuning.threads

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, port: int | None = None) -> None:
        """Launch the server (on ``port`` first, if given) and wait until it answers; BackendError (one line)
        if it cannot."""
        if not llama_cpp_available():
            raise BackendError(
                "the embedded LLM needs llama-cpp-python with its server extras: "
                'pip install "llama-cpp-python[server]==0.3.36" (or pick another --llm)'
            )
        if not self.model_path.is_file():
            raise BackendError(f"model file not found: {self.model_path}")
        last_error = ""
        for attempt in range(_PORT_ATTEMPTS):
            self.port = port if port and attempt == 0 else free_port()
            self._launch()
            try:
                self._wait_until_healthy()
                log.info("embedded LLM server pid %s at %s", self.pid, self.base_url)
                return
            except _StartFailed as failed:
                last_error = str(failed)
                self.stop()
                if "address already in use" not in last_error.lower():
                    break  # only a lost port race is worth another try
        raise BackendError(f"embedded LLM server for {self.model_path.name} did not start: {last_error}")

    def _launch(self) -> None:
        fd, log_name = tempfile.mkstemp(prefix="promptclimb-llama-", suffix=".log")
        # Unlinked at once, read through our handle: no log is left behind even when we are SIGKILLed.
        self._log = open(log_name, "rb")  # noqa: SIM115 (closed in stop())
        os.unlink(log_name)
        command = [sys.executable, str(_SERVER_MAIN), *self._server_args()]
        env = {**child_environment(), "PROMPTCLIMB_PARENT_PID": str(os.getpid())}
        if self.fresh_prompts:
            env[FRESH_PROMPTS_ENV] = "1"
        with os.fdopen(fd, "wb") as log_file:
            # A new session: a Ctrl-C in the terminal reaches us, and we stop the server in order.
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        _register(self.process)

    def _server_args(self) -> list[str]:
        cache = ["--cache", "True", "--cache_type", "ram", "--cache_size", str(self.prompt_cache_bytes)]
        return (cache if self.prompt_cache_bytes > 0 else []) + [
            "--model", str(self.model_path),
            "--model_alias", self.alias,
            "--host", HOST,
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            *self.tuning.args(),
            f"--api_key={self.api_key}",  # one token: a key starting with "-" is no flag to argparse
            "--use_mlock", "False",  # pinning a GB fails under container memlock limits
            "--verbose", "False",
        ]  # fmt: skip

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"{self.base_url}/models"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.api_key}"})
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise _StartFailed(f"exited with code {self.process.returncode}: {self._log_tail()}")
            try:
                with opener.open(request, timeout=2.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise _StartFailed(f"no answer on {url} after {self.startup_timeout_s:.0f} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        """The server's last error line, else its last informative line.

        Uvicorn logs "Application shutdown complete" after the real error (a port in use, a bad option), so
        the last line alone would hide it, and with it the port-collision retry.
        """
        try:
            text = os.pread(self._log.fileno(), _LOG_TAIL_BYTES, 0) if self._log else b""
        except OSError:
            text = b""
        lines = text.decode(errors="replace").splitlines()
        meaningful = [
            line for line in lines if line.strip() and not line.startswith((" ", "\t", "Traceback"))
        ]
        errors = [line for line in meaningful if _ERROR_LINE.search(line)]
        chosen = errors or meaningful
        return one_line(chosen[-1]) if chosen else "no output"

    def recycle_if_needed(self) -> bool:
        """Before each request: restart the server (same port and key when it can) if it died or its RSS
        passed the ceiling; True if it did. BackendError if the restart fails (the caller retries).

        Requests are serialized (one slot per embedded server, llm/ratelimit.py), so none is in flight here.
        """
        with self._recycle_lock:
            self.requests += 1
            if self.process is None:  # a restart that failed: try again
                why = "is not running"
            elif self.process.poll() is not None:
                why = f"exited with code {self.process.returncode}: {self._log_tail()}"
            else:
                rss = process_rss_bytes(self.process.pid)
                if self.rss_ceiling is None and self.requests == 2 and rss:  # the first reply is done
                    self.rss_ceiling = int(rss * RSS_CEILING_FACTOR) + self.prompt_cache_bytes
                if not (rss and self.rss_ceiling and rss > self.rss_ceiling):
                    return False
                why = f"RSS {rss >> 20} MB passed its ceiling of {self.rss_ceiling >> 20} MB"
            log.warning("embedded LLM server pid %s %s: restarting it", self.pid, why)
            port = self.port
            self.stop()
            self.start(port)
            self.restarts += 1
            return True

    def before_request(self, request: httpx.Request) -> None:
        """An httpx request hook: recycle_if_needed(), then send to the port the server has now.

        A failed restart reaches the proposer as a connection error, which it retries like any other.
        """
        try:
            self.recycle_if_needed()
        except BackendError as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        if self.port and request.url.port != self.port:
            request.url = request.url.copy_with(port=self.port)
            request.headers["Host"] = f"{request.url.host}:{self.port}"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; always reaps the process and removes its log."""
        process, self.process = self.process, None
        if process is not None:
            stop_process(process)
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None


class _StartFailed(Exception):
    pass


def child_environment() -> dict[str, str]:
    """The environment the server child gets: what Python, the C runtime and GPU drivers need, nothing else.

    llama-cpp-python's settings read HOST, PORT, API_KEY, MODEL... from the environment over its flags, so an
    exported PORT breaks the start and HOST=0.0.0.0 would expose the server; and our API keys are not its
    business.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name in _CHILD_ENV or name.startswith(_CHILD_ENV_PREFIXES)
    }
    # glibc gives each thread that allocates its own heap (up to 8 per core); the server allocates from
    # a pool of threads, and freed memory stranded in those heaps shows up as growing RSS.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    """Stop one child by its PID and reap it."""
    try:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=_TERM_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=_STOP_GRACE_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("could not stop embedded LLM server pid %s: %s", process.pid, exc)
    finally:
        _unregister(process)


def _register(process: subprocess.Popen) -> None:
    with _live_lock:
        _live[process.pid] = process
        if len(_live) == 1:
            _install_signal_handlers()


def _unregister(process: subprocess.Popen) -> None:
    with _live_lock:
        _live.pop(process.pid, None)
        if not _live:
            _restore_signal_handlers()


def _stop_all() -> None:
    for process in list(_live.values()):
        stop_process(process)


atexit.register(_stop_all)


def _exit_on_signal(signum: int, _frame: object) -> None:
    # Unwind like Ctrl-C does: a request in flight in a worker thread ends now, not with its reply (the
    # thread pool would wait for it), context managers stop their servers, then atexit catches the rest.
    interrupt_requests()
    raise SystemExit(128 + signum)


def _install_signal_handlers() -> None:
    """Only where nobody else handles the signal, and only from the main thread (Python's rule)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            _previous_handlers[signum] = signal.SIG_DFL
            signal.signal(signum, _exit_on_signal)


def _restore_signal_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, handler in list(_previous_handlers.items()):
        if signal.getsignal(signum) is _exit_on_signal:
            signal.signal(signum, handler)
        del _previous_handlers[signum]
