"""From a chat reply to validated templates: tolerant extraction, placeholder mapping, validation, dedup.

Replies are untrusted text. Extraction accepts JSON (bare, fenced, truncated) and plain lists (bullets,
numbering, "Template 1:" labels, quotes, trailing explanations). The placeholder word (CLASSNAME) and its
usual variants become ``{}``; then prompts/template.py's validate decides. No LLM text is ever str.format-ed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from promptclimb.prompts.meta import PLACEHOLDER_WORD
from promptclimb.prompts.template import PLACEHOLDER, TemplateError, normalize, validate

MAX_CANDIDATES = 100  # a reply listing thousands of lines must not flood the run's records
SHORT_CHARS = 120

THINKING = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)(```|$)", re.DOTALL)
_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Words small models use for the class slot, in brackets of any kind: <CLASSNAME>, [class], {label}...
_SLOT_WORDS = r"class[ _-]?name|class|label|category|category[ _-]?name|object[ _-]?name|cls|name"
_BRACKETED_SLOT = re.compile(
    rf"\{{\{{\s*(?:{_SLOT_WORDS})?\s*\}}\}}|[<\[{{]\s*(?:{_SLOT_WORDS})\s*[>\]}}]|\{{0\}}", re.IGNORECASE
)
_BRACKETED_WORD = re.compile(rf"[<\[{{(]\s*{re.escape(PLACEHOLDER_WORD)}\s*[>\]}})]", re.IGNORECASE)
_BARE_WORD = re.compile(rf"\b(?:{re.escape(PLACEHOLDER_WORD)}|class_name)\b", re.IGNORECASE)

_BULLET = re.compile(r"^(?:[-*•+>]|\u2013|\u2014)\s+")
_NUMBER = re.compile(r"^(?:\(?\d{1,3}[.):\]]|#\d{1,3}[.):]?)\s*")
_LABEL = re.compile(r"^(?:new\s+)?(?:template|prompt)\s*#?\s*\d{0,3}\s*[:.)\]-]\s+", re.IGNORECASE)
_DASH_EXPLANATION = re.compile(r"\s+(?:\u2014|\u2013|--)\s+")
_QUOTES = {'"': '"', "\u201c": "\u201d", "`": "`", "'": "'", "\u2018": "\u2019"}
_TEMPLATE_KEYS = ("templates", "prompts", "new_templates", "prompt_templates")
_ITEM_KEYS = ("template", "prompt", "text")


def map_placeholders(text: str) -> str:
    """Turn the placeholder word and its bracketed variants into ``{}``."""
    text = _BRACKETED_SLOT.sub(PLACEHOLDER, text)
    text = _BRACKETED_WORD.sub(PLACEHOLDER, text)
    return _BARE_WORD.sub(PLACEHOLDER, text)


def shorten(text: str, limit: int = SHORT_CHARS) -> str:
    """A one-line, bounded, printable rendering of untrusted text (for rejection records)."""
    visible = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return visible if len(visible) <= limit else visible[: limit - 3] + "..."


def extract_candidates(reply: str) -> tuple[list[str], str | None]:
    """The proposed templates in a reply, as written (unvalidated), and why none were found."""
    text = THINKING.sub("", reply).strip()
    if not text:
        return [], "the reply was empty"
    for found in (_from_json(text), _from_truncated_json(text), _from_lines(text)):
        if found:
            return found, None
    return [], 'no templates found: expected a JSON object {"templates": ["...", "..."]}'


def json_sources(text: str) -> Iterable[str]:
    """The reply itself, then the contents of each fenced block: where a JSON value may stand."""
    yield text
    for fenced in _FENCE.finditer(text):
        yield fenced.group(1).strip()


def _from_json(text: str) -> list[str]:
    decoder = json.JSONDecoder()
    for source in json_sources(text):
        starts = [i for i, ch in enumerate(source) if ch in "{["][:20]
        for start in starts:
            try:
                value, _ = decoder.raw_decode(source, start)
                strings = _strings_in(value)
            except (ValueError, RecursionError):  # nested past Python's limit: garbage, not a crash
                continue
            if strings:
                return strings
    return []


def _strings_in(value: object) -> list[str]:
    """Template strings in a decoded JSON value: {"templates": [...]}, a list, or list of objects."""
    if isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        for key in _TEMPLATE_KEYS:
            if key in lowered:
                return _strings_in(lowered[key])
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:
            return _strings_in(lists[0])
        for key in _ITEM_KEYS:
            if isinstance(lowered.get(key), str):
                return [lowered[key]]
        return []
    if isinstance(value, list):
        strings: list[str] = []
        for item in value:
            if isinstance(item, str):
                strings.append(item)
            elif isinstance(item, dict):
                strings.extend(_strings_in(item)[:1])
        return strings
    return []


def _from_truncated_json(text: str) -> list[str]:
    """String literals of JSON cut short (max_tokens hit mid-array), keys excluded."""
    body = text
    for fenced in _FENCE.finditer(text):
        body = fenced.group(1)
        break
    if not body.lstrip().startswith(("{", "[")):
        return []
    strings = []
    for literal in _JSON_STRING.finditer(body):
        try:
            value = json.loads(literal.group())
        except ValueError:
            continue
        if value.lower() not in _TEMPLATE_KEYS + _ITEM_KEYS:
            strings.append(value)
    return strings


def _from_lines(text: str) -> list[str]:
    """One proposal per list item: bulleted, numbered, labelled or quoted lines, or lines with a slot."""
    candidates = []
    for line in _FENCE.sub(lambda m: m.group(1), text).splitlines():
        candidate = _line_candidate(line.strip())
        if candidate:
            candidates.append(candidate)
    return candidates


def _line_candidate(line: str) -> str | None:
    if not line or line.startswith("```") or line.endswith(":"):
        return None
    body, marked = _strip_markers(line)
    quoted = _quoted_part(body)
    if quoted is not None:
        return quoted
    has_slot = PLACEHOLDER in map_placeholders(body)
    if not (marked or has_slot):
        return None  # prose around the list
    # "a photo of a {}. -- works because ..." : keep the template, drop the explanation
    parts = _DASH_EXPLANATION.split(body, maxsplit=1)
    if len(parts) == 2 and PLACEHOLDER in map_placeholders(parts[0]):
        body = parts[0]
    return body.strip().rstrip(",").strip().strip('"\u201c\u201d`') or None


def _strip_markers(line: str) -> tuple[str, bool]:
    marked = False
    for _ in range(3):  # "1. Template 1: ..." has two markers
        stripped = _LABEL.sub("", _NUMBER.sub("", _BULLET.sub("", line)))
        if stripped == line:
            break
        line, marked = stripped.strip(), True
    return line, marked


def _quoted_part(body: str) -> str | None:
    """The quoted template of a line such as ``"a photo of a {}." (emphasises photos)``."""
    if body[:1] in _QUOTES:
        closing = _QUOTES[body[0]]
        end = _closing_apostrophe(body) if closing == "'" else body.find(closing, 1)
        if end > 1:
            return body[1:end]
    match = re.search(r'"([^"]+)"|\u201c([^\u201d]+)\u201d', body)
    if match:
        inner = match.group(1) or match.group(2)
        if PLACEHOLDER in map_placeholders(inner):
            return inner
    return None


def _closing_apostrophe(body: str) -> int:
    """The quote closing ``'...'``: the last one not followed by a letter (so "dog's" stays inside)."""
    for end in range(len(body) - 1, 0, -1):
        if body[end] == "'" and (end + 1 == len(body) or not body[end + 1].isalnum()):
            return end
    return -1


def screen(candidates: list[str], seen_keys: set[str], n: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Validated, deduplicated templates (at most n) and (shortened text, reason) for every other one."""
    templates: list[str] = []
    rejections: list[tuple[str, str]] = []
    batch_keys: set[str] = set()
    for raw in candidates[:MAX_CANDIDATES]:
        try:
            cleaned = validate(map_placeholders(_strip_outer_quotes(raw)))
        except TemplateError as error:
            rejections.append((shorten(raw), str(error)))
            continue
        key = normalize(cleaned)
        if key in seen_keys:
            rejections.append((shorten(raw), "duplicate of a template already tried"))
        elif key in batch_keys:
            rejections.append((shorten(raw), "duplicate within this reply"))
        elif len(templates) >= n:
            rejections.append((shorten(raw), f"more than the {n} templates asked for"))
        else:
            templates.append(cleaned)
            batch_keys.add(key)
    if len(candidates) > MAX_CANDIDATES:
        ignored = len(candidates) - MAX_CANDIDATES
        rejections.append((f"({ignored} more proposals)", f"ignored: over {MAX_CANDIDATES} in one reply"))
    return templates, rejections


def _strip_outer_quotes(text: str) -> str:
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] in _QUOTES and stripped[-1] == _QUOTES[stripped[0]]:
        return stripped[1:-1]
    return stripped


def describe_failure(parse_error: str | None, rejections: list[tuple[str, str]]) -> str:
    """Why a reply gave nothing usable, in one line, for the re-ask message."""
    if parse_error:
        return parse_error
    examples = "; ".join(f'"{shorten(text, 60)}" ({reason})' for text, reason in rejections[:3])
    more = f"; and {len(rejections) - 3} more" if len(rejections) > 3 else ""
    return f"none of the {len(rejections)} proposed templates was usable: {examples}{more}"


def dash_lines(reply: str) -> tuple[list[str], str | None]:
    """Templates in the reply format of Liu et al.'s released code (``--meta liu2024``): every line that
    starts with "- " is one, and, as the release's check does, a reply with such a line lacking ``{}`` is
    unusable as a whole. Returns (templates as written, why none were found)."""
    text = THINKING.sub("", reply).strip()
    templates = [line[2:] for line in text.splitlines() if line.startswith("- ")]
    if not templates:
        return [], 'no line starts with "- "'
    missing = [t for t in templates if PLACEHOLDER not in t]
    if missing:
        return [], f'a "- " line has no {PLACEHOLDER}: "{shorten(missing[0], 60)}"'
    return templates, None
