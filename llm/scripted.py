"""A deterministic fake chat model (a real LangChain BaseChatModel) for tests, demos, CI and replays.

- ``scripted:`` invents plausible new templates from the conversation: the same conversation (and seed) gives
  the same reply, a different one gives different templates. It answers ``{"templates": [...]}`` and writes
  the placeholder the way the conversation does (CLASSNAME when the meta-prompt offers it, else ``{}``).
- ``scripted:/path/replies.jsonl`` replays given replies in order, one JSON string per line (or a JSON object
  with a "reply" field, such as a stored LLMCall). This is also how a finished run is replayed. A line that
  also holds the "request" it answered (as a stored LLMCall does) is served to that same request first:
  concurrent restarts ask in no fixed order, and each still gets its own reply.
- ``scripted:delay=2`` answers like ``scripted:`` after 2 s, to stand in for a slow remote model in benchmarks
  of concurrency; $PROMPTCLIMB_SCRIPTED_DELAY (seconds) adds the same latency to any scripted model without
  changing a run's configuration (the kill -9 tests and bench/bench_jobs.py use it).

Token usage counts words, so the accounting code runs as with a real model.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import time
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from promptclimb.llm.errors import BackendError
from promptclimb.prompts import liu2024
from promptclimb.prompts.meta import PLACEHOLDER_WORD
from promptclimb.prompts.template import normalize

DELAY_ENV = "PROMPTCLIMB_SCRIPTED_DELAY"
DEFAULT_COUNT = 8
MAX_COUNT = 50

_OPENINGS = (
    "a photo of", "a close-up photo of", "a cropped photo of", "a bright photo of", "a good photo of",
    "an image of", "a picture of", "a snapshot of", "a rendering of", "a low resolution photo of",
    "a high resolution photo of", "a jpeg photo of", "a clean photo of", "a detailed photo of",
    "a centered photo of", "an outdoor photo of", "a studio photo of", "a natural photo of",
    "a sharp photo of", "a well lit photo of",
)  # fmt: skip
_SUBJECTS = ("a {}", "the {}", "one {}", "a small {}", "a large {}", "a typical {}", "a single {}", "my {}")
_ENDINGS = (
    ".", ", a type of object.", " in the wild.", " on a plain background.", " seen from the side.",
    ", centered in the frame.", " in natural light.", " with sharp details.", ", a close view.",
    " taken outdoors.",
)  # fmt: skip
_COUNT_ASKED = re.compile(r"\b(\d{1,3})\b[^.\n\d]{0,30}?\btemplates?\b", re.IGNORECASE)


class ScriptedRepliesExhausted(RuntimeError):
    """Every reply of the replay file was used (one-line message)."""


class ScriptedChatModel(BaseChatModel):
    """Invents templates (``replies`` is None) or replays ``replies`` in order."""

    replies: list[str] | None = None
    requests: list[str | None] | None = None  # per reply, the key of the request it answered (if known)
    source: str = ""  # the replay file, for messages
    delay_s: float = 0.0  # injected latency per call (a stand-in for a slow model)
    _used: set[int] = PrivateAttr(default_factory=set)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "promptclimb-scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"source": self.source or "generated"}

    @classmethod
    def from_file(cls, path: Path) -> ScriptedChatModel:
        keyed = read_keyed_replies(path)
        return cls(replies=[r for _, r in keyed], requests=[k for k, _ in keyed], source=str(path))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s > 0:
            time.sleep(self.delay_s)
        text = self._replay(messages) if self.replies is not None else invent_reply(messages, **kwargs)
        input_tokens = sum(_word_count(_content(m)) for m in messages)
        output_tokens = _word_count(text)
        message = AIMessage(
            content=text,
            usage_metadata={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _replay(self, messages: list[BaseMessage]) -> str:
        assert self.replies is not None
        with self._lock:
            unused = [i for i in range(len(self.replies)) if i not in self._used]
            if not unused:
                raise ScriptedRepliesExhausted(
                    f"scripted replies exhausted: all {len(self.replies)} replies of "
                    f"{self.source or 'the script'} were used"
                )
            key = request_key([(_ROLES.get(m.type, m.type), _content(m)) for m in messages])
            keys = self.requests or []
            same = [i for i in unused if i < len(keys) and keys[i] == key]
            chosen = same[0] if same else unused[0]  # the reply to this very request, else the next one
            self._used.add(chosen)
        return self.replies[chosen]


_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def request_key(conversation: list[tuple[str, str]]) -> str:
    """A short fingerprint of a request: (role, content) pairs in order."""
    return hashlib.sha256(json.dumps(conversation, ensure_ascii=False).encode()).hexdigest()[:32]


def parse_delay(text: str, where: str) -> float:
    """Seconds of injected latency: a finite number >= 0 (BackendError otherwise)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0.0 <= seconds < float("inf"):
        raise BackendError(f"{where} must be a number of seconds >= 0, got {text!r}")
    return seconds


def env_delay() -> float:
    """The latency $PROMPTCLIMB_SCRIPTED_DELAY adds to every scripted call (0 when unset)."""
    configured = os.environ.get(DELAY_ENV, "").strip()
    return parse_delay(configured, DELAY_ENV) if configured else 0.0


def read_replies(path: Path) -> list[str]:
    """Replies from a JSONL file: a JSON string per line, or an object with a "reply" string."""
    return [reply for _, reply in read_keyed_replies(path)]


def read_keyed_replies(path: Path) -> list[tuple[str | None, str]]:
    """(request key or None, reply) per usable line of a replies file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BackendError(f"scripted replies file {path}: {exc.strerror or exc}") from None
    replies: list[tuple[str | None, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        key = None
        try:
            value = json.loads(line)
        except ValueError:
            raise BackendError(f"scripted replies file {path}, line {number}: not JSON") from None
        if isinstance(value, dict) and "reply" in value:
            key = _stored_request_key(value.get("request"))
            value = value["reply"]
            if value is None:  # a failed attempt stored in a run: nothing to replay
                continue
        if not isinstance(value, str):
            raise BackendError(f"scripted replies file {path}, line {number}: expected a JSON string")
        replies.append((key, value))
    return replies


def _stored_request_key(request: object) -> str | None:
    """The key of a stored request (a list of role/content dicts); None when it is not one."""
    if not isinstance(request, list):
        return None
    pairs = [(m.get("role"), m.get("content")) for m in request if isinstance(m, dict)]
    if len(pairs) != len(request) or not all(isinstance(x, str) for pair in pairs for x in pair):
        return None
    return request_key(pairs)  # type: ignore[arg-type]


def invent_reply(messages: list[BaseMessage], seed: int | None = None, **kwargs: Any) -> str:
    """Deterministic new templates for this conversation, as a JSON object (or, when the message asks for
    class-specific texts, an object of texts per asked class)."""
    conversation = "\n".join(f"{m.type}: {_content(m)}" for m in messages)
    names = _asked_classes(messages)
    if names:
        return _invent_class_texts(names, _count_texts(messages), seed, conversation)
    count = _count_asked(messages, kwargs.get("response_format"))
    digest = hashlib.sha256(f"{seed}\n{conversation}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    placeholder = PLACEHOLDER_WORD if PLACEHOLDER_WORD in conversation else "{}"
    already_said = normalize(conversation.replace(PLACEHOLDER_WORD, "{}"))
    templates: list[str] = []
    for _ in range(count * 20):  # the space holds 1600 templates: enough fresh ones for any count
        template = f"{rng.choice(_OPENINGS)} {rng.choice(_SUBJECTS)}{rng.choice(_ENDINGS)}"
        if template in templates or normalize(template) in already_said:
            continue
        templates.append(template)
        if len(templates) == count:
            break
    if _asks_dash_lines(messages):  # Liu et al.'s reply format: one template per "- " line
        return "\n".join(f"{liu2024.LINE_MARKER}{t}" for t in templates)
    return json.dumps({"templates": [t.replace("{}", placeholder) for t in templates]})


_CLASS_LINE = re.compile(r'^- ("(?:[^"\\]|\\.)*")', re.MULTILINE)
_TEXTS_ASKED = re.compile(r"\bwrite (\d{1,2}) new (?:texts|sentences)\b")
_TEXT_SHAPES = (
    "how do I sort out {}", "I have a question about {}", "can you help me with {}",
    "something is wrong with {}", "please tell me more about {}", "what should I do about {}",
    "I need help with {} today", "{} again, why", "is there a way to handle {}",
    "a problem with {} on my account", "looking for info on {}", "{} please",
)  # fmt: skip


def _asked_classes(messages: list[BaseMessage]) -> list[str]:
    """The class names a class-texts message lists ("- \"name\"..." lines), in order."""
    for message in reversed(messages):
        if message.type == "human":
            text = _content(message)
            if "Classes (quoted data, not instructions):" not in text:
                return []
            listed = text.split("Classes (quoted data, not instructions):", 1)[1]
            return [json.loads(m.group(1)) for m in _CLASS_LINE.finditer(listed)]
    return []


def _count_texts(messages: list[BaseMessage]) -> int:
    for message in reversed(messages):
        if message.type == "human":
            found = _TEXTS_ASKED.search(_content(message))
            return min(int(found.group(1)), MAX_COUNT) if found else 3
    return 3


def _invent_class_texts(names: list[str], count: int, seed: int | None, conversation: str) -> str:
    digest = hashlib.sha256(f"{seed}\n{conversation}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    return json.dumps({name: [rng.choice(_TEXT_SHAPES).format(name) + f" ({rng.randrange(1000)})"
                              for _ in range(count)] for name in names})  # fmt: skip


def _asks_dash_lines(messages: list[BaseMessage]) -> bool:
    last = next((m for m in reversed(messages) if m.type == "human"), None)
    return last is not None and liu2024.LINE_FORMAT in _content(last)


def _count_asked(messages: list[BaseMessage], response_format: object) -> int:
    """How many templates the request asks for: the schema's maxItems, else "N ... templates" in the text."""
    if isinstance(response_format, dict):
        schema = response_format.get("schema") or response_format.get("json_schema", {}).get("schema", {})
        items = schema.get("properties", {}).get("templates", {}).get("maxItems")
        if isinstance(items, int) and items > 0:
            return min(items, MAX_COUNT)
    for message in reversed(messages):
        if message.type == "human":
            found = _COUNT_ASKED.search(_content(message))
            if found and int(found.group(1)) > 0:
                return min(int(found.group(1)), MAX_COUNT)
            break
    return DEFAULT_COUNT


def _content(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else json.dumps(message.content)


def _word_count(text: str) -> int:
    return len(text.split())
