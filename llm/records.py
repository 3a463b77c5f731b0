"""What a run keeps about its LLM calls: one record per request, and running totals for the graph state."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel

# A runaway reply (a model looping, a hostile server) must not bloat every checkpoint of the run.
MAX_RECORDED_REPLY_CHARS = 16_000  # a few templates take under 2 KB


class LLMCall(BaseModel):
    """One chat request, successful or not, stored in the run for audit and replay."""

    started_at: str  # ISO 8601, UTC
    model: str  # the backend name, e.g. "openai:gpt-4o-mini" or "local:qwen2.5-coder-1.5b"
    request: list[dict[str, str]]  # the whole conversation sent: role/content dicts
    reply: str | None  # None when the attempt failed
    error: str | None  # one-line cause of a failed attempt, None on success
    latency_s: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    priced: bool = True  # False: the model's price is unknown, so cost_usd (0) is no real cost
    step: str | None = None  # which graph step asked, e.g. "restart 0, iteration 3" (audit and replay)


class Usage(BaseModel):
    """Running totals of every LLM call of a run (failed attempts included)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    unpriced_calls: int = 0  # calls to a model without a known price: cost_usd leaves them out

    def add(self, call: LLMCall) -> Usage:
        """A new Usage with the call counted; the graph state is never mutated in place."""
        return Usage(
            calls=self.calls + 1,
            input_tokens=self.input_tokens + call.input_tokens,
            output_tokens=self.output_tokens + call.output_tokens,
            cost_usd=self.cost_usd + call.cost_usd,
            latency_s=self.latency_s + call.latency_s,
            unpriced_calls=self.unpriced_calls + (0 if call.priced else 1),
        )

    def plus(self, other: Usage) -> Usage:
        """Both totals together (restarts climbed concurrently each count their own calls)."""
        return Usage(
            calls=self.calls + other.calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            latency_s=self.latency_s + other.latency_s,
            unpriced_calls=self.unpriced_calls + other.unpriced_calls,
        )


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def clip_reply(text: str) -> str:
    """The reply as stored in a record: whole unless absurdly long."""
    if len(text) <= MAX_RECORDED_REPLY_CHARS:
        return text
    dropped = len(text) - MAX_RECORDED_REPLY_CHARS
    return f"{text[:MAX_RECORDED_REPLY_CHARS]}... [{dropped} more characters not recorded]"
