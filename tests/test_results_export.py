"""promptclimb export: the classifier head loads back and classifies exactly as the scorer's ensemble."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np

from promptclimb.evaluators.classify.clip import load_clip
from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.evaluators.classify.scorer import ClipScorer
from promptclimb.prompts.template import apply_template
from promptclimb.results.export import load_head
from promptclimb.results.summary import summarize
from tests.conftest import ROOT
from tests.graph_helpers import cli
from tests.results_fixtures import make_weighted_clip, results_run  # noqa: F401  (session fixture)


def scorer_for(run_dir: Path, clip: str) -> ClipScorer:
    config = summarize(run_dir)["config"]
    dataset = load_dataset(config["data"], shots=config["shots"], seed=config["seed"])
    return ClipScorer(load_clip(clip), dataset, config["cache_dir"])


def test_export_round_trip_reproduces_the_ensemble(results_run, capsys):  # noqa: F811
    run_dir = results_run.run_dir
    assert cli("--runs-dir", str(results_run.runs), "export", str(run_dir)) == 0
    final = summarize(run_dir)["final"]
    record = json.loads((run_dir / "export" / "templates.json").read_text())
    assert record["selected"]["template"] == final["template"]
    assert record["ensemble"]["templates"] == final["ensemble_templates"]
    assert record["ensemble"]["test_acc"] == final["ensemble_test_acc"]

    head, meta = load_head(run_dir / "export" / "classifier.safetensors")
    scorer = scorer_for(run_dir, str(results_run.clip))
    assert meta["classnames"] == scorer.classnames == record["classnames"]
    assert meta["templates"] == final["ensemble_templates"] and meta["clip"] == str(results_run.clip)
    assert head.dtype == np.float32 and head.shape == (len(scorer.classnames), 16)
    np.testing.assert_allclose(np.linalg.norm(head, axis=1), 1.0, atol=1e-5)

    for split in ("train", "val"):  # never the test split: that is the final evaluation's
        features, labels = scorer.split_features(split)  # the cached image features the scorer classifies
        predicted = (features @ head.T).argmax(axis=1)
        expected = scorer.score_ensemble(final["ensemble_templates"], split)
        assert int((predicted == labels).sum()) == expected.n_correct

    # The math, recomputed independently from the text encoder (no cache: float32 instead of float16).
    backbone = load_clip(str(results_run.clip))
    per_template = []
    for template in final["ensemble_templates"]:
        features, _ = backbone.encode_texts([apply_template(template, c) for c in scorer.classnames])
        per_template.append(features / np.linalg.norm(features, axis=1, keepdims=True))
    mean = np.mean(per_template, axis=0)
    np.testing.assert_allclose(head, mean / np.linalg.norm(mean, axis=1, keepdims=True), atol=5e-3)


def test_docs_snippet_classifies_with_a_head_for_another_clip(results_run, tmp_path, capsys):  # noqa: F811
    clip = make_weighted_clip(tmp_path / "weighted-clip")
    out_dir = tmp_path / "export"
    args = ["--runs-dir", str(results_run.runs), "export", str(results_run.run_dir), "--clip", str(clip)]
    assert cli(*args, "--out", str(out_dir)) == 0
    head_path = out_dir / "classifier-weighted-clip.safetensors"
    head, meta = load_head(head_path)
    assert meta["clip"] == str(clip) and meta["random_weights"] == "false"

    snippet = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "export.md").read_text(), re.S).group(1)
    image = sorted((ROOT / "examples" / "clothing-mini" / "train" / "hat").iterdir())[0]
    snippet = re.sub(r'HEAD = ".*"', f"HEAD = {str(head_path)!r}", snippet)
    snippet = re.sub(r'IMAGE = ".*"', f"IMAGE = {str(image)!r}", snippet)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "docs/export.md", "exec"), {})
    predicted = printed.getvalue().rsplit(" ", 1)[0]

    features, _ = load_clip(str(clip), precision="fp32").encode_images([str(image)])
    assert predicted == meta["classnames"][int((features @ head.T).argmax())]
