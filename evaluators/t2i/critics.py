"""The critic: a vision chat model that looks at generated images and rewrites the prompt, in a conversation.

``VisionChat`` sends a conversation whose turns carry images (LangChain multimodal messages, each image a
base64 data URL content block) and returns a validated JSON reply: an unusable reply is re-asked with the
reason, transport failures are retried with backoff by ``llm``, and every request is recorded. The DSG
answerer and the rater in ``t2i_scores`` use it too.

The run log (``llm_calls.jsonl``) stores each request with its images replaced by their run-relative paths
(``[image: images/t2i-i001-00.png]``): readable, small, and every image is in the run directory.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from PIL import Image

from promptclimb.evaluators.images import inside
from promptclimb.llm.backends import ChatBackend
from promptclimb.llm.errors import one_line
from promptclimb.llm.parsing import shorten
from promptclimb.llm.proposer import Proposer
from promptclimb.llm.records import LLMCall
from promptclimb.prompts import t2i_meta as meta
from promptclimb.prompts.slots import fill_slots
from promptclimb.prompts.template import has_controls, normalize

T = TypeVar("T")


class UnusableReply(ValueError):
    """A reply that does not hold what was asked; the message says why (shown to the model on re-ask)."""


# Images up to this side go as lossless PNG; larger ones (1024 px API images) are resized and sent as JPEG:
# vision models look at about 768 px anyway, and five 1024 px PNGs would make a 10 MB request.
MAX_SIDE = 768
MAX_PROMPT_CHARS = 1_000
CODE_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def image_data_url(path: Path, max_side: int = MAX_SIDE) -> str:
    with Image.open(path) as image:
        image.load()
        if max(image.size) <= max_side:
            mime, data = "image/png", path.read_bytes() if image.format == "PNG" else encode(image, "PNG")
        else:
            small = image.convert("RGB")
            small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            mime, data = "image/jpeg", encode(small, "JPEG")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def extract_json(reply: str) -> Any:
    """The JSON object in a reply: whole, in a code fence, or the outermost {...} within prose."""
    text = reply.strip()
    candidates = [text, *CODE_FENCE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise UnusableReply("the reply is not a JSON object")


class Turn(Protocol):
    """A conversation turn the vision chat sends (the graph's T2IMessage, or a ChatTurn)."""

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...

    @property
    def images(self) -> list[str]: ...


@dataclass(frozen=True)
class ChatTurn:
    """A turn an evaluator writes itself (a scorer's question to the vision chat); never checkpointed."""

    role: str
    content: str
    images: list[str] = field(default_factory=list)


def visible_turns(turns: Sequence[Turn], history_turns: int) -> list[Turn]:
    """The first exchange (it holds the reference or the first results) and the last ``history_turns``
    exchanges: long conversations with images grow expensive, and old images matter least."""
    keep = 2 * history_turns + 1  # the last user turn and the exchanges before it
    if len(turns) <= 2 + keep:
        return list(turns)
    return [*turns[:2], *turns[-keep:]]


@dataclass
class Asked(Generic[T]):
    value: T | None  # None when no reply was usable
    reply: str  # the last reply (the usable one when value is set)
    calls: list[LLMCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # why each unusable reply was refused


class VisionRequester(Proposer):
    """One multimodal request with the proposer's retries, backoff, error classification and call records.

    Proposer's own request path takes text-only role/content dicts; here the LangChain messages carry
    image blocks and the record (``request``) carries their paths instead.
    """

    def request(
        self, messages: list[BaseMessage], record: list[dict[str, str]], seed: int | None
    ) -> tuple[str, list[LLMCall]]:
        options: dict[str, object] = {}
        if self.backend.structured == "json_schema":  # OpenAI: JSON mode works with image inputs
            # In extra_body, not as a top-level option: that makes ChatOpenAI use parse(), which raises on
            # a reply cut at the token limit instead of returning the text (see llm/proposer.py).
            options["extra_body"] = {"response_format": {"type": "json_object"}}
        if seed is not None and self.backend.supports_seed:
            options["seed"] = seed
        calls: list[LLMCall] = []
        return self.invoke(messages, record, options, calls), calls


class VisionChat:
    """Multimodal JSON requests to one chat backend, with re-asks; every attempt is recorded."""

    def __init__(
        self,
        backend: ChatBackend,
        run_dir: Path,
        recorder: Callable[[LLMCall], None] | None = None,
        reasks: int = 2,
        history_turns: int = 3,
        **retry_options: Any,
    ) -> None:
        self.backend = backend
        self.run_dir = run_dir
        self.requester = VisionRequester(backend, recorder=recorder, **retry_options)
        self.reasks = reasks
        self.history_turns = history_turns

    def messages(self, system: str, turns: Sequence[Turn]) -> tuple[list[BaseMessage], list[dict[str, str]]]:
        """LangChain messages (images of the first and the last user turn attached) and their record."""
        shown = visible_turns(turns, self.history_turns)
        last_user = max((i for i, t in enumerate(shown) if t.role == "user"), default=-1)
        messages: list[BaseMessage] = [SystemMessage(content=system)]
        record = [{"role": "system", "content": system}]
        for i, turn in enumerate(shown):
            if turn.role == "assistant":
                messages.append(AIMessage(content=turn.content))
                record.append({"role": "assistant", "content": turn.content})
                continue
            attach = turn.images if i in (0, last_user) else []
            text = (
                turn.content if len(attach) == len(turn.images) else turn.content + "\n" + meta.NO_IMAGE_NOTE
            )
            blocks: list[str | dict[str, Any]] = [{"type": "text", "text": text}]
            blocks += [
                {"type": "image_url", "image_url": {"url": image_data_url(inside(self.run_dir, p))}}
                for p in attach
            ]
            messages.append(HumanMessage(content=blocks))
            record.append({"role": "user", "content": text + "".join(f"\n[image: {p}]" for p in attach)})
        return messages, record

    def ask(
        self,
        system: str,
        turns: Sequence[Turn],
        parse: Callable[[Any], T],
        reask: str,
        seed: int | None = None,
    ) -> Asked[T]:
        """A parsed reply; an unusable one is re-asked with the reason. LLMUnavailable when unreachable."""
        messages, record = self.messages(system, turns)
        asked: Asked[T] = Asked(value=None, reply="")
        for round_number in range(self.reasks + 1):
            round_seed = None if seed is None else seed + round_number  # a re-ask must not replay the dud
            reply, calls = self.requester.request(messages, record, round_seed)
            asked.calls += calls
            asked.reply = reply
            try:
                asked.value = parse(extract_json(reply))
                return asked
            except UnusableReply as error:
                asked.errors.append(str(error))
                again = fill_slots(reask, ERROR=one_line(error))
                messages = [*messages, AIMessage(content=reply), HumanMessage(content=again)]
                record = [
                    *record,
                    {"role": "assistant", "content": reply},
                    {"role": "user", "content": again},
                ]
        return asked


# --- the critic's prompts ---------------------------------------------------------------------------------


@dataclass
class Revision:
    """What the critic wrote: feedback, new prompts, and the prompts it wrote that were refused (and why)."""

    feedback: str
    prompts: list[str]
    reply: str
    calls: list[LLMCall]
    rejections: list[tuple[str, str]]


def parse_revision(data: Any) -> tuple[str, list[Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), list):
        raise UnusableReply('expected {"feedback": "...", "prompts": ["...", ...]}')
    return str(data.get("feedback", "")).strip(), data["prompts"]


def clean_prompt(text: Any, max_words: int) -> str:
    """A usable prompt, or UnusableReply with the reason."""
    if not isinstance(text, str):
        raise UnusableReply(f"a prompt must be a string, got {type(text).__name__}")
    if has_controls(text):  # as templates: ESC, \x9b, OSC-8 links, bidi overrides
        raise UnusableReply("contains control characters")
    cleaned = " ".join(text.split()).strip().strip('"').strip()
    if not cleaned:
        raise UnusableReply("empty prompt")
    if len(cleaned.split()) > max_words or len(cleaned) > MAX_PROMPT_CHARS:
        raise UnusableReply(f"longer than {max_words} words")
    return cleaned


class Critic:
    """Writes prompts: from the reference image, from an edit request, or by revising scored images."""

    def __init__(self, chat: VisionChat, max_words: int = 60) -> None:
        self.chat = chat
        self.max_words = max_words

    def write_prompts(
        self, system: str, turns: Sequence[Turn], n: int, seen: set[str], seed: int | None = None
    ) -> Revision:
        """Up to ``n`` new prompts; re-asks when none is usable. Refused prompts are returned with reasons."""
        rejections: list[tuple[str, str]] = []

        def parse(data: Any) -> tuple[str, list[str]]:
            feedback, raw = parse_revision(data)
            usable: list[str] = []
            keys = set(seen)
            for item in raw:
                try:
                    prompt = clean_prompt(item, self.max_words)
                except UnusableReply as error:
                    rejections.append((shorten(str(item)), str(error)))
                    continue
                if normalize(prompt) in keys:
                    rejections.append((prompt, "already tried"))
                    continue
                keys.add(normalize(prompt))
                usable.append(prompt)
            if not usable:
                # The re-ask says why, so a verbose critic learns to write shorter prompts.
                why = "; ".join(f'"{shorten(text, 50)}" ({reason})' for text, reason in rejections[-3:])
                raise UnusableReply(f"no new usable prompt in the reply: {why}" if why else "no prompt")
            rejections.extend((extra, f"more than the {n} prompts asked for") for extra in usable[n:])
            return feedback, usable[:n]

        system = fill_slots(system, MAX_WORDS=str(self.max_words))
        reask = fill_slots(meta.REASK, N=str(n))
        asked = self.chat.ask(system, turns, parse, reask, seed=seed)
        feedback, prompts = asked.value or ("", [])
        return Revision(feedback, prompts, asked.reply, asked.calls, rejections)
