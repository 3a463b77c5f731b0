"""From a chat reply to class-specific texts: tolerant JSON extraction, class matching, validation, dedup.

Replies are untrusted: a text is kept only when it is one printable line of bounded length with no control,
escape or bidi characters, is new for its class, and its key names a class that was asked for. Texts are
never formatted or filled: a brace in one is just a character.
"""

from __future__ import annotations

import json
import re
import unicodedata

from promptclimb.llm.parsing import THINKING, json_sources

MAX_TEXT_CHARS = 200
MIN_TEXT_CHARS = 3
# One plain sentence for llama.cpp grammars (a positive class: grammars enforce only those).
TEXT_CHARS = "A-Za-z0-9 ,.;:!?'()&/$%+#@-"
CHARS_PER_WORD = 8  # the grammar's length bound for an ask of fewer than N words (20 words: 160 characters)


def key_of(text: str) -> str:
    """How class names and texts are compared: case, spacing, quotes and underscores aside."""
    text = unicodedata.normalize("NFKC", text).lower().replace("_", " ")
    return " ".join(re.sub(r"[\"'`.:]", " ", text).split())


def texts_schema(names: list[str], per_class: int, words: int = 20) -> dict:
    """JSON schema of the reply, for servers that constrain output: exactly the asked classes, in order,
    each text one plain sentence of at most ``CHARS_PER_WORD * words`` characters."""
    longest = min(MAX_TEXT_CHARS, CHARS_PER_WORD * words)
    item = {"type": "string", "pattern": f"^[{TEXT_CHARS}]{{{MIN_TEXT_CHARS},{longest}}}$"}
    array = {"type": "array", "items": item, "minItems": per_class, "maxItems": per_class}
    return {"type": "object", "properties": dict.fromkeys(names, array), "required": list(names)}


def _objects(text: str) -> list[dict]:
    decoder = json.JSONDecoder()
    found: list[dict] = []
    for source in json_sources(text):
        for start in [i for i, ch in enumerate(source) if ch == "{"][:20]:
            try:
                value, _ = decoder.raw_decode(source, start)
            except (ValueError, RecursionError):  # nested past Python's limit: garbage, not a crash
                continue
            if isinstance(value, dict):
                found.append(value)
                break
    return found


def _flatten(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [x for x in value if isinstance(x, str)]
    if isinstance(value, dict):  # {"texts": [...]} under the class key
        return [x for v in value.values() for x in _flatten(v) if isinstance(v, list | str)]
    return []


def extract_class_texts(reply: str, names: list[str]) -> tuple[dict[int, list[str]], str | None]:
    """Texts per asked class (index into ``names``), unvalidated, and why none were found."""
    text = THINKING.sub("", reply).strip()
    if not text:
        return {}, "the reply was empty"
    wanted = {key_of(name): i for i, name in enumerate(names)}
    for obj in _objects(text):
        if len(obj) == 1 and isinstance(next(iter(obj.values())), dict):  # {"classes": {...}}
            obj = next(iter(obj.values()))
        found: dict[int, list[str]] = {}
        for position, (key, value) in enumerate(obj.items()):
            index = wanted.get(key_of(str(key)))
            if index is None and str(key).strip().isdigit() and 1 <= int(key) <= len(names):
                index = int(key) - 1  # numbered answers: the class list's order
            if index is None and len(obj) == len(names):
                index = position  # keys rewritten by the model, in the asked order
            if index is not None:
                found.setdefault(index, []).extend(_flatten(value))
        if found:
            return found, None
    return {}, "no JSON object mapping the class names to lists of texts"


# The message's own scaffolding: a text that carries it copies the feedback, not an input of the class.
_SCAFFOLDING = re.compile(r"inputs right|mistaken for|\bmisread\b|\(given [\"']", re.IGNORECASE)


def screen_text(text: str, name: str, seen: set[str]) -> tuple[str | None, str | None]:
    """(cleaned text, None) when usable, else (None, why)."""
    cleaned = " ".join(text.split())
    if _SCAFFOLDING.search(cleaned):
        return None, "copies the message's feedback"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text):
        return None, "control, format or escape characters"
    if not MIN_TEXT_CHARS <= len(cleaned) <= MAX_TEXT_CHARS:
        return None, f"length outside {MIN_TEXT_CHARS}-{MAX_TEXT_CHARS} characters"
    key = key_of(cleaned)
    if key == key_of(name):
        return None, "the class name itself"
    if key in seen:
        return None, "duplicate"
    return cleaned, None
