"""The one way meta-prompt text is filled: plain replacement of ``<<SLOT>>`` markers.

Never ``str.format``: the values are LLM replies, class names and user text, which must stay inert (a
``{0.__class__}`` in them is just characters).
"""

from __future__ import annotations


def fill_slots(text: str, **slots: str) -> str:
    """``text`` with every ``<<NAME>>`` replaced by ``slots[NAME]``; unknown markers are left as they are."""
    for name, value in slots.items():
        text = text.replace(f"<<{name}>>", value)
    return text
