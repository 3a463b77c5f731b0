"""The class-specific prompt file: shared templates plus texts per class, as `export` writes it and `score
--class-prompts` and `transfer` read it.

    {"format": "promptclimb-class-prompts", "format_version": "1",
     "templates": ["{}"], "classes": {"card arrival": ["Where is my new card?", ...], ...}}

A class is scored by the normalised sum of the unit features of its template prompts and its texts. The
file is untrusted input: templates are validated as LLM proposals are, texts are plain printable lines
(never formatted or filled), and every class name must be one of the dataset's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from promptclimb.errors import UserError
from promptclimb.prompts.template import TemplateError, has_controls, validate

FORMAT = "promptclimb-class-prompts"
FORMAT_VERSION = "1"
MAX_TEXT_CHARS = 1000  # about what a text encoder reads (256 tokens): an input used as a class text fits
MAX_FILE_BYTES = 20_000_000


class ClassPromptsError(UserError, ValueError):
    """A class-prompt file that cannot be used; the one-line message says why."""


@dataclass
class ClassPrompts:
    templates: list[str]
    classes: dict[str, list[str]]  # class name -> texts

    def by_index(self, classnames: list[str]) -> dict[int, list[str]]:
        """The texts per class index of ``classnames``; a name the dataset lacks is an error."""
        index = {" ".join(name.split()): i for i, name in enumerate(classnames)}
        found: dict[int, list[str]] = {}
        for name, texts in self.classes.items():
            key = " ".join(name.split())
            if key not in index:
                raise ClassPromptsError(
                    f"class {json.dumps(name)} of the class-prompt file is not in the dataset"
                )
            found[index[key]] = texts
        return found

    def to_json(self) -> str:
        record = {"format": FORMAT, "format_version": FORMAT_VERSION, "templates": self.templates,
                  "classes": self.classes}  # fmt: skip
        return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


def class_text(text: str) -> str | None:
    """A text as a class-prompt file holds it: whitespace collapsed, cut at a word to MAX_TEXT_CHARS (a
    text encoder reads no further); None where a file would refuse it: empty, or holding control
    characters."""
    collapsed = " ".join(text.split())
    if not collapsed or has_controls(collapsed):
        return None
    if len(collapsed) > MAX_TEXT_CHARS:
        cut = collapsed[: MAX_TEXT_CHARS + 1].rsplit(" ", 1)[0]
        collapsed = cut if cut and len(cut) <= MAX_TEXT_CHARS else collapsed[:MAX_TEXT_CHARS]
    return collapsed


def read_class_prompts(path: Path) -> ClassPrompts:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ClassPromptsError(f"class-prompt file {path} is larger than {MAX_FILE_BYTES} bytes")
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClassPromptsError(f"class-prompt file {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise ClassPromptsError(f"class-prompt file {path} is not JSON") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ClassPromptsError(f"{path} is not a promptclimb class-prompt file (format {FORMAT!r})")
    templates, classes = record.get("templates"), record.get("classes")
    if not isinstance(templates, list) or not templates or not all(isinstance(t, str) for t in templates):
        raise ClassPromptsError(f"{path}: 'templates' must be a non-empty list of strings")
    if not isinstance(classes, dict):
        raise ClassPromptsError(f"{path}: 'classes' must map class names to lists of texts")
    try:
        checked_templates = [validate(t) for t in templates]
    except TemplateError as exc:
        raise ClassPromptsError(f"{path}: template refused: {exc}") from None
    checked: dict[str, list[str]] = {}
    for name, texts in classes.items():
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ClassPromptsError(f"{path}: the texts of {json.dumps(name)} must be a list of strings")
        cleaned = [class_text(text) for text in texts]
        if any(text is None for text in cleaned):
            raise ClassPromptsError(f"{path}: a text of {json.dumps(name)} is empty, too long or holds "
                                    "control characters")  # fmt: skip
        checked[name] = [text for text in cleaned if text is not None]
    return ClassPrompts(checked_templates, checked)
