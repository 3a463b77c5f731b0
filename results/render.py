"""One report builder for both kinds of run: a list of Blocks, rendered by the Jinja2 templates in
results/templates/ to report.md and a styled report.html, both written atomically.

Text in Blocks is plain: the templates escape it for HTML (autoescape) and for Markdown tables; templates,
prompts and LLM text are marked as Code so they show verbatim.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from promptclimb.prompts.template import shown_controls
from promptclimb.results.atomic import write_text

REPORT_MD = "report.md"
REPORT_HTML = "report.html"


class Code(str):
    """Inline code (a template, a prompt): backticks in Markdown, <code> in HTML."""


class Strong(str):
    """Emphasized inline text (a score): **bold** in Markdown, <b> in HTML."""


class Note(str):
    """A secondary remark (a critique): *italic* in Markdown, grey in HTML."""


Inline = list[str]  # plain str, Code, Strong and Note segments


@dataclass
class Figure:
    """An image file of the run directory, linked by its relative path, with a caption."""

    src: str
    caption: Inline = field(default_factory=list)


@dataclass
class Block:
    kind: str  # h1 | h2 | h3 | p | warning | table | list | img (embedded PNG) | figures (linked images)
    text: Inline = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[Inline]] = field(default_factory=list)
    items: list[Inline] = field(default_factory=list)
    image: Path | None = None
    figures: list[Figure] = field(default_factory=list)


def md_inline(parts: Inline, in_table: bool = False) -> str:
    """Markdown for inline parts: code fenced, other text with HTML's <, > and & escaped (Markdown passes
    raw HTML through), and controls (ESC, bidi overrides) shown as escapes in both."""
    out = []
    for original in parts:
        part = type(original)(shown_controls(original))
        if not isinstance(part, Code):
            part = type(original)(html.escape(part, quote=False))
        if isinstance(part, Code):
            fence = "`" * (max((len(run) for run in _backtick_runs(part)), default=0) + 1)
            pad = " " if part.startswith("`") or part.endswith("`") else ""
            text = f"{fence}{pad}{part}{pad}{fence}"
        elif isinstance(part, Strong):
            text = f"**{part}**"
        elif isinstance(part, Note):
            text = f"<br>*{part}*"
        else:
            text = part
        out.append(text.replace("|", "\\|").replace("\n", " ") if in_table else text)
    return "".join(out)


def _backtick_runs(text: str) -> list[str]:
    runs, current = [], ""
    for ch in text:
        if ch == "`":
            current += ch
        elif current:
            runs.append(current)
            current = ""
    return [*runs, current] if current else runs


_HTML_TAGS = {
    Code: ("<code>", "</code>"),
    Strong: ("<b>", "</b>"),
    Note: ("<br><span class='note'>", "</span>"),
}


def html_inline(parts: Inline) -> Markup:
    out = []
    for part in parts:
        start, end = _HTML_TAGS.get(type(part), ("", ""))
        out.append(f"{start}{html.escape(part)}{end}")
    return Markup("".join(out))


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("promptclimb.results", "templates"),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md_inline, html=html_inline, data_uri=data_uri)
    return env


def render_markdown(blocks: list[Block]) -> str:
    return environment().get_template("report.md.j2").render(blocks=blocks)


def render_html(blocks: list[Block], title: str) -> str:
    return environment().get_template("report.html.j2").render(blocks=blocks, title=title)


def write_document(run_dir: Path, blocks: list[Block], title: str) -> tuple[Path, Path]:
    """report.md and report.html in the run directory, each replaced whole."""
    md = write_text(run_dir / REPORT_MD, render_markdown(blocks))
    page = write_text(run_dir / REPORT_HTML, render_html(blocks, title))
    return md, page
