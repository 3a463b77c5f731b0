"""The one report builder: Markdown and HTML from the same blocks, outside text escaped, files replaced
whole."""

from __future__ import annotations

import pytest

from promptclimb.results.atomic import write_text, write_with
from promptclimb.results.render import Block, Code, Figure, Note, Strong, render_html, render_markdown


def test_outside_text_is_escaped_in_html_and_tables_stay_tables():
    evil = "<script>alert(1)</script> | [/] {}"
    blocks = [
        Block("h1", [evil]),
        Block("table", header=["#", "template"], rows=[[["1"], [Code(evil)]]]),
        Block("figures", figures=[Figure("a.png", [Strong("90%"), " ", evil, Note("why | not")])] * 2),
    ]
    page = render_html(blocks, evil)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<style>" in page  # both kinds of report are styled
    md = render_markdown(blocks)
    table_rows = [line for line in md.splitlines() if line.startswith("| 1 ")]
    assert table_rows and table_rows[0].count(" | ") == 1, md  # the `|` inside the template is escaped
    assert "| **90%** " in md and "<br>*why \\| not*" in md


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_text(tmp_path / "report.md", "old report\n")

    def crash(tmp):
        tmp.write_text("half a rep")
        raise KeyboardInterrupt  # as a kill would stop it: the rename never happens

    with pytest.raises(KeyboardInterrupt):
        write_with(target, crash)
    assert target.read_text() == "old report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
    write_text(target, "new report\n")
    assert target.read_text() == "new report\n"
