"""Ask the chat model for new templates: retries, re-asks, parsing, validation and accounting.

``Proposer.propose`` never lets a reply break a run: an unusable reply is re-asked (``max_reasks`` times),
then an empty Proposal is returned. Only an unreachable model raises, as LLMUnavailable with a one-line
cause. Every request, failed attempts included, becomes an LLMCall passed to ``recorder`` and kept in the
Proposal.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx
import openai
from langchain_core.exceptions import ContextOverflowError, ModelError
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from promptclimb.llm.backends import ChatBackend
from promptclimb.llm.deadline import interruptible_sleep
from promptclimb.llm.errors import LLMUnavailable, one_line
from promptclimb.llm.parsing import (
    MAX_CANDIDATES,
    dash_lines,
    describe_failure,
    extract_candidates,
    screen,
    shorten,
)
from promptclimb.llm.ratelimit import estimate_tokens
from promptclimb.llm.records import LLMCall, clip_reply, utc_now_iso
from promptclimb.prompts import meta
from promptclimb.prompts.slots import fill_slots
from promptclimb.prompts.template import normalize

# The lead owns the wording (prompts/meta.py); these names are the llm package's view of it.
PLACEHOLDER_WORD = meta.PLACEHOLDER_WORD
REASK_MESSAGE = meta.REASK  # slots <<ERROR>> and <<N>>, filled by plain str.replace

EMPTY_REPLY_STAND_IN = "(empty reply)"
EXTRAS_FACTOR = 2  # valid templates kept per call: up to this many times the number asked
# Replies of a few templates are well under 2 KB; longer ones keep only their parsed templates.
MAX_CONVERSATION_REPLY_CHARS = 4_000
MAX_KEPT_CANDIDATES = 20
MAX_BACKOFF_S = 60.0
MAX_RETRY_AFTER_S = 600.0  # a server asking for a longer pause is treated as down
# A positive class (llama.cpp grammars enforce only those). Digits are allowed ("a 3D render of a {}."):
# the length bound below stops a model that copies the scores shown next to templates from running on.
_TEMPLATE_CHARS = r"[A-Za-z0-9 ,.;:!?'()&/-]"

__all__ = [
    "LLMContextOverflow",
    "LLMUnavailable",
    "PLACEHOLDER_WORD",
    "Proposal",
    "Proposer",
    "REASK_MESSAGE",
    "reask_message",
]

log = logging.getLogger(__name__)


class LLMContextOverflow(LLMUnavailable):
    """The conversation no longer fits the model's context: drop old turns and ask again."""


class Proposal(BaseModel):
    """The outcome of one proposal request (re-asks included)."""

    templates: list[str]  # validated, cleaned, deduplicated against `seen` and each other
    rejections: list[tuple[str, str]]  # (proposed text shortened to <= 120 chars, reason)
    reply: str  # raw text of the accepted reply ("" or the last bad reply when none was usable)
    error: str | None = None  # why the last reply was unusable, when no template came of the proposal
    calls: list[LLMCall]  # every request made for this proposal, failed attempts included


@dataclass
class Asked:
    """The outcome of one structured request (re-asks included): the parsed value, or None and why."""

    value: object
    reply: str
    calls: list[LLMCall]
    error: str | None = None


@dataclass(frozen=True)
class _Failure:
    retryable: bool
    retry_after_s: float | None
    cause: str
    context_overflow: bool = False
    rate_limited: bool = False  # 429, or told when to come back: the whole endpoint pauses


def reask_message(error: str, n: int) -> str:
    return fill_slots(REASK_MESSAGE, ERROR=one_line(error), N=str(n))


class Proposer:
    def __init__(
        self,
        backend: ChatBackend,
        *,
        max_retries: int = 5,
        max_reasks: int = 2,
        backoff_s: float = 1.0,
        recorder: Callable[[LLMCall], None] | None = None,
        sleep: Callable[[float], None] = interruptible_sleep,  # backoffs end on Ctrl-C, in any thread
        rng: random.Random | None = None,
        logged: Iterable[LLMCall] = (),
    ) -> None:
        """``max_retries``: retries after the first attempt of a request (transport errors, 429, 5xx).

        ``logged``: the run's call log so far. A step asked again (its process was killed after the reply
        was logged, before the step was checkpointed) reuses its logged replies instead of paying again.
        """
        self.backend = backend
        self.max_retries = max_retries
        self.max_reasks = max_reasks
        self.backoff_s = backoff_s
        self.recorder = recorder
        self.sleep = sleep
        self.rng = rng or random.Random()
        # The graph step being served, copied into each call record: per thread, as concurrent restarts
        # share one proposer.
        self._serving = threading.local()
        self._logged: dict[str, list[LLMCall]] = {}
        for call in logged:
            if call.step is not None:  # a step's label is unique in a run: its records were never counted
                self._logged.setdefault(call.step, []).append(call)
        self._logged_lock = threading.Lock()

    def propose(
        self,
        messages: list[dict[str, str]],
        n: int,
        seen: set[str],
        seed: int | None = None,
        step: str | None = None,
        max_calls: int | None = None,
        dash_reply: bool = False,
    ) -> Proposal:
        """New templates for this conversation (n asked; valid extras kept, up to 2n); [] when the model
        gave nothing usable.

        ``step`` labels every call record of this proposal, so the audit log says which step asked;
        ``max_calls`` bounds the requests (re-asks included) so a budget is never overrun by re-asks.
        ``dash_reply``: Liu et al.'s released loop (``--meta liu2024``): free text (no JSON constraint),
        templates on lines starting "- ", and a re-ask sends the same messages again instead of telling the
        model what was wrong with its reply.
        """
        self._serve(step)
        proposal = self._propose(messages, n, seen, seed, max_calls, dash_reply)
        proposal.calls[:0] = self._unreached()
        return proposal

    def _serve(self, step: str | None) -> None:
        """Label this thread's calls with ``step``, and line up the logged calls of that step for reuse."""
        self._serving.step = step
        with self._logged_lock:
            self._serving.orphans = self._logged.pop(step, []) if step is not None else []

    def _unreached(self) -> list[LLMCall]:
        """Logged calls of this step the replay did not reach (another model, another request): paid for all
        the same, so counted and costed, never lost."""
        left, self._serving.orphans = self._serving.orphans, []
        return left

    def _propose(
        self,
        messages: list[dict[str, str]],
        n: int,
        seen: set[str],
        seed: int | None,
        max_calls: int | None,
        dash_reply: bool,
    ) -> Proposal:
        parse = dash_lines if dash_reply else extract_candidates
        conversation = [dict(m) for m in messages]
        seen_keys = {normalize(s) for s in seen}
        calls: list[LLMCall] = []
        rejections: list[tuple[str, str]] = []
        reply = ""
        error: str | None = None
        for round_number in range(self.max_reasks + 1):
            if max_calls is not None and round_number > 0 and len(calls) >= max_calls:
                break
            round_seed = None if seed is None else seed + round_number  # a re-ask must not replay the dud
            reply = self._request(conversation, n, round_seed, calls, free_text=dash_reply)
            candidates, parse_error = parse(reply)
            # A valid template costs one text-encoder pass: extras beyond n are kept (bounded); the released
            # loop scores every "- " line.
            cap = MAX_CANDIDATES if dash_reply else EXTRAS_FACTOR * n
            templates, rejected = screen(candidates, seen_keys, cap)
            rejections.extend(rejected)
            kept = compact_reply(reply, candidates)
            if templates:
                return Proposal(templates=templates, rejections=rejections, reply=kept, calls=calls)
            error = describe_failure(parse_error, rejected)
            if dash_reply and parse_error is None and all(r.startswith("duplicate") for _, r in rejected):
                # The release accepts a reply of templates already scored and moves on: no re-ask.
                return Proposal(templates=[], rejections=rejections, reply=kept, calls=calls)
            if dash_reply:  # the release sends the same message again
                continue
            conversation += [
                # Some APIs (Anthropic) refuse an empty assistant turn: a reply must never cause a 400.
                {"role": "assistant", "content": kept if kept.strip() else EMPTY_REPLY_STAND_IN},
                {"role": "user", "content": reask_message(error, n)},
            ]
        return Proposal(
            templates=[], rejections=rejections, reply=compact_reply(reply, []), calls=calls, error=error
        )

    def ask(
        self,
        messages: list[dict[str, str]],
        parse: Callable[[str], tuple[object, str | None]],
        reask: Callable[[str], str],
        *,
        schema: dict | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        step: str | None = None,
        max_calls: int | None = None,
    ) -> Asked:
        """One structured request other than templates (class-specific texts, ...): ``parse`` turns a reply
        into (value, None) or (None, why); an unusable reply is re-asked with ``reask(why)``, as templates
        are. ``schema`` constrains servers that can (llama.cpp grammars, OpenAI's json_schema)."""
        self._serve(step)
        asked = self._ask(messages, parse, reask, schema, max_tokens, seed, max_calls)
        asked.calls[:0] = self._unreached()
        return asked

    def _ask(
        self,
        messages: list[dict[str, str]],
        parse: Callable[[str], tuple[object, str | None]],
        reask: Callable[[str], str],
        schema: dict | None,
        max_tokens: int | None,
        seed: int | None,
        max_calls: int | None,
    ) -> Asked:
        conversation = [dict(m) for m in messages]
        calls: list[LLMCall] = []
        reply, error = "", None
        options: dict[str, object] = {}
        body: dict[str, object] = {}
        if schema is not None and self.backend.structured == "json_object_schema":
            body["response_format"] = {"type": "json_object", "schema": schema}
        elif schema is not None and self.backend.structured == "json_schema":
            body["response_format"] = {"type": "json_object"}
        if max_tokens is not None and self.backend.max_tokens_per_template:
            body["max_tokens"] = max_tokens
        if body:
            options["extra_body"] = body
        for round_number in range(self.max_reasks + 1):
            if max_calls is not None and round_number > 0 and len(calls) >= max_calls:
                break
            if seed is not None and self.backend.supports_seed:
                options["seed"] = seed + round_number
            request = [dict(m) for m in conversation]
            reply = self.invoke(to_langchain(conversation), request, dict(options), calls)
            value, error = parse(reply)
            if error is None:
                return Asked(value=value, reply=compact_reply(reply, []), calls=calls)
            conversation += [
                {"role": "assistant", "content": compact_reply(reply, []) or EMPTY_REPLY_STAND_IN},
                {"role": "user", "content": reask(error)},
            ]
        return Asked(value=None, reply=compact_reply(reply, []), calls=calls, error=error)

    # -- one request, with retries ------------------------------------------------------------------

    def _request(
        self,
        conversation: list[dict[str, str]],
        n: int,
        seed: int | None,
        calls: list[LLMCall],
        free_text: bool = False,
    ) -> str:
        request = [dict(m) for m in conversation]
        options = self._request_options(n, seed, free_text)
        return self.invoke(to_langchain(conversation), request, options, calls)

    def invoke(
        self,
        lc_messages: list[BaseMessage],
        request: list[dict[str, str]],
        options: dict[str, object],
        calls: list[LLMCall],
    ) -> str:
        """One chat request with retries, backoff and a record per attempt; returns the reply text.

        ``request`` is what the call records store (text stand-ins for images, for instance); raises
        LLMUnavailable (or LLMContextOverflow) when the attempts run out or cannot succeed.
        """
        reused = self._reuse(request, calls)
        if reused is not None:
            return reused
        attempts = self.max_retries + 1
        limiter = self.backend.limiter
        tokens = estimate_tokens([str(m.content) for m in lc_messages], _max_tokens(options))
        waited_until = 0.0  # the end of the last endpoint pause this caller slept through itself
        for attempt in range(1, attempts + 1):
            # Wait for this endpoint's rate (shared with concurrent runs), and out any pause another
            # caller's 429 started.
            booking = limiter.acquire(tokens, self.sleep, waited_until=waited_until) if limiter else None
            with limiter.slot() if limiter else nullcontext():  # queue for a bounded server here
                started_at, start = utc_now_iso(), time.monotonic()
                message, exc = self._call(lc_messages, options)
            if exc is not None:  # classified: retry (after waiting outside the slot), or fail in one line
                failure = classify(exc)
                self._record(calls, request, started_at, start, error=failure.cause)
                waited_until = self._give_up_or_wait(failure, attempt, attempts) or waited_until
                continue
            text = message_text(message)
            usage = getattr(message, "usage_metadata", None) or {}
            input_tokens = int(usage.get("input_tokens", 0) or 0)
            output_tokens = int(usage.get("output_tokens", 0) or 0)
            if limiter and booking:
                limiter.settle(booking, input_tokens + output_tokens)
            self._record(
                calls,
                request,
                started_at,
                start,
                reply=text,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            )
            return text
        raise AssertionError("unreachable: the last attempt either returns or raises")

    def _reuse(self, request: list[dict[str, str]], calls: list[LLMCall]) -> str | None:
        """The logged reply to this very request in the step being asked again, if there is one.

        Its logged attempts (failed ones too) join ``calls``, so they are counted once, not re-recorded.
        """
        orphans: list[LLMCall] = getattr(self._serving, "orphans", [])
        while orphans and orphans[0].request == request and orphans[0].model == self.backend.name:
            call = orphans.pop(0)
            calls.append(call)
            if call.reply is not None:
                return call.reply
        return None

    def _call(
        self, lc_messages: list[BaseMessage], options: dict[str, object]
    ) -> tuple[BaseMessage | None, Exception | None]:
        """The model's reply, or the error to classify (a cut reply carried by an error is a reply)."""
        try:
            return self.backend.model.invoke(lc_messages, **options), None
        except Exception as exc:
            salvaged = reply_in_error(exc)
            return (salvaged, None) if salvaged is not None else (None, exc)

    def _give_up_or_wait(self, failure: _Failure, attempt: int, attempts: int) -> float | None:
        """Raise when the request cannot succeed, else wait before the next attempt. A 429 pauses the whole
        endpoint (concurrent callers wait too): then returns when that pause ends."""
        where = self._where()
        if failure.context_overflow:
            raise LLMContextOverflow(f"{where}: conversation too long for the model: {failure.cause}")
        if not failure.retryable:
            verb = "refused the request" if failure.cause.startswith("HTTP ") else "failed"
            raise LLMUnavailable(f"{where} {verb}: {failure.cause}")
        if attempt >= attempts:
            raise LLMUnavailable(f"{where} unreachable after {attempt} attempts: {failure.cause}")
        if failure.retry_after_s is not None:
            if failure.retry_after_s > MAX_RETRY_AFTER_S:
                raise LLMUnavailable(
                    f"{where} asked to retry after {failure.retry_after_s:.0f} s: {failure.cause}"
                )
            delay = failure.retry_after_s
        else:
            delay = min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1)) * (1 + 0.5 * self.rng.random())
        limiter = self.backend.limiter
        until = limiter.pause(delay) if failure.rate_limited and limiter is not None else None
        # a slow or dead server would otherwise be minutes of silence (6 attempts of 120 s by default)
        log.warning(
            "%s: %s (attempt %d of %d); retrying in %.0f s", where, failure.cause, attempt, attempts, delay
        )
        self.sleep(delay)
        return until

    def _where(self) -> str:
        if self.backend.base_url:
            return f"LLM server at {self.backend.base_url}"
        return f"LLM {self.backend.name}"

    def _request_options(self, n: int, seed: int | None, free_text: bool = False) -> dict[str, object]:
        # response_format and max_tokens travel in extra_body, merged into the request JSON as they are:
        # a top-level response_format sends ChatOpenAI down the client's parse() path, which raises on a
        # reply cut by max_tokens (a reply must never break a run); and ChatOpenAI renames max_tokens to
        # max_completion_tokens, which llama-cpp-python's server ignores.
        body: dict[str, object] = {}
        if free_text:  # a reply format of its own ("- " lines): no JSON constraint
            pass
        elif self.backend.structured == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "templates", "strict": True, "schema": templates_schema()},
            }
        elif self.backend.structured == "json_object_schema":
            body["response_format"] = {"type": "json_object", "schema": templates_schema(n, constrained=True)}
        if self.backend.max_tokens_per_template:
            body["max_tokens"] = 40 + n * self.backend.max_tokens_per_template
        options: dict[str, object] = {"extra_body": body} if body else {}
        if seed is not None and self.backend.supports_seed:
            options["seed"] = seed
        return options

    def _record(
        self,
        calls: list[LLMCall],
        request: list[dict[str, str]],
        started_at: str,
        start: float,
        *,
        reply: str | None = None,
        error: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        price = self.backend.price
        call = LLMCall(
            started_at=started_at,
            model=self.backend.name,
            request=request,
            reply=None if reply is None else clip_reply(reply),
            error=error,
            latency_s=round(time.monotonic() - start, 4),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=price.cost(input_tokens, output_tokens) if price else 0.0,
            priced=price is not None,
            step=getattr(self._serving, "step", None),
        )
        calls.append(call)
        if self.recorder is not None:
            self.recorder(call)


def compact_reply(reply: str, candidates: list[str]) -> str:
    """A reply as the conversation keeps and resends it: whole when short, else only what was parsed.

    A runaway or hostile 100 KB reply would otherwise ride along in every later request of the restart, in
    every checkpoint and in every call record.
    """
    if len(reply) <= MAX_CONVERSATION_REPLY_CHARS:
        return reply
    if not candidates:
        return f"(a reply of {len(reply)} characters with no templates in it)"
    return json.dumps({"templates": [shorten(c) for c in candidates[:MAX_KEPT_CANDIDATES]]})


def templates_schema(n: int | None = None, *, constrained: bool = False) -> dict:
    """JSON schema of the reply: {"templates": [string, ...]}.

    ``constrained`` (llama.cpp grammars): exactly n strings, each one sentence of plain characters around
    one slot (the placeholder word or {}), at most 80 characters each side. OpenAI's strict mode rejects
    these keywords, so its schema stays plain.
    """
    item: dict[str, object] = {"type": "string"}
    array: dict[str, object] = {"type": "array", "items": item}
    if constrained:
        slot = f"({re.escape(PLACEHOLDER_WORD)}|\\{{\\}})"
        item["pattern"] = f"^{_TEMPLATE_CHARS}{{0,80}}{slot}{_TEMPLATE_CHARS}{{0,80}}$"
        if n:
            array["minItems"] = array["maxItems"] = n
    schema: dict[str, object] = {
        "type": "object",
        "properties": {"templates": array},
        "required": ["templates"],
    }
    if not constrained:
        schema["additionalProperties"] = False
    return schema


_ROLES = {
    "system": SystemMessage,
    "user": HumanMessage,
    "human": HumanMessage,
    "assistant": AIMessage,
    "ai": AIMessage,
}


def _max_tokens(options: dict[str, object]) -> int | None:
    body = options.get("extra_body")
    value = body.get("max_tokens") if isinstance(body, dict) else None
    return value if isinstance(value, int) else None


def to_langchain(messages: list[dict[str, str]]) -> list[BaseMessage]:
    converted = []
    for message in messages:
        role = message.get("role", "")
        if role not in _ROLES:
            raise ValueError(f"unknown chat role {role!r} (expected system, user or assistant)")
        converted.append(_ROLES[role](content=message.get("content", "")))
    return converted


def reply_in_error(exc: BaseException) -> AIMessage | None:
    """The reply carried by a "finished for a bad reason" error (openai's LengthFinishReasonError and
    ContentFilterFinishReasonError, raised by its parse() path): a cut reply is still a reply."""
    completion = getattr(exc, "completion", None)
    choices = getattr(completion, "choices", None)
    if not choices:
        return None
    content = getattr(getattr(choices[0], "message", None), "content", None) or ""
    usage = getattr(completion, "usage", None)
    input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    return AIMessage(
        content=content,
        usage_metadata={
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    )


def message_text(message: object) -> str:
    """The text of a chat reply, whatever shape its content has (string or content blocks)."""
    text = getattr(message, "text", None)  # langchain-core 1.x: a str property over content blocks
    if isinstance(text, str):
        return str(text)
    content = getattr(message, "content", "")
    return content if isinstance(content, str) else str(content)


# -- error classification ---------------------------------------------------------------------------

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_CONTEXT_WORDS = re.compile(r"context (window|length)|too long|maximum context|exceed", re.IGNORECASE)


def classify(exc: BaseException) -> _Failure:
    """Retry transport errors, timeouts, 429 and 5xx; fail fast on other 4xx and on unknown errors."""
    status = _status_code(exc)
    cause = _cause(exc, status)
    if isinstance(exc, ContextOverflowError) or (status == 400 and _CONTEXT_WORDS.search(cause)):
        return _Failure(False, None, cause, context_overflow=True)
    if status is not None:
        # A 2xx/3xx that still failed (an unreadable body) is the server's fault, like a 5xx.
        retryable = status in _RETRYABLE_STATUS or status >= 500 or status < 400
        retry_after = _retry_after_s(exc) if retryable else None
        rate_limited = retryable and (status == 429 or retry_after is not None)
        return _Failure(retryable, retry_after, cause, rate_limited=rate_limited)
    if isinstance(exc, ModelError):
        return _Failure(exc.is_retryable, None, cause)
    if isinstance(exc, ValueError) and "Unexpected response type" in str(exc):
        # ChatOpenAI got a 200 whose body is not JSON (a proxy's HTML page): a server fault, like a 5xx.
        return _Failure(True, None, one_line(f"the server's answer is not JSON: {exc}", 240))
    if isinstance(exc, IndexError | KeyError):
        # A 200 whose JSON lacks the reply ({"choices": []}): the server's fault, like a 5xx.
        return _Failure(True, None, one_line(f"the server's answer holds no reply ({cause})", 240))
    transport = (openai.APIConnectionError, httpx.TransportError, TimeoutError, ConnectionError)
    return _Failure(isinstance(exc, transport), None, cause)


def _status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _cause(exc: BaseException, status: int | None) -> str:
    """One line: the HTTP status and the provider's message, or the root transport error."""
    if status is not None:
        message = getattr(exc, "message", None) or str(exc)
        message = re.sub(r"^Error code: \d+\s*-?\s*", "", str(message))  # the openai client's prefix
        if not message.strip():  # an HTML error page: its text, tags dropped, says what happened
            body = str(getattr(getattr(exc, "response", None), "text", "") or "")
            message = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", body)).strip() or "(empty body)"
        return one_line(f"HTTP {status}: {message}", 240)
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return "request timed out"
    root: BaseException = exc
    seen: set[int] = set()
    while (nxt := root.__cause__ or root.__context__) is not None and id(nxt) not in seen:
        seen.add(id(root))
        root = nxt
    text = str(root) or type(root).__name__
    text = re.sub(
        r"^\[Errno -?\d+\]\s*", "", text
    )  # "[Errno 111] Connection refused" -> "Connection refused"
    return one_line(text if root is not exc else f"{type(exc).__name__}: {text}", 240)


def _retry_after_s(exc: BaseException) -> float | None:
    """Seconds asked by Retry-After (seconds or HTTP date) or retry-after-ms, if the server said."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
