"""Text-to-image runs end to end through the real openai and LangChain clients against the fake images server:
the loop, what the critic is shown, the records, budgets, refusals and reports."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from promptclimb.graph.runs import read_calls, read_status
from tests.fake_openai_server import chat_reply, error_reply
from tests.t2i_helpers import (
    QUERY,
    chat_messages,
    endpoints,
    image_blocks,
    only_run,
    reference_image,
    serve,
    show,
    state,
    t2i,
)


@pytest.fixture
def server(monkeypatch):
    yield from serve(monkeypatch)


def test_t2i_climbs_from_the_query_to_a_faithful_image(tmp_path, server, capsys):
    runs = tmp_path / "runs"
    assert t2i(runs, "t2i", QUERY, "--iterations", "3", *endpoints(server)) == 0
    run_dir = only_run(runs)
    s = show(runs, run_dir, capsys)

    assert s["kind"] == "t2i" and s["status"] == "finished"
    final = s["final"]
    assert final["baseline"] == pytest.approx(5 / 6)  # the query itself: the "crimson" cube is drawn grey
    assert final["score"] == 1.0 and "red cube" in final["prompt"]
    assert s["iterations_done"] == 1, "a perfect image ends the phase: more iterations would only cost"
    # the first image is the query itself; every image is a PNG on disk with its prompt and seed
    assert server.image_prompts[0] == QUERY
    for row in s["leaderboard"]:
        with Image.open(run_dir / row["image"]) as image:
            assert image.format == "PNG" and image.text["prompt"] == row["prompt"]
        assert row["revised_prompt"].startswith(row["prompt"])  # what DALL-E 3 says it drew
    questions = {q["question"] for q in s["questions"]}
    assert "Is the cube red?" in questions
    assert "Is the cube red? -> no" in s["leaderboard"][-1]["critique"]
    # images and LLM calls are counted and priced (dall-e-3 standard 1024x1024: $0.04)
    assert s["images"]["images"] == len(server.image_requests()) == 3
    assert s["images"]["cost_usd"] == pytest.approx(0.12)
    assert s["cost_usd"] == pytest.approx(0.12 + s["usage"]["cost_usd"])
    assert s["usage"]["cost_usd"] > 0  # gpt-4o's price table, tokens from the fake server


def test_requests_use_b64_images_and_the_state_holds_paths_only(tmp_path, server):
    runs = tmp_path / "runs"
    assert t2i(runs, "t2i", QUERY, "--iterations", "1", *endpoints(server)) == 0
    run_dir = only_run(runs)
    body = server.image_requests()[0].json
    assert body == {"model": "dall-e-3", "prompt": QUERY, "n": 1, "size": "1024x1024", "quality": "standard",
                    "response_format": "b64_json"}  # fmt: skip
    st = state(run_dir)
    assert all(c.image.startswith("images/") and (run_dir / c.image).is_file() for c in st["candidates"])
    checkpoint = (run_dir / "checkpoints.sqlite").read_bytes()
    assert b"iVBORw0KGgo" not in checkpoint, "a base64 PNG reached the checkpoint"
    log = (run_dir / "llm_calls.jsonl").read_text()
    assert "base64" not in log and "[image: images/t2i-i000-00.png]" in log
    calls = read_calls(run_dir)
    assert len(calls) == st["usage"].calls


def test_the_critic_sees_last_best_and_worst_images_with_their_critiques(tmp_path, server):
    runs = tmp_path / "runs"
    args = ["--iterations", "3", "--keep-going", "--top-k", "2", "--bottom-k", "1"]
    assert t2i(runs, "t2i", QUERY, *args, *endpoints(server)) == 0
    critic = [r for r in server.chat_requests() if "expert at writing prompts" in str(chat_messages(r)[0])]
    assert len(critic) == 3
    first = chat_messages(critic[0])
    assert [m["role"] for m in first] == ["system", "user"]
    assert QUERY in first[0]["content"]
    assert len(image_blocks(first[1])) == 1 and "Is the cube red? -> no" in first[1]["content"][0]["text"]
    third = chat_messages(critic[2])
    assert [m["role"] for m in third] == ["system", "user", "assistant", "user", "assistant", "user"]
    last = third[-1]["content"][0]["text"]
    assert "Your last prompts gave" in last and "The best prompts so far" in last
    assert "The worst prompts so far" in last and QUERY in last.split("The worst prompts so far")[1]
    # images: the last turn attaches its own (deduplicated); older turns are not re-sent
    assert 2 <= len(image_blocks(third[-1])) <= 5
    assert image_blocks(third[1]) and not image_blocks(third[3])
    urls = [b["image_url"]["url"] for b in image_blocks(third[-1])]
    assert all(u.startswith("data:image/png;base64,") for u in urls) and len(set(urls)) == len(urls)


def test_an_unusable_critic_reply_is_reasked_and_every_attempt_recorded(tmp_path, server, capsys):
    server.script(
        "critic",
        chat_reply("Sure! Here are better prompts: make the cube red."),
        chat_reply(json.dumps({"feedback": "same again", "prompts": [QUERY, "x " * 80]})),
    )
    runs = tmp_path / "runs"
    assert t2i(runs, "t2i", QUERY, "--iterations", "1", *endpoints(server)) == 0
    run_dir = only_run(runs)
    s = show(runs, run_dir, capsys)
    reasons = [r["reason"] for r in s["rejections"]]
    assert "already tried" in reasons and "longer than 60 words" in reasons
    critic_calls = [c for c in read_calls(run_dir) if "expert at writing prompts" in c.request[0]["content"]]
    assert len(critic_calls) == 3
    assert "not a JSON object" in critic_calls[1].request[-1]["content"]
    assert s["final"]["score"] == 1.0  # the third reply (the world's critic) was usable


def test_a_refused_prompt_is_recorded_and_the_run_goes_on(tmp_path, server, capsys):
    server.refuse_words = {"sharp"}  # the second prompt of the critic's first reply
    runs = tmp_path / "runs"
    assert t2i(runs, "t2i", QUERY, "--iterations", "1", *endpoints(server)) == 0
    s = show(runs, only_run(runs), capsys)
    (rejection,) = s["rejections"]
    assert "sharp" in rejection["text"] and "refused the prompt" in rejection["reason"]
    assert s["candidates_scored"] == 2


def test_image_budget_pauses_and_resume_finishes_without_regenerating(tmp_path, server, capsys):
    runs = tmp_path / "runs"
    args = ["--iterations", "2", "--keep-going", "--max-images", "2"]
    assert t2i(runs, "t2i", QUERY, *args, *endpoints(server)) == 3
    run_dir = only_run(runs)
    status, reason = read_status(run_dir)
    assert status == "paused" and "image budget reached (2 of --max-images 2)" in reason
    assert len(server.image_requests()) == 2
    assert t2i(runs, "resume", run_dir.name, "--max-images", "10", "--trust-run-llm") == 0
    s = show(runs, run_dir, capsys)
    assert s["status"] == "finished" and s["images"]["images"] == 5
    assert len(server.image_prompts) == len(set(server.image_prompts)) == 5
    assert s["config"]["max_images"] == 10


def test_cost_budget_counts_images_and_llm_calls(tmp_path, server):
    runs = tmp_path / "runs"
    assert (
        t2i(runs, "t2i", QUERY, "--iterations", "3", "--keep-going", "--max-cost", "0.1", *endpoints(server))
        == 3
    )
    status, reason = read_status(only_run(runs))
    assert status == "paused" and "cost budget reached" in reason
    assert len(server.image_requests()) == 3  # 3 x $0.04 + the calls passes $0.10: the third was the last


def test_invert_compares_reference_and_generated_images(tmp_path, server, capsys):
    ref = reference_image(tmp_path / "ref.png")
    runs = tmp_path / "runs"
    assert t2i(runs, "invert", str(ref), "--score", "rating", "--iterations", "2", *endpoints(server)) == 0
    run_dir = only_run(runs)
    s = show(runs, run_dir, capsys)
    assert s["kind"] == "invert" and (run_dir / "reference.png").is_file()
    assert s["final"]["score"] == 1.0 > s["final"]["baseline"]
    ratings = [r for r in server.chat_requests() if "You rate how closely" in str(chat_messages(r)[0])]
    assert ratings and all(len(image_blocks(chat_messages(r)[-1])) == 2 for r in ratings)
    critic = [r for r in server.chat_requests() if "find a prompt from which" in str(chat_messages(r)[0])]
    for request in critic:  # the reference is in every request of the conversation
        assert len(image_blocks(chat_messages(request)[1])) == 1
        assert "This is the reference image." in chat_messages(request)[1]["content"][0]["text"]


def test_invert_with_dsg_decomposes_the_reference_image(tmp_path, server, capsys):
    ref = reference_image(tmp_path / "ref.png", "two yellow pyramids and a green ball")
    runs = tmp_path / "runs"
    assert t2i(runs, "invert", str(ref), "--iterations", "2", *endpoints(server)) == 0
    s = show(runs, only_run(runs), capsys)
    assert {"Is there a pyramid?", "Are there 2 pyramids?", "Is the sphere green?"} <= {
        q["question"] for q in s["questions"]
    }
    assert s["final"]["score"] == 1.0


def test_report_puts_each_iterations_images_side_by_side(tmp_path, server, capsys):
    runs = tmp_path / "runs"
    assert t2i(runs, "t2i", QUERY, "--iterations", "2", "--keep-going", *endpoints(server)) == 0
    run_dir = only_run(runs)
    (run_dir / "report.md").unlink()
    assert t2i(runs, "t2i-report", run_dir.name) == 0
    md = (run_dir / "report.md").read_text()
    assert "### t2i, iteration 0" in md and "### t2i, iteration 2" in md
    row = next(line for line in md.splitlines() if line.startswith("|") and "t2i-i001-00.png" in line)
    assert "t2i-i001-01.png" in row, "images of one iteration sit in one table row"
    page = (run_dir / "report.html").read_text()
    assert page.count("<img") == 1 + 5  # the best, then every image
    assert "&quot;" not in QUERY and "Is the cube red? -&gt; no" in page


def test_dry_run_prices_the_plan_and_creates_nothing(tmp_path, server, capsys):
    runs = tmp_path / "runs"
    capsys.readouterr()
    args = ["--iterations", "4", "--proposals", "3", "--generator", "openai:gpt-image-1", "--dry-run"]
    assert t2i(runs, "t2i", QUERY, *args) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["images_at_most"] == 13 and plan["price_per_image_usd"] == 0.042
    assert plan["image_cost_usd_at_most"] == pytest.approx(13 * 0.042)
    assert not runs.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["invert", "missing.png"], "file not found"),
        (["t2i", "  "], "needs a non-empty text"),
        (["t2i", QUERY, "--generator", "midjourney:v6"], "unknown generator kind"),
        (["t2i", QUERY, "--generator", "openai:my-model"], "--image-price"),
        (["t2i", QUERY, "--iterations", "-1"], "iterations"),
    ],
)
def test_bad_input_is_one_line_and_creates_no_run(tmp_path, server, capsys, argv, message):
    runs = tmp_path / "runs"
    capsys.readouterr()
    assert t2i(runs, *argv, *endpoints(server)) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and err.count("error:") == 1
    assert not runs.exists() or not any(runs.iterdir())


def test_missing_api_key_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert t2i(tmp_path / "runs", "t2i", QUERY) == 2
    assert "needs an API key in $OPENAI_API_KEY" in capsys.readouterr().err


def test_personalize_inverts_then_edits_keeping_the_subject(tmp_path, server, tiny_clip, capsys):
    ref = reference_image(tmp_path / "dog.png", "a purple dog")
    runs = tmp_path / "runs"
    edit = "the same dog next to a green sphere"
    args = ["--clip", str(tiny_clip), "--iterations", "1", "--invert-iterations", "1", "--keep-going"]
    assert t2i(runs, "personalize", str(ref), edit, *args, *endpoints(server)) == 0
    run_dir = only_run(runs)
    s = show(runs, run_dir, capsys)
    phases = [(r["phase"], r["iteration"]) for r in s["leaderboard"]]
    assert {p for p, _ in phases} == {"invert", "edit"}
    best_invert = next(r for r in s["leaderboard"] if r["phase"] == "invert")
    assert s["recovered"] == best_invert["prompt"] and "purple dog" in s["recovered"]
    final = s["final"]
    assert final["phase"] == "edit" and final["recovered"] == s["recovered"]
    for row in (r for r in s["leaderboard"] if r["phase"] == "edit"):
        subject, edited = row["scores"]["subject"], row["scores"]["edit"]
        assert subject == row["scores"]["clip_image"]
        assert row["score"] == pytest.approx(0.5 * min(1.0, max(0.0, subject)) + 0.5 * edited)
        assert row["image"].startswith("images/edit-")
    edit_critic = [r for r in server.chat_requests() if "in a new situation" in str(chat_messages(r)[0])]
    assert edit_critic and s["recovered"] in chat_messages(edit_critic[0])[0]["content"]
    assert edit in chat_messages(edit_critic[0])[0]["content"]
    assert {q["question"] for q in s["questions"]} >= {"Is there a sphere?", "Is the sphere green?"}


def test_clip_score_ranks_by_image_text_similarity_without_asking_questions(
    tmp_path, server, tiny_clip, capsys
):
    runs = tmp_path / "runs"
    assert (
        t2i(
            runs,
            "t2i",
            QUERY,
            "--score",
            "clip",
            "--clip",
            str(tiny_clip),
            "--iterations",
            "1",
            *endpoints(server),
        )
        == 0
    )
    s = show(runs, only_run(runs), capsys)
    scores = [r["score"] for r in s["leaderboard"]]
    assert scores == sorted(scores, reverse=True)
    assert all(r["score"] == r["scores"]["clip_text"] and -1 <= r["score"] <= 1 for r in s["leaderboard"])
    assert set(server.seen_kinds) == {"critic"}
    assert "CLIP cosine similarity" in " ".join(str(m) for m in chat_messages(server.chat_requests()[-1]))


def test_the_promptclimb_command_line_has_the_t2i_commands(tmp_path, server):
    from promptclimb.cli.main import main as promptclimb

    runs = tmp_path / "runs"
    assert promptclimb(["--runs-dir", str(runs), "t2i", QUERY, "--iterations", "1", *endpoints(server)]) == 0
    run_dir = only_run(runs)
    assert json.loads((run_dir / "config.json").read_text())["kind"] == "t2i"
    assert promptclimb(["--runs-dir", str(runs), "t2i-report", run_dir.name]) == 0
    assert promptclimb(["--runs-dir", str(runs), "invert", str(tmp_path / "missing.png")]) == 2


def test_critic_errors_are_retried_recorded_or_pause_the_run(tmp_path, server, capsys):
    server.script(
        "critic",
        error_reply(429, "slow down", headers={"Retry-After": "0"}),  # retried after the asked pause
        error_reply(401, "bad key"),  # not retried: the run pauses, resumable
    )
    runs = tmp_path / "runs"
    assert t2i(runs, "t2i", QUERY, "--iterations", "1", *endpoints(server)) == 3
    run_dir = only_run(runs)
    status, reason = read_status(run_dir)
    assert status == "paused" and "HTTP 401" in reason
    errors = [c.error for c in read_calls(run_dir) if c.error]
    assert errors == ["HTTP 429: slow down", "HTTP 401: bad key"]
    assert t2i(runs, "resume", run_dir.name, "--trust-run-llm") == 0
    s = show(runs, run_dir, capsys)
    assert s["status"] == "finished" and s["final"]["score"] == 1.0
    assert s["llm_calls"] == len(read_calls(run_dir)) - 2, (
        "the failed calls of the paused step are not in the state"
    )


def test_resume_reads_its_checkpoints_without_allow_list_warnings(tmp_path, server, caplog):
    runs = tmp_path / "runs"
    assert t2i(runs, "t2i", QUERY, "--iterations", "1", "--max-images", "1", *endpoints(server)) == 3
    run_dir = only_run(runs)
    caplog.clear()
    with caplog.at_level("WARNING"):
        t2i(runs, "resume", run_dir.name, "--max-images", "1", "--trust-run-llm")
    assert "Blocked deserialization" not in caplog.text


def test_an_invert_run_whose_critic_never_answers_usably_pauses(tmp_path, server, capsys):
    garbage = chat_reply("Sure! I would describe it as a nice picture.")
    server.script("critic", garbage, garbage, garbage)
    ref = reference_image(tmp_path / "ref.png")
    runs = tmp_path / "runs"
    assert t2i(runs, "invert", str(ref), "--iterations", "1", *endpoints(server)) == 3
    status, reason = read_status(only_run(runs))
    assert status == "paused" and "no usable prompt" in reason
    assert not server.image_requests()  # nothing was drawn from nothing
    assert t2i(runs, "resume", only_run(runs).name, "--trust-run-llm") == 0  # the critic answers now
