"""``--meta liu2024``: Liu et al.'s released loop, run end to end with the scripted LLM, checked against a
fixture of the release's message structure (tests/reference/liu2024_message.txt); its reply format, re-ask
policy, selection and initial-pool draw."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from promptclimb.graph.config import RunConfig
from promptclimb.graph.runs import read_calls
from promptclimb.llm.parsing import dash_lines
from promptclimb.prompts.pools import load_pool
from promptclimb.prompts.template import TemplateError
from tests.conftest import DEMO_DATA
from tests.graph_helpers import cli, only_run, run_args, show_json

FIXTURE = Path(__file__).parent / "reference" / "liu2024_message.txt"
CLASSES = sorted(p.name for p in (DEMO_DATA / "train").iterdir() if p.is_dir())


def skeleton(message: str) -> tuple[str, list[str], list[str]]:
    """The message with its two template lists replaced by numbered markers, and the two lists."""
    head, rest = message.split("The good templates:\n", 1)
    good_block, rest = rest.split("\n\nThe bad templates:\n", 1)
    bad_block, tail = rest.split("\n\nRequirements:", 1)
    good, bad = good_block.split("\n"), bad_block.split("\n")
    marked = (
        f"{head}The good templates:\n" + "\n".join(f"<<GOOD {i}>>" for i in range(1, len(good) + 1))
        + "\n\nThe bad templates:\n" + "\n".join(f"<<BAD {i}>>" for i in range(1, len(bad) + 1))
        + f"\n\nRequirements:{tail}"
    )  # fmt: skip
    return marked, good, bad


def test_a_run_sends_exactly_the_released_message_structure(tmp_path, tiny_clip, capsys):
    runs = tmp_path / "runs"
    # The release's defaults (1 restart, 3 + 3 shown, 1 asked, the stand-in pool's draw), a smaller draw and
    # fewer iterations to keep the test short.
    assert cli(*run_args(runs, tiny_clip, "--meta", "liu2024", "--pool", "caption-standin", "--pool-size",
                         "20", "--iterations", "4")) == 0  # fmt: skip
    run_dir = only_run(runs)
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["restarts"], config["top_k"], config["bottom_k"], config["temperature"]) == (1, 3, 3, 1.0)
    s = show_json(runs, run_dir, capsys)
    board = s["leaderboard"]
    assert sum(r["source"] == "pool" for r in board) == 20

    calls = read_calls(run_dir)
    assert len(calls) == 4  # one call per iteration: every scripted reply was usable
    fixture = FIXTURE.read_text().rstrip("\n")
    for number, call in enumerate(calls, start=1):
        # one self-contained user message: no system prompt, no earlier exchange
        assert [m["role"] for m in call.request] == ["user"]
        message = call.request[0]["content"]
        marked, good, bad = skeleton(message)
        assert marked == fixture  # 3 + 3 templates, 1 template asked, the release's requirements
        # no scores, no task: no percentages or counts, no dataset or class name outside the templates
        instructions = re.sub(r"<<(GOOD|BAD) \d>>|1 better|15 words", "", marked)
        assert "%" not in instructions and not any(ch.isdigit() for ch in instructions)
        names = [*CLASSES, DEMO_DATA.name]
        assert not [n for n in names if re.search(rf"\b{re.escape(n)}\b", instructions, re.IGNORECASE)]
        # the 3 best (best first) and the 3 worst (worst first) of everything scored before this call,
        # on training accuracy
        before = [r for r in board if r["iteration"] < number]
        acc = {r["template"]: r["train_acc"] for r in before}
        rest_good = [a for t, a in acc.items() if t not in good]
        rest_bad = [a for t, a in acc.items() if t not in bad]
        assert min(acc[t] for t in good) >= max(rest_good)
        assert max(acc[t] for t in bad) <= min(rest_bad)
        assert [acc[t] for t in good] == sorted((acc[t] for t in good), reverse=True)
        assert [acc[t] for t in bad] == sorted(acc[t] for t in bad)
        assert call.reply is not None and call.reply.startswith("- ")  # answered in the release's format
    # the release reports its best LLM-written template (by training accuracy), not a pool caption
    llm_rows = [r for r in board if r["source"] == "llm"]
    assert s["final"]["template"] == llm_rows[0]["template"]


def test_reasks_resend_the_same_message_and_duplicates_are_not_reasked(tmp_path, tiny_clip):
    replies = tmp_path / "replies.jsonl"
    lines = [
        "Sure! Here is a better one: a photo of a {}",  # no "- " line: unusable, the same message again
        "- a nice photo of a {}\n- a photo with no slot",  # a "- " line without {}: unusable as a whole
        "- a very nice photo of a {}.",
        "- a very nice photo of a {}.",  # already scored: accepted, nothing new, no re-ask
    ]
    replies.write_text("".join(json.dumps(r) + "\n" for r in lines))
    runs = tmp_path / "runs"
    args = run_args(runs, tiny_clip, "--meta", "liu2024", "--iterations", "2")
    args[args.index("scripted:")] = f"scripted:{replies}"
    assert cli(*args) == 0
    calls = read_calls(only_run(runs))
    assert len(calls) == 4
    assert calls[0].request == calls[1].request == calls[2].request  # resent as it was: no history
    assert [m["role"] for m in calls[3].request] == ["user"]
    assert "a very nice photo of a {}." in calls[3].request[0]["content"]  # now the best one


def test_dash_lines_follows_the_release_check():
    assert dash_lines("- a photo of a {}.\n- art of the {}.") == (
        ["a photo of a {}.", "art of the {}."],
        None,
    )
    assert dash_lines("Here you go:\n- a photo of a {}.\nHope it helps") == (["a photo of a {}."], None)
    assert dash_lines("- a photo of a {}.\n- a photo")[0] == []  # one line without {}: the reply is unusable
    assert dash_lines("a photo of a {}.")[0] == []  # no "- " line
    assert dash_lines("  - indented {}")[0] == ["indented {}"]  # the release strips the whole reply first
    assert dash_lines("x\n  - indented {}")[0] == []  # but not each line


def test_liu2024_defaults_apply_only_where_the_user_gave_none():
    config = RunConfig(data=".", meta="liu2024")
    assert (config.restarts, config.top_k, config.bottom_k, config.asked(), config.iterations) == (
        1,
        3,
        3,
        1,
        10,
    )
    assert (config.pool, config.pool_size, config.selection(), config.pool_draw()) == (
        "caption-standin", 80, "train", "liu2024"
    )  # fmt: skip
    mine = RunConfig(data=".", meta="liu2024", restarts=3, top_k=5, proposals=2)
    assert (mine.restarts, mine.top_k, mine.asked()) == (3, 5, 2)
    assert RunConfig(data=".", meta="chat").restarts == 3  # other styles keep promptclimb's defaults
    assert RunConfig.model_validate(json.loads(config.model_dump_json())) == config  # resume reads it back


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_pool_is_drawn_as_the_release_draws_it(tmp_path, seed):
    captions = [f"caption number {i} of a {{}}" for i in range(300)]
    path = tmp_path / "captions.txt"
    path.write_text("# a comment line\n" + "\n".join(captions) + "\n")
    random.seed(seed)  # the release: random.seed(s); random.sample(templates, min(80, len(templates)))
    expected = random.sample(captions, 80)
    assert load_pool(str(path), size=80, seed=seed, draw="liu2024") == expected  # in sample order
    assert load_pool(str(path), size=80, seed=seed + 10, draw="liu2024") != expected
    assert load_pool(str(path), size=None, seed=seed, draw="liu2024") == captions


def test_drawn_lines_that_are_no_template_are_skipped(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text("a dog on a beach\na {} on a beach\na {name} on a beach\n")
    assert load_pool(str(path), draw="liu2024") == ["a {} on a beach"]
    path.write_text("a dog on a beach\n")
    with pytest.raises(TemplateError, match="no usable template"):
        load_pool(str(path), draw="liu2024")


def test_the_shipped_standin_pool():
    lines = load_pool("caption-standin")
    assert len(lines) == 100 and all(t.count("{}") == 1 for t in lines)
    assert load_pool("caption-standin", size=80, seed=1, draw="liu2024") != load_pool(
        "caption-standin", size=80, seed=2, draw="liu2024"
    )
    header = (Path(__file__).parents[1] / "prompts" / "data" / "caption_standin.txt").read_text()
    assert "CC0" in header.splitlines()[2]


@pytest.mark.parametrize("meta", ["compact", "chat", "liu2024"])
def test_a_proposal_that_beats_the_pool_is_shown_first(meta):
    """Every style's view of a restart keeps the ranking: a proposal is not listed after the pool."""
    from promptclimb.graph.state import Candidate
    from promptclimb.nodes.rank import in_restart, ranked

    config = RunConfig(data=".", meta=meta, restarts=1)
    pool = [
        Candidate(template=f"pool {i} {{}}", train_acc=0.1 * i, train_correct=i, train_n=10) for i in range(4)
    ]
    new = Candidate(template="new {}", train_acc=0.9, train_correct=9, train_n=10, source="llm", iteration=1)
    view = in_restart(ranked([*pool, new], config), 0, config)
    assert [c.template for c in view] == ["new {}", "pool 3 {}", "pool 2 {}", "pool 1 {}", "pool 0 {}"]


def test_the_paper_suite_runs_the_released_method_in_fp32(tmp_path):
    from promptclimb.results.suite import METHODS, cells, load_suite
    from promptclimb.results.suite_tables import method_value

    root = Path(__file__).parents[1]
    paper = load_suite(root / "suites" / "paper-1shot.toml")
    grid = cells(paper, tmp_path / "paper-1shot")
    assert {c.config.precision for c in grid} == {"fp32"}
    released = [c for c in grid if c.method == "liu2024"]
    assert released and {c.config.meta for c in released} == {"liu2024"}
    config = released[0].config  # the release's settings, not the [run] table's
    assert (config.restarts, config.iterations, config.asked(), config.top_k, config.bottom_k) == (
        1,
        10,
        1,
        3,
        3,
    )
    assert (config.pool, config.pool_size, config.temperature) == ("caption-standin", 80, 1.0)
    assert {"handmade", "clip-ensemble", "liu2024"} <= set(paper.methods)
    assert METHODS["liu2024"] == "Liu et al. (released code)" and "paper" not in METHODS["pos+neg"]
    # the "handmade" row is CoOp's single template, the CLIP ensemble a row of its own
    final = {"baselines": {"a photo of a {}.": 0.1, "hand-made ensemble": 0.2, "CoOp's template": 0.3}}
    assert method_value(final, "handmade", "selected") == 0.3
    assert method_value(final, "clip-ensemble", "selected") == 0.2


def test_released_replies_are_free_text_even_where_json_mode_is_available():
    from types import SimpleNamespace

    from promptclimb.llm.proposer import Proposer

    backend = SimpleNamespace(structured="json_schema", max_tokens_per_template=30, supports_seed=True)
    proposer = Proposer(backend)  # type: ignore[arg-type]
    assert "response_format" in proposer._request_options(1, 7)["extra_body"]  # type: ignore[operator]
    free = proposer._request_options(1, 7, free_text=True)
    assert "response_format" not in free.get("extra_body", {}) and free["seed"] == 7  # type: ignore[operator]
