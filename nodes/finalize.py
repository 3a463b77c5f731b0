"""Finalize: the only node that touches the test split, once, for what training data selected."""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.graph.context import Context
from promptclimb.graph.state import Final, OptimState
from promptclimb.prompts.pools import handmade_templates

PHOTO_BASELINE = "a photo of a {}."


def finalize(state: OptimState, runtime: Runtime[Context]) -> dict:
    context = runtime.context
    scorer = context.scorer
    leaderboard = state["candidates"]  # ranked best first by the rank node, on training data only
    best = leaderboard[0]
    ensemble = [c.template for c in leaderboard[: context.config.ensemble_size]]
    sizes = {f"n_{split}": scorer.score([best.template], split)[0].n_images for split in ("train", "val")
             if scorer.has_split(split)}  # fmt: skip
    if not scorer.has_split("test"):
        final = Final(
            template=best.template,
            train_acc=best.train_acc,
            test_acc=None,
            ensemble_templates=ensemble,
            ensemble_test_acc=None,
            test_split="none",
            **sizes,
        )
        return {"final": final}
    context.log.append("test split read by finalize")
    selected = scorer.score([best.template], "test")[0]
    ensemble_score = scorer.score_ensemble(ensemble, "test")
    photo = scorer.score([PHOTO_BASELINE], "test")[0]
    handmade = scorer.score_ensemble(handmade_templates(context.dataset_name), "test")
    final = Final(
        template=best.template,
        train_acc=best.train_acc,
        test_acc=selected.accuracy,
        ensemble_templates=ensemble,
        ensemble_test_acc=ensemble_score.accuracy,
        test_split="test",
        baselines={"a photo of a {}.": photo.accuracy, "hand-made ensemble": handmade.accuracy},
        n_test=selected.n_images,
        **sizes,
    )
    return {"final": final}
