"""The meta-prompt builders of prompts/ on plain values: what each feedback mode shows, in microseconds."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from promptclimb.graph.config import RunConfig
from promptclimb.prompts import meta
from promptclimb.prompts.classify_messages import (
    MAX_EXAMPLE_CHARS,
    Counted,
    clip_text,
    compact_message,
    feedback_message,
    system_prompt,
)
from promptclimb.prompts.slots import fill_slots
from promptclimb.prompts.t2i_messages import feedback_turn, reference_turn
from promptclimb.prompts.t2i_messages import system_prompt as t2i_system_prompt
from promptclimb.prompts.template import apply_template

MODES = ["pos+neg", "pos", "neg", "none"]


@dataclass(frozen=True)
class Row:
    template: str
    train_acc: float


def ranking(n: int = 12) -> list[Row]:
    """Best first: "t0 {}" scores highest."""
    return [Row(f"t{i} {{}}", round(1 - i / n, 3)) for i in range(n)]


def counted(n: int = 12, total: int = 20) -> list[Counted]:
    return [Counted(f"t{i} {{}}", total - i, total, (total - i) / total) for i in range(n)]


def compact(mode: str, rows: list[Counted] | None = None, **extra) -> str:
    config = RunConfig(data="x", feedback=mode)
    kwargs = {"task": "images of 3 classes", "modality": "image", "examples": [], "repeats": 0, "error": None}
    return compact_message(counted() if rows is None else rows, config, **{**kwargs, **extra})


def test_fill_slots_replaces_markers_as_plain_text():
    assert fill_slots("<<A>> and <<B>>", A="{0.__class__}", B="x") == "{0.__class__} and x"
    assert fill_slots("<<UNKNOWN>> <<A>>", A="1") == "<<UNKNOWN>> 1"


def test_apply_template_puts_the_class_name_at_every_placeholder():
    assert apply_template("a {} next to a {}.", "cat") == "a cat next to a cat."


@pytest.mark.parametrize("mode", MODES)
def test_chat_turn_shows_exactly_its_kind_of_feedback(mode):
    config = RunConfig(data="x", meta="chat", feedback=mode, top_k=3, bottom_k=3)
    text = feedback_message(ranking(), ranking()[4:6], config)
    assert ("best templates" in text) == (mode in ("pos+neg", "pos"))
    assert ("worst templates" in text) == (mode in ("pos+neg", "neg"))
    assert ("Your last templates scored" in text) == (mode == "pos+neg")
    assert ("%" in text) == (mode != "none")
    assert "{}" not in text and ("CLASSNAME" in text) == (mode != "none")
    asks = {"pos+neg": meta.ASK_BETTER, "pos": meta.ASK_BETTER_POSITIVE, "neg": meta.ASK_BETTER_NEGATIVE}
    assert text.endswith(fill_slots(asks.get(mode, meta.ASK_RESAMPLE), N="3"))


def test_chat_turn_never_shows_a_template_as_both_good_and_bad():
    config = RunConfig(data="x", meta="chat", top_k=3, bottom_k=3)
    text = feedback_message(ranking(4), None, config)  # 4 templates, 3 good and 3 bad: one is left as bad
    good, bad = text.split("worst templates")
    assert good.count('"t') == 3 and bad.count('"t') == 1 and '"t3 CLASSNAME": 25.0%' in bad
    assert "Your last templates scored" not in text  # a fresh restart has no last scores
    nothing = feedback_message(ranking(4), [], config)
    assert meta.NOTHING_USABLE in nothing


@pytest.mark.parametrize("mode", MODES)
def test_compact_turn_shows_exactly_its_kind_of_feedback(mode):
    text = compact(mode)
    assert text.startswith("Task: zero-shot classification of images of 3 classes.")
    assert ("Templates tried so far" in text) == (mode == "pos+neg")
    assert ("The best templates so far" in text) == (mode == "pos")
    assert ("The worst templates so far" in text) == (mode == "neg")
    assert ("classified correctly" in text) == (mode != "none")
    assert ("/20" in text.split("Write")[0]) == (mode != "none")  # scores are shown as correct/N


def test_compact_turn_lists_scores_from_worst_to_best_with_the_best_last():
    rows = counted(30)
    text = compact("pos+neg", rows)
    listed = [line for line in text.splitlines() if line.startswith('- "t')]
    assert len(listed) == RunConfig(data="x").shown
    scores = [int(line.rsplit(": ", 1)[1].split("/")[0]) for line in listed]
    assert scores == sorted(scores) and scores[-1] == 20 and scores[0] == 20 - 29  # the very worst too


def test_compact_turn_reports_a_useless_or_repeating_last_reply():
    assert "gave no usable template: boom" in compact("pos+neg", error="boom")
    assert "repeated 2 template(s)" in compact("pos+neg", repeats=2)
    assert "repeated" not in compact("none", repeats=2)  # resampling shows nothing of the last reply


def test_compact_turn_quotes_and_cuts_example_inputs():
    long = "word " * 100
    text = compact("pos+neg", examples=[(long, "cat"), ("line\nbreak", "dog")])
    assert '"line break" (class: "dog")' in text
    assert clip_text(long) in text and len(clip_text(long)) == MAX_EXAMPLE_CHARS
    assert "texts" in compact("pos", modality="text")


def test_compact_turn_without_counts_shows_percentages():
    text = compact("pos", [Counted("old {}", 0, 0, 0.5)])
    assert '"old CLASSNAME": 50.0%' in text


@pytest.mark.parametrize("feedback", MODES)
def test_system_prompt_asks_to_learn_from_scores_only_when_it_shows_them(feedback):
    text = system_prompt(
        task="t", modality="text", classnames=[f"c{i}" for i in range(20)], feedback=feedback
    )
    assert ("from the scores" in text) == (feedback != "none")
    assert '"c7"' in text and '"c8"' not in text  # eight class names at most
    assert "text encoder" in text and "<<" not in text


@dataclass(frozen=True)
class Image:
    prompt: str
    image: str
    iteration: int
    index: int
    score: float
    phase: str = "t2i"
    critique: str = ""
    scores: dict | None = None


def test_t2i_feedback_turn_attaches_each_image_once_and_numbers_them():
    images = [
        Image(f"p{i}", f"img{i}.png", iteration=1 if i < 2 else 0, index=i, score=1 - i / 10)
        for i in range(4)
    ]
    text, attached = feedback_turn(images, 1, score_kind="dsg", top_k=2, bottom_k=1, proposals=3)
    assert attached == ["img0.png", "img1.png", "img3.png"]  # the best two were the last ones: listed above
    assert "image 1 of this message, listed above" in text and "image 3 of this message" in text
    assert text.count(meta.NOTHING_USABLE) == 0 and "Write 3 new prompts" in text
    first, attached = feedback_turn(images, 0, score_kind="clip", top_k=2, bottom_k=1, proposals=3)
    assert "The best prompts so far" not in first and "(CLIP cosine similarity)" in first
    assert attached == ["img2.png", "img3.png"]


def test_t2i_system_prompts_carry_the_query_and_the_recovered_prompt():
    assert '"a red cube"' in t2i_system_prompt("t2i", "a red cube", None)
    edit = t2i_system_prompt("edit", "on a beach", "a dog")
    assert '"a dog"' in edit and '"on a beach"' in edit and "<<EDIT>>" not in edit  # MAX_WORDS: the critic's
    assert reference_turn("invert", 2).startswith("This is the reference image.\n\nWrite 2 prompts")
