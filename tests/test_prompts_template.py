"""Templates with terminal escapes, C1 controls or bidi overrides are rejected before anything scores them."""

from __future__ import annotations

import pytest

from promptclimb.prompts.template import TemplateError, validate


@pytest.mark.parametrize(
    "template",
    [
        "a photo of a {}.\x1b[31m",  # ESC: an ANSI colour sequence
        "a photo of a {}.\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\",  # OSC 8 hyperlink
        "a photo of a {}.\x9b31m",  # C1 CSI, one byte
        "a photo of a {}.\x85",  # C1 NEL
        "a photo of a {}.\u202e.gnp",  # right-to-left override
        "a photo of a \u2066{}\u2069.",  # isolates
        "a \u200bphoto of a {}.",  # zero-width space
        "a photo\x07 of a {}.",  # BEL
    ],
    ids=["esc", "osc8", "csi-c1", "nel", "rlo", "isolate", "zero-width", "bel"],
)
def test_control_escape_and_bidi_characters_are_rejected(template):
    with pytest.raises(TemplateError, match="control characters"):
        validate(template)


@pytest.mark.parametrize(
    "template",
    ["a photo of a {} [/] [link=http://x]", "une photo d'un {} très jolie", "写真 {}", "a\tphoto of a {}"],
)
def test_markup_lookalikes_and_plain_unicode_are_templates(template):
    assert validate(template) == " ".join(template.split())
