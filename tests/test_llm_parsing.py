"""Reply parsing: tolerant extraction, placeholder mapping, validation, dedup and rejection reasons."""

from __future__ import annotations

import json

import pytest

from promptclimb.llm.parsing import (
    MAX_CANDIDATES,
    describe_failure,
    extract_candidates,
    map_placeholders,
    screen,
    shorten,
)
from promptclimb.prompts.template import validate


def templates_of(reply: str, n: int = 10, seen: set[str] | None = None) -> list[str]:
    candidates, _ = extract_candidates(reply)
    return screen(candidates, seen or set(), n)[0]


def test_json_object() -> None:
    reply = json.dumps({"templates": ["a photo of a CLASSNAME.", "a sketch of a {}."]})
    assert templates_of(reply) == ["a photo of a {}.", "a sketch of a {}."]


def test_json_in_a_fence_with_prose_around() -> None:
    reply = 'Sure! Here you go:\n```json\n{"templates": ["a photo of a CLASSNAME."]}\n```\nThey are photos.'
    assert templates_of(reply) == ["a photo of a {}."]


def test_bare_json_list_and_list_of_objects() -> None:
    assert templates_of('["a {} in the wild.", "a {} at night."]') == ["a {} in the wild.", "a {} at night."]
    objects = '[{"template": "a photo of a CLASSNAME.", "why": "simple"}, {"template": "art of a {}."}]'
    assert templates_of(objects) == ["a photo of a {}.", "art of a {}."]


def test_other_key_names_and_single_list() -> None:
    assert templates_of('{"prompts": ["a {}."]}') == ["a {}."]
    assert templates_of('{"my_list": ["a {} photo."], "note": "x"}') == ["a {} photo."]


def test_truncated_json_is_salvaged() -> None:
    reply = '{"templates": ["a photo of a CLASSNAME.", "a close-up of a CLASSNAME.", "a pic'
    assert templates_of(reply) == ["a photo of a {}.", "a close-up of a {}."]


def test_bullets_numbering_labels_and_quotes() -> None:
    reply = """Here are some new templates:
1. "a photo of a CLASSNAME, a type of pet." (emphasises the category)
2) a blurry photo of a CLASSNAME.
- Template 3: 'a cropped photo of the CLASSNAME.'
* `a CLASSNAME in the wild.`
Template 5: a close-up of a CLASSNAME -- works because close-ups help
#6 “a drawing of a CLASSNAME.”
These should work well because they vary the style."""
    assert templates_of(reply) == [
        "a photo of a {}, a type of pet.",
        "a blurry photo of a {}.",
        "a cropped photo of the {}.",
        "a {} in the wild.",
        "a close-up of a {}",
        "a drawing of a {}.",
    ]


def test_apostrophes_inside_single_quotes_survive() -> None:
    assert templates_of("- 'a photo of my dog's favourite CLASSNAME.'") == [
        "a photo of my dog's favourite {}."
    ]


def test_prose_lines_are_not_proposals() -> None:
    candidates, error = extract_candidates("I think photos work best.\nLet me know if you need more!")
    assert candidates == []
    assert error is not None and "no templates found" in error


def test_empty_and_thinking_only_replies() -> None:
    assert extract_candidates("   ")[1] == "the reply was empty"
    assert extract_candidates("<think>hmm</think>")[1] == "the reply was empty"
    assert templates_of('<think>{"templates": ["no"]}</think>{"templates": ["a {}."]}') == ["a {}."]


@pytest.mark.parametrize(
    "variant",
    ["CLASSNAME", "<CLASSNAME>", "[CLASSNAME]", "{CLASSNAME}", "{class}", "{classname}", "{label}", "{{}}",
     "{class_name}", "<classname>", "[class]", "{0}", "(CLASSNAME)", "{ CLASSNAME }", "{{CLASSNAME}}"],
)  # fmt: skip
def test_placeholder_variants_map_to_braces(variant: str) -> None:
    assert map_placeholders(f"a photo of a {variant}.") == "a photo of a {}."


def test_words_that_merely_contain_class_are_kept() -> None:
    assert map_placeholders("a classic photo of a {}.") == "a classic photo of a {}."
    assert map_placeholders("a photo of a first-class {}.") == "a photo of a first-class {}."


def test_injection_attempts_are_rejected_with_reasons() -> None:
    candidates = [
        "{0.__class__.__mro__}",
        "a {} photo of {0.__class__}",
        "{}{}{}{}{}",
        "x" * 5000 + " {}",
        "a photo\x00 of a {}.",
        "a photo of a cat.",
        "",
        "a {} {__import__('os')}",
    ]
    templates, rejections = screen(candidates, set(), 10)
    assert templates == []
    reasons = [reason for _, reason in rejections]
    assert reasons == [
        "no {} placeholder for the class name",
        "braces other than the {} placeholder",
        "more than 3 {} placeholders",
        "longer than 300 characters",
        "contains control characters",
        "no {} placeholder for the class name",
        "empty template",
        "braces other than the {} placeholder",
    ]
    assert all(len(text) <= 120 and "\x00" not in text for text, _ in rejections)


def test_accepted_templates_always_pass_validate() -> None:
    reply = json.dumps({"templates": ["  a   photo of a CLASSNAME. ", "A {} IN ART", "{}{}", "a {x}"]})
    templates = templates_of(reply)
    assert templates == ["a photo of a {}.", "A {} IN ART", "{}{}"]
    assert all(validate(t) == t for t in templates)


def test_duplicates_against_seen_and_within_the_reply() -> None:
    reply = json.dumps({"templates": ["A photo of a CLASSNAME.", "a new {}.", "a  NEW {}.", "a third {}."]})
    candidates, _ = extract_candidates(reply)
    templates, rejections = screen(candidates, {"a photo of a {}."}, 10)
    assert templates == ["a new {}.", "a third {}."]
    assert rejections == [
        ("A photo of a CLASSNAME.", "duplicate of a template already tried"),
        ("a  NEW {}.", "duplicate within this reply"),
    ]


def test_at_most_n_templates_are_kept() -> None:
    candidates = [f"a photo number {word} of a {{}}." for word in ("one", "two", "three")]
    templates, rejections = screen(candidates, set(), 2)
    assert len(templates) == 2
    assert rejections == [(candidates[2], "more than the 2 templates asked for")]


def test_huge_lists_are_capped() -> None:
    candidates = [f"a {{}} number {i}" for i in range(MAX_CANDIDATES + 50)]
    templates, rejections = screen(candidates, set(), 5)
    assert len(templates) == 5
    assert len(rejections) == MAX_CANDIDATES - 5 + 1
    assert rejections[-1] == ("(50 more proposals)", f"ignored: over {MAX_CANDIDATES} in one reply")


def test_shorten_is_one_bounded_printable_line() -> None:
    short = shorten("line one\nline two\x07" + "y" * 300)
    assert len(short) == 120 and "\n" not in short and "\\x0a" in short and short.endswith("...")


def test_describe_failure() -> None:
    assert describe_failure("the reply was empty", []) == "the reply was empty"
    text = describe_failure(None, [("a", "r1"), ("b", "r2"), ("c", "r3"), ("d", "r4")])
    assert text.startswith("none of the 4 proposed templates was usable: ")
    assert '"a" (r1)' in text and "and 1 more" in text and "\n" not in text


def test_a_reply_nested_past_pythons_limit_is_unusable_not_a_crash() -> None:
    from promptclimb.llm.class_texts import extract_class_texts
    from promptclimb.llm.parsing import extract_candidates

    for deep in ("[" * 5000, '{"x":' * 5000, '{"card arrival": ' + "[" * 5000 + '"late"' + "]" * 5000 + "}"):
        candidates, _ = extract_candidates(deep)  # no RecursionError: what it finds is screened as usual
        assert not any("{}" in c for c in candidates)
        assert extract_class_texts(deep, ["card arrival"])[0] == {}
    fine = '[[[[ "a photo of a {}." ]]]] then {"templates": ["a {} photo."]}'
    assert extract_candidates(fine)[0]  # a reply that nests a little still parses
