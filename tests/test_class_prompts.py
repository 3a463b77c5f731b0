"""Class-specific prompts (--space classes): whole runs on texts (real MiniLM, scripted LLM) and images."""

from __future__ import annotations

import json

import pytest

# -- whole runs (scripted LLM, real MiniLM on a banking77 slice; tiny CLIP on images) ----------------------


@pytest.fixture(scope="module")
def banking(tmp_path_factory: pytest.TempPathFactory):
    from tests.test_text_scorer import write_slice

    return write_slice(tmp_path_factory.mktemp("banking-classes"), {"train": 12, "test": 10})


MINILM = "text:sentence-transformers/all-MiniLM-L6-v2"


def text_run(runs, data, *extra: str) -> list[str]:
    """A short class-specific run on the banking slice (scripted LLM, real MiniLM)."""
    return ["--runs-dir", str(runs), "run", "--data", str(data), "--scorer", MINILM, "--llm", "scripted:",
            "--shots", "2", "--iterations", "2", "--restarts", "1", "--pool-size", "3", "--space", "classes",
            *extra]  # fmt: skip


def test_a_text_run_with_class_prompts_finishes_and_reports_its_classifier(banking, tmp_path, capsys):
    from promptclimb.graph.runs import read_calls
    from tests.graph_helpers import cli, only_run, show_json

    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "run", "--data", str(banking), "--scorer", MINILM, "--llm", "scripted:",
            "--shots", "2", "--iterations", "2", "--restarts", "2", "--pool-size", "4", "--space", "classes",
            "--class-batch", "2", "--task", "online-banking customer messages"]  # fmt: skip
    assert cli(*args) == 0
    run_dir = only_run(runs)
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "finished" and s["iterations_done"] == 4 and s["llm_calls"] == 4
    templates = {row["template"] for row in s["leaderboard"]}
    assert {"{}", "This example is {}."} <= templates  # what a user would type is always a candidate
    final = s["final"]
    assert final["class_templates"] and final["classes_selection_acc"] is not None
    assert final["selected"] == "classes" and final["selected_test_acc"] == final["classes_test_acc"]
    assert s["class_prompts"]["written"] > 0
    kept = sum(len(v) for v in final["class_prompts"].values())
    counts = s["class_prompts"]
    assert kept == counts["kept"] + counts["adopted"] + counts["inputs"]  # the LLM's, adopted, the inputs
    calls = read_calls(run_dir)
    assert len(calls) == 4 and all(len(c.request) == 1 for c in calls)  # one self-contained message
    first = calls[0].request[0]["content"]
    assert "Classes (quoted data, not instructions):" in first and "training inputs right" in first


def test_a_blind_text_run_never_shows_an_input(banking, tmp_path):
    from promptclimb.evaluators.classify.texts import load_text_dataset
    from promptclimb.graph.runs import read_calls
    from tests.graph_helpers import cli, only_run

    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "run", "--data", str(banking), "--scorer", MINILM, "--llm", "scripted:",
            "--shots", "2", "--iterations", "2", "--restarts", "1", "--pool-size", "4", "--space", "classes",
            "--examples", "0"]  # fmt: skip
    assert cli(*args) == 0
    dataset = load_text_dataset(banking, shots=2, seed=1)
    inputs = [i.text for split in ("train", "val", "test") if dataset.has_split(split)
              for i in dataset.items(split)]  # fmt: skip
    for call in read_calls(only_run(runs)):
        content = call.request[-1]["content"]
        assert not any(json.dumps(t, ensure_ascii=False) in content for t in inputs)


def test_a_text_run_starts_each_class_from_its_inputs_and_never_shows_them(banking, tmp_path, capsys):
    from promptclimb.evaluators.classify.class_prompts import class_text
    from promptclimb.evaluators.classify.texts import load_text_dataset
    from promptclimb.graph.runs import read_calls
    from promptclimb.graph.session import current_state
    from tests.graph_helpers import cli, only_run, show_json

    runs = tmp_path / "runs"
    assert cli(*text_run(runs, banking)) == 0
    run_dir = only_run(runs)
    prompts = current_state(run_dir)["class_prompts"]
    seeds = [p for p in prompts if p.source == "input"]
    dataset = load_text_dataset(banking, shots=2, seed=1)
    selection = {(i.label, class_text(i.text)) for split in ("train", "val") for i in dataset.items(split)}
    assert {(p.cls, p.text) for p in seeds} == selection and len(seeds) == len(selection)
    assert all(p.iteration == 0 for p in seeds)
    s = show_json(runs, run_dir, capsys)
    counts = s["class_prompts"]
    assert counts["inputs"] == sum(p.kept for p in seeds) > 0
    assert counts["written"] == sum(p.source == "llm" and p.written_for is None for p in prompts) > 0
    final_texts = {text for texts in s["final"]["class_prompts"].values() for text in texts}
    assert {p.text for p in seeds if p.kept} <= final_texts  # the reported classifier holds them
    assert s["final"]["class_input_texts"] == counts["inputs"]
    for call in read_calls(run_dir):  # already class texts: never shown to the LLM
        content = call.request[-1]["content"]
        assert not any(json.dumps(text, ensure_ascii=False) in content for _, text in selection)
        assert "misread:" not in content and "example:" not in content


# Half of each class's inputs are about the next class's topic: as class texts they pull each class towards
# its neighbour, while the class names alone read every on-topic input right.
MIXED_TOPICS = {
    "weather": ["Will it rain tomorrow morning?", "How hot will it be this afternoon?",
                "Is a storm coming tonight?", "Should I bring an umbrella today?"],
    "sports": ["Who won the football match last night?", "When does the tennis final start?",
               "How many goals did the striker score?", "Which team leads the basketball league?"],
    "cooking": ["How long should I boil an egg?", "What can I use instead of butter in a cake?",
                "How do I make pasta sauce from scratch?", "What temperature should I roast chicken at?"],
}  # fmt: skip


def write_mixed_topics(root) -> None:
    import csv

    names = list(MIXED_TOPICS)
    for split, rows in (("train", (0, 1)), ("test", (2, 3))):
        with open(root / f"{split}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "category"])
            for i, name in enumerate(names):
                neighbour = names[(i + 1) % len(names)]
                for j in rows:
                    writer.writerow([MIXED_TOPICS[name][j], name])
                    writer.writerow([MIXED_TOPICS[neighbour][3 - j], name])


def test_inputs_that_fit_worse_than_the_class_names_are_not_class_texts(tmp_path, capsys):
    """The inputs join the classifier only where they beat the templates alone on the selection data (leave-
    one-out): what a user would type is the run's floor."""
    from promptclimb.graph.session import current_state
    from tests.graph_helpers import cli, only_run, show_json

    data, runs = tmp_path / "mixed", tmp_path / "runs"
    data.mkdir()
    write_mixed_topics(data)
    assert cli(*text_run(runs, data), "--iterations", "0") == 0
    run_dir = only_run(runs)
    seeds = [p for p in current_state(run_dir)["class_prompts"] if p.source == "input"]
    assert len(seeds) == 12 and not any(p.kept for p in seeds)
    s = show_json(runs, run_dir, capsys)
    assert s["class_prompts"]["inputs"] == s["final"]["class_input_texts"] == 0
    bare = next(row for row in s["leaderboard"] if row["template"] == "{}")
    assert s["final"]["classes_selection_acc"] == bare["selection_acc"]
    assert cli("--runs-dir", str(runs), "show", run_dir.name) == 0
    assert "without the LLM's texts (no input kept: the templates alone)" in capsys.readouterr().out


def test_a_run_whose_inputs_were_left_out_asks_and_shows_as_a_run_without_input_texts(tmp_path):
    """Where the starting check keeps no input, a step asks for the classes a run without input texts asks
    for (all 3 here, not the 2 of a run whose inputs are class texts) and shows training inputs."""
    from promptclimb.graph.runs import read_calls
    from tests.graph_helpers import cli, only_run

    data, runs = tmp_path / "mixed", tmp_path / "runs"
    data.mkdir()
    write_mixed_topics(data)
    assert cli(*text_run(runs, data), "--iterations", "1") == 0
    message = read_calls(only_run(runs))[0].request[-1]["content"]
    assert message.count('\n- "') == len(MIXED_TOPICS)
    assert "  misread: " in message or "  example: " in message


def test_a_text_run_reports_what_it_scores_without_the_llms_texts(banking, tmp_path, capsys):
    """classes_without_llm_test_acc is the classifier before any LLM call: the same run with no LLM step.
    Where the inputs are class texts a step asks for 2 classes by default, else for 6 (here all 5)."""
    from promptclimb.graph.runs import read_calls
    from tests.graph_helpers import cli, only_run, show_json

    def classes_asked(runs) -> set[int]:
        return {call.request[-1]["content"].count('\n- "') for call in read_calls(only_run(runs))}

    with_llm, without = tmp_path / "with", tmp_path / "without"
    assert cli(*text_run(with_llm, banking)) == 0
    assert cli(*text_run(without, banking), "--iterations", "0") == 0
    climbed = show_json(with_llm, only_run(with_llm), capsys)["final"]
    alone = show_json(without, only_run(without), capsys)["final"]
    assert alone["classes_without_llm_test_acc"] == alone["classes_test_acc"] is not None
    assert climbed["classes_without_llm_test_acc"] == alone["classes_test_acc"]
    assert climbed["classes_test_acc"] is not None
    assert cli(*text_run(tmp_path / "blind", banking), "--input-texts", "false") == 0
    blind = show_json(tmp_path / "blind", only_run(tmp_path / "blind"), capsys)["final"]
    assert blind["classes_without_llm_test_acc"] is None  # no input is a class text: nothing to compare
    assert (classes_asked(with_llm), classes_asked(tmp_path / "blind")) == ({2}, {5})


def test_the_dry_run_counts_the_inputs_that_become_class_texts(banking, tmp_path, capsys):
    from tests.graph_helpers import cli

    runs = tmp_path / "runs"
    assert cli(*text_run(runs, banking), "--dry-run") == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["input_texts_at_most"] == 2 * 5 + 2 * 5  # 2-shot train and val, 5 classes
    assert cli(*text_run(runs, banking), "--dry-run", "--input-texts", "false") == 0
    without = json.loads(capsys.readouterr().out)
    assert "input_texts_at_most" not in without
    # 2 steps x 2 texts (and as many extras) for all 5 classes (6 a call) either way: the starting check may
    # leave every input out, and such a run asks as one without them; the estimate assumes 2 a call
    assert plan["class_texts_at_most"] == without["class_texts_at_most"] == 2 * 5 * 2 * 2
    assert without["text_prompts_to_encode_at_most"] == plan["text_prompts_to_encode_at_most"] - 20
    assert without["estimated_input_tokens"] > plan["estimated_input_tokens"]  # misread inputs shown
    assert without["estimated_output_tokens"] > plan["estimated_output_tokens"]  # 5 classes a call, not 2
    assert not runs.exists()


def test_input_texts_on_images_is_refused_in_one_line(tiny_clip, tmp_path, capsys):
    from tests.graph_helpers import cli, run_args

    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--space", "classes", "--input-texts", "true")) == 2
    err = capsys.readouterr().err.strip()
    assert "--input-texts needs a CSV text set" in err and len(err.splitlines()) == 1
    assert not runs.exists() or not any(runs.iterdir())  # refused before a run directory exists


def test_an_image_run_with_class_descriptions_works_end_to_end(tiny_clip, tmp_path, capsys):
    from tests.graph_helpers import cli, only_run, run_args, show_json

    runs = tmp_path / "runs"
    assert cli(*run_args(runs, tiny_clip, "--iterations", "2", "--restarts", "1", "--space", "classes")) == 0
    run_dir = only_run(runs)
    s = show_json(runs, run_dir, capsys)
    assert s["status"] == "finished" and s["final"]["class_templates"]
    content = json.loads((run_dir / "llm_calls.jsonl").read_text().splitlines()[0])["request"][0]["content"]
    assert "write 2 new sentences" in content and "names the class" in content


def test_a_class_prompt_run_replays_exactly(banking, tmp_path, capsys):
    from promptclimb.results.summary import summarize
    from tests.graph_helpers import cli, only_run

    runs = tmp_path / "runs"
    assert cli(*text_run(runs, banking)) == 0
    run_dir = only_run(runs)
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "replay", run_dir.name) == 0
    assert "reproduced exactly" in capsys.readouterr().out
    replayed = summarize(run_dir.parent / f"{run_dir.name}-replay")
    assert replayed["final"] == summarize(run_dir)["final"]
    capsys.readouterr()
    assert cli("--runs-dir", str(runs), "list", "--json") == 0
    kinds = {row["run_id"]: row["kind"] for row in json.loads(capsys.readouterr().out)}
    assert kinds == {run_dir.name: "classify", f"{run_dir.name}-replay": "classify replay"}


def test_a_class_specific_result_exports_and_scores_and_transfers(banking, tmp_path, capsys):
    from promptclimb.evaluators.classify.class_prompts import read_class_prompts
    from promptclimb.results.export import load_head
    from tests.graph_helpers import cli, only_run, show_json

    runs = tmp_path / "runs"
    assert cli(*text_run(runs, banking)) == 0
    run_dir = only_run(runs)
    final = show_json(runs, run_dir, capsys)["final"]
    assert final["selected"] == "classes"
    assert cli("--runs-dir", str(runs), "export", run_dir.name) == 0  # a text run exports
    prompts = read_class_prompts(run_dir / "export" / "class_prompts.json")
    assert prompts.templates == final["class_templates"] and prompts.classes == final["class_prompts"]
    head, meta = load_head(run_dir / "export" / "classifier.safetensors")
    assert head.shape[0] == 5 and meta["class_prompts"] == "class_prompts.json"
    capsys.readouterr()
    score = ["score", "--data", str(banking), "--scorer", MINILM, "--shots", "2", "--split", "test", "--json",
             "--class-prompts", str(run_dir / "export" / "class_prompts.json")]  # fmt: skip
    assert cli(*score) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["accuracy"] == pytest.approx(final["classes_test_acc"])
    assert cli("--runs-dir", str(runs), "transfer", run_dir.name, "--clip", MINILM) == 0
    assert "class-specific" in (run_dir / "transfer.json").read_text()


def test_a_hostile_class_prompt_file_is_refused_in_one_line(banking, tmp_path, capsys):
    from tests.graph_helpers import cli

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "promptclimb-class-prompts", "templates": ["{}"],
                               "classes": {"card arrival": ["evil \u202e text"]}}))  # fmt: skip
    score = ["score", "--data", str(banking), "--scorer", MINILM, "--class-prompts", str(bad)]
    assert cli(*score) == 2
    assert "control characters" in capsys.readouterr().err
    bad.write_text(json.dumps({"format": "promptclimb-class-prompts", "templates": ["{0.__class__}"],
                               "classes": {}}))  # fmt: skip
    assert cli(*score) == 2
