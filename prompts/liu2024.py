"""The message of Liu et al.'s released loop (``--meta liu2024``), in promptclimb's own words.

The released code (github.com/shihongl1998/LLM-as-a-blackbox-optimizer, prompt_pool.py, method ``method_1``)
sends one self-contained user message per iteration, with no system prompt and no history: the best and
the worst templates of everything scored so far, as plain text (no scores, no dataset or class names), and
these instructions, each carried over here: say that one list is good and one bad and that qualities make
a template good or bad; ask for N better templates from them; reply with the template only; fewer than 15
words; a structure similar to the templates shown; each template on its own line starting with "- ".
Templates are shown as they are, with ``{}`` where the class name goes.
"""

from __future__ import annotations

import re

# The reply format the parser expects (llm/parsing.py's dash_lines); the scripted LLM answers in it when
# the message asks for LINE_FORMAT.
LINE_MARKER = "- "
LINE_FORMAT = 'on a line of its own that starts with "- "'

MESSAGE = """Below are two lists of prompt templates, one of good templates and one of bad templates. \
Some qualities make a template good and others make it bad. Using those qualities, write <<N>> better \
<<TEMPLATES>>.

The good templates:
<<GOOD>>

The bad templates:
<<BAD>>

Requirements:
- Reply with the <<TEMPLATES>> only.
- Each template has fewer than 15 words.
- Each template has a structure similar to the templates above.
- Each template is <<FORMAT>>."""


def message(good: list[str], bad: list[str], asked: int) -> str:
    """The user message of one iteration: ``good`` best first, ``bad`` worst first (as the release lists
    them), ``asked`` templates requested."""
    slots = {
        "N": str(asked),
        "TEMPLATES": "template" if asked == 1 else "templates",
        "GOOD": "\n".join(good),
        "BAD": "\n".join(bad),
        "FORMAT": LINE_FORMAT,
    }
    # One pass: a template's own text is never formatted nor searched for slots.
    return re.sub(r"<<([A-Z]+)>>", lambda m: slots[m.group(1)], MESSAGE)
