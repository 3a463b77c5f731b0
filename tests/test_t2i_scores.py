"""Scores of generated images on hand-made question/answer pairs and images: DSG dependencies, parsing of
questions, answers and ratings, CLIP similarity shapes."""

from __future__ import annotations

import numpy as np
import pytest

from promptclimb.evaluators.t2i.critics import UnusableReply, extract_json
from promptclimb.evaluators.t2i.scores import (
    Rating,
    clip_image_similarity,
    clip_text_similarity,
    dsg_critique,
    dsg_score,
    edit_score,
    parse_answers,
    parse_questions,
    parse_rating,
    satisfied,
)
from promptclimb.graph.t2i.state import Question

# "a red cube on top of a blue sphere, left of a dog"
SCENE = [
    Question(id=1, question="Is there a cube?", category="entity"),
    Question(id=2, question="Is the cube red?", category="attribute", parents=[1]),
    Question(id=3, question="Is there a sphere?", category="entity"),
    Question(id=4, question="Is the sphere blue?", category="attribute", parents=[3]),
    Question(id=5, question="Is the cube on top of the sphere?", category="relation", parents=[1, 3]),
    Question(id=6, question="Is there a dog?", category="entity"),
    Question(id=7, question="Is the sphere left of the dog?", category="relation", parents=[3, 6]),
]


def answers(*yes: int) -> dict[int, bool]:
    return {q.id: q.id in yes for q in SCENE}


def test_all_yes_scores_one_and_all_no_scores_zero():
    assert dsg_score(SCENE, answers(*range(1, 8))) == 1.0
    assert dsg_score(SCENE, answers()) == 0.0


def test_a_question_whose_parent_fails_counts_as_failed():
    # No cube: "is the cube red?" and "is the cube on top of the sphere?" get no credit even if answered yes.
    got = answers(2, 3, 4, 5, 6, 7)
    holds = satisfied(SCENE, got)
    assert holds == {1: False, 2: False, 3: True, 4: True, 5: False, 6: True, 7: True}
    assert dsg_score(SCENE, got) == pytest.approx(4 / 7)


def test_dependencies_are_transitive():
    chain = [
        Question(id=1, question="Is there a dog?"),
        Question(id=2, question="Is the dog wearing a hat?", category="relation", parents=[1]),
        Question(id=3, question="Is the hat red?", category="attribute", parents=[2]),
    ]
    assert satisfied(chain, {1: False, 2: True, 3: True}) == {1: False, 2: False, 3: False}
    assert satisfied(chain, {1: True, 2: False, 3: True}) == {1: True, 2: False, 3: False}


def test_unanswered_questions_count_as_failed():
    assert dsg_score(SCENE, {1: True, 2: True}) == pytest.approx(2 / 7)


def test_critique_names_failed_and_dependent_questions():
    text = dsg_critique(SCENE, answers(2, 3, 4, 6, 7))
    assert text.startswith("4/7 questions pass")
    assert "Is there a cube? -> no" in text
    assert "Is the cube red? -> yes, but not counted: depends on 1" in text
    assert "Is the sphere blue?" not in text
    assert dsg_critique(SCENE, answers(*range(1, 8))) == "7/7 questions pass"


def test_parse_questions_renumbers_and_keeps_only_earlier_parents():
    data = {
        "questions": [
            {"id": "q1", "question": "Is there a  cube?", "category": "Entity", "parents": []},
            {"id": "q2", "question": "Is the cube red?", "category": "colour", "parents": ["q1", "q9", "q2"]},
            "Is there a sphere?",
            {
                "id": 7,
                "question": "Is the cube on the sphere?",
                "category": "relation",
                "parents": ["q1", 3, "q8"],
            },
        ]
    }
    qs = parse_questions(data)
    assert [q.id for q in qs] == [1, 2, 3, 4]
    assert qs[0].question == "Is there a cube?" and qs[0].category == "entity"
    assert qs[1].parents == [1] and qs[1].category == "entity"  # unknown category -> entity; q9 unknown
    assert qs[3].parents == [1, 3] and qs[3].category == "relation"


@pytest.mark.parametrize("bad", [{}, {"questions": []}, {"questions": [{"question": " "}]}, [], "nope"])
def test_parse_questions_refuses_unusable_replies(bad):
    with pytest.raises(UnusableReply):
        parse_questions(bad)


def test_parse_answers_accepts_the_usual_spellings():
    qs = SCENE[:5]
    got = parse_answers(
        {"answers": {"1": "Yes", "2": "no.", "3": True, " 4 ": "YES, clearly", "5": "No"}}, qs
    )
    assert got == {1: True, 2: False, 3: True, 4: True, 5: False}
    assert parse_answers({"answers": ["yes", "no", "yes", "no", "yes"]}, qs)[5] is True


@pytest.mark.parametrize(
    "bad", [{"answers": {"1": "yes"}}, {"answers": {str(i): "maybe" for i in range(1, 8)}}, {"other": 1}]
)
def test_parse_answers_refuses_missing_or_unclear_answers(bad):
    with pytest.raises(UnusableReply):
        parse_answers(bad, SCENE)


@pytest.mark.parametrize(
    ("data", "rating"),
    [
        ({"rating": 4, "reason": "the dog is missing"}, 4),
        ({"rating": "5"}, 5),
        ({"rating": 3.0, "reason": ""}, 3),
        ({"rating": "2/5"}, 2),
        ({"score": "Rating: 1"}, 1),
    ],
)
def test_parse_rating(data, rating):
    parsed = parse_rating(data)
    assert parsed.rating == rating
    assert parsed.normalized == (rating - 1) / 4


@pytest.mark.parametrize(
    "bad", [{"rating": 0}, {"rating": 6}, {"rating": 3.5}, {"rating": "great"}, {}, {"rating": True}]
)
def test_parse_rating_refuses_out_of_range(bad):
    with pytest.raises(UnusableReply):
        parse_rating(bad)


def test_rating_keeps_its_reason_on_one_line():
    assert parse_rating({"rating": 2, "reason": "no\n  sphere"}) == Rating(2, "no sphere")


def test_extract_json_from_fences_and_prose():
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('Sure!\n```json\n{"rating": 3}\n```\nHope it helps') == {"rating": 3}
    assert extract_json('I think {"answers": {"1": "yes"}} is right') == {"answers": {"1": "yes"}}
    with pytest.raises(UnusableReply):
        extract_json("yes, yes and no")


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def test_clip_similarity_shapes_and_values():
    rng = np.random.default_rng(0)
    images, texts = unit(rng.normal(size=(3, 8))), unit(rng.normal(size=(2, 8)))
    sims = clip_text_similarity(images, texts)
    assert sims.shape == (3, 2)
    assert np.allclose(sims[1, 0], images[1] @ texts[0])
    ref = clip_image_similarity(images, images[2:3])
    assert ref.shape == (3,)
    assert ref[2] == pytest.approx(1.0)
    assert np.all(ref <= 1.0 + 1e-9)


def test_edit_score_mixes_subject_and_edit_and_clips_the_cosine():
    assert edit_score(0.8, 0.5, 0.5) == pytest.approx(0.65)
    assert edit_score(-0.2, 1.0, 0.25) == pytest.approx(0.75)
    assert edit_score(1.3, 0.0, 1.0) == 1.0


def test_images_for_the_vision_model_small_as_png_large_resized_to_jpeg(tmp_path):
    import base64
    import io

    from PIL import Image

    from promptclimb.evaluators.t2i.critics import image_data_url

    small, large = tmp_path / "small.png", tmp_path / "large.png"
    Image.new("RGB", (256, 256), (200, 10, 10)).save(small)
    Image.new("RGB", (1024, 1024), (10, 10, 200)).save(large)
    url = image_data_url(small)
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == small.read_bytes()
    url = image_data_url(large)
    assert url.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        assert image.size == (768, 768)


def test_the_critic_sees_the_first_exchange_and_the_last_ones():
    from promptclimb.evaluators.t2i.critics import visible_turns
    from promptclimb.graph.t2i.state import T2IMessage

    turns = [T2IMessage(role="user" if i % 2 == 0 else "assistant", content=str(i)) for i in range(11)]
    assert [t.content for t in visible_turns(turns, 2)] == ["0", "1", "6", "7", "8", "9", "10"]
    assert visible_turns(turns[:5], 2) == turns[:5]
