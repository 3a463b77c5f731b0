"""The critic's prompt rules reach the model filled in, and a refused reply says why it was refused."""

from __future__ import annotations

from typing import Any

from promptclimb.evaluators.t2i.critics import Asked, Critic, UnusableReply
from promptclimb.prompts import t2i_meta as meta


class StubChat:
    """VisionChat's ask(): records the system prompt and the re-asks, parses canned replies in order."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies = replies
        self.systems: list[str] = []
        self.reasks: list[str] = []

    def ask(self, system, turns, parse, reask, seed=None):  # noqa: ANN001, ANN201
        self.systems.append(system)
        asked: Asked = Asked(value=None, reply="")
        for data in self.replies:
            try:
                asked.value = parse(data)
                return asked
            except UnusableReply as error:
                self.reasks.append(reask.replace("<<ERROR>>", str(error)))
        return asked


def test_word_limit_is_filled_in_and_a_refusal_says_why():
    long = " ".join(["word"] * 30)
    chat = StubChat([{"feedback": "", "prompts": [long]}, {"feedback": "ok", "prompts": ["a red cube"]}])
    critic = Critic(chat, max_words=12)  # type: ignore[arg-type]
    revision = critic.write_prompts(meta.SYSTEM_T2I.replace("<<QUERY>>", "a red cube"), [], 1, set())
    assert "<<" not in chat.systems[0] and "at most 12 words" in chat.systems[0]
    assert "longer than 12 words" in chat.reasks[0]
    assert revision.prompts == ["a red cube"]


def test_extra_prompts_are_recorded_not_dropped_silently():
    chat = StubChat([{"feedback": "", "prompts": ["a red cube", "a blue cube", "a green cube"]}])
    revision = Critic(chat).write_prompts(meta.SYSTEM_T2I, [], 2, set())  # type: ignore[arg-type]
    assert revision.prompts == ["a red cube", "a blue cube"]
    assert ("a green cube", "more than the 2 prompts asked for") in revision.rejections


HOSTILE = [
    "a red cube \x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",  # an OSC-8 link
    "a red cube \x1b[2J",  # ESC: clears the screen
    "a red cube \x9b31m",  # a one-byte CSI
    "a red cube \u202egnp.exe",  # a right-to-left override
]


def test_prompts_with_terminal_escapes_or_bidi_overrides_are_refused_like_templates():
    chat = StubChat([{"feedback": "", "prompts": [*HOSTILE, "a blue cube"]}])
    revision = Critic(chat).write_prompts(meta.SYSTEM_T2I, [], 4, set())  # type: ignore[arg-type]
    assert revision.prompts == ["a blue cube"]
    assert [reason for _, reason in revision.rejections] == ["contains control characters"] * len(HOSTILE)


def test_report_md_fences_prompts_and_shows_controls_as_escapes():
    from promptclimb.results.render import Code, Note, md_inline

    markdown = md_inline(
        ["score ", Code("<img src=x onerror=alert(1)>"), Note("<script>x</script> \x1b[2J"), " \u202eevil"]
    )
    assert "`<img src=x onerror=alert(1)>`" in markdown  # fenced: shown as code, never rendered
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    assert "\x1b" not in markdown and "\u202e" not in markdown and "\\x1b" in markdown


def test_a_bidi_override_in_a_class_name_reaches_the_llm_as_an_escape():
    from promptclimb.prompts.meta import quoted

    assert quoted("cat\u202egod") == '"cat\\\\u202egod"'
