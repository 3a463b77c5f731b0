"""Finalize: the only node that touches the test split, once, for what training data selected."""

from __future__ import annotations

from langgraph.runtime import Runtime

from promptclimb.evaluators.base import Scorer
from promptclimb.evaluators.classify.confusion import diagnose
from promptclimb.graph.context import Context
from promptclimb.graph.state import Candidate, Final, OptimState
from promptclimb.nodes.class_feedback import kept_by_class, starting_classifier
from promptclimb.nodes.rank import selection_splits
from promptclimb.prompts.handmade import baseline_templates
from promptclimb.prompts.pools import coop_template, handmade_templates

PHOTO_BASELINE = "a photo of a {}."
COOP_BASELINE = "CoOp's template"  # CoOp's single hand-made template of the dataset (the paper's "handmade")


def finalize(state: OptimState, runtime: Runtime[Context]) -> dict:
    context = runtime.context
    scorer = context.scorer
    leaderboard = state["candidates"]  # ranked best first by the rank node, on selection data only
    best = leaderboard[0]
    if context.config.meta == "liu2024":  # the release reports its best LLM-written template by train acc
        best = next((c for c in leaderboard if c.source == "llm"), best)
    ensemble = [c.template for c in leaderboard[: context.config.ensemble_size]]
    choice = choose_classifier(scorer, best, ensemble, context.config.selection())
    llm_scored = sum(1 for c in leaderboard if c.source == "llm")
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
            selected=choice,
            llm_templates_scored=llm_scored,
            **sizes,
        )
        return {"final": with_diagnosis(with_classes(final, state, context, None), state, context, None)}
    context.log.append("test split read by finalize")
    selected = scorer.score([best.template], "test")[0]
    ensemble_score = scorer.score_ensemble(ensemble, "test")
    photo = scorer.score([PHOTO_BASELINE], "test")[0]
    handmade = scorer.score_ensemble(handmade_templates(context.dataset_name), "test")
    coop_name = coop_template(context.dataset_name)
    coop = scorer.score([coop_name], "test")[0]
    baselines = {
        PHOTO_BASELINE: photo.accuracy,
        "hand-made ensemble": handmade.accuracy,
        COOP_BASELINE: coop.accuracy,
    }
    typed = [t for t in baseline_templates(context.dataset_name, context.modality)  # what a user types first
             if t not in (PHOTO_BASELINE, coop_name)]  # fmt: skip
    for template, score in zip(typed, scorer.score(typed, "test") if typed else [], strict=True):
        baselines[template] = score.accuracy
    final = Final(
        template=best.template,
        train_acc=best.train_acc,
        test_acc=selected.accuracy,
        ensemble_templates=ensemble,
        ensemble_test_acc=ensemble_score.accuracy,
        test_split="test",
        baselines=baselines,
        n_test=selected.n_images,
        selected=choice,
        selected_test_acc=ensemble_score.accuracy if choice == "ensemble" else selected.accuracy,
        llm_templates_scored=llm_scored,
        **sizes,
    )
    return {"final": with_diagnosis(with_classes(final, state, context, "test"), state, context, "test")}


def with_classes(final: Final, state: OptimState, context: Context, test: str | None) -> Final:
    """--space classes: the class-specific classifier, reported when it classifies at least as many of the
    selection inputs right as the selected template or ensemble (it starts from the template ensemble)."""
    shared = state.get("shared") or []
    if context.config.space != "classes" or not shared:
        return final
    scorer, names = context.scorer, context.scorer.classnames
    prompts = state.get("class_prompts", [])
    kept = kept_by_class(prompts)
    splits = selection_splits(context.config.selection(), scorer)
    class_scores = [scorer.score_classes(shared, kept, s) for s in splits]  # type: ignore[attr-defined]
    classes_correct = sum(score.n_correct for score in class_scores)
    total = sum(score.n_images for score in class_scores)
    update: dict = {
        "class_templates": shared,
        "class_prompts": {names[c]: texts for c, texts in sorted(kept.items())},
        "class_input_texts": sum(1 for p in prompts if p.kept and p.source == "input"),
        "classes_selection_acc": classes_correct / total if total else None,
    }
    chosen = [final.template] if final.selected == "template" else final.ensemble_templates
    chosen_correct = correct_on(scorer, chosen, splits)
    if test is not None:
        update["classes_test_acc"] = scorer.score_classes(shared, kept, test).accuracy  # type: ignore[attr-defined]
        if any(p.source == "input" for p in prompts):  # what the run would report without the LLM's texts
            seeds, _ = starting_classifier(context, shared, splits)
            alone = scorer.score_classes(shared, kept_by_class(seeds), test)  # type: ignore[attr-defined]
            update["classes_without_llm_test_acc"] = alone.accuracy
    if classes_correct >= chosen_correct:
        update["selected"] = "classes"
        update["selected_test_acc"] = update.get("classes_test_acc")
    return final.model_copy(update=update)


def with_diagnosis(final: Final, state: OptimState, context: Context, test: str | None) -> Final:
    """Where the reported classifier goes wrong on the training split (with a few misread training inputs)
    and, once the test split is read, on it: from its predictions only. A plugin scorer that cannot give
    predictions leaves it out."""
    scorer = context.scorer
    predict = getattr(scorer, "predictions", None)
    if not callable(predict):
        return final
    prompts = None
    if final.selected == "classes":
        templates, prompts = final.class_templates, kept_by_class(state.get("class_prompts", []))
    elif final.selected == "ensemble":
        templates = final.ensemble_templates
    else:
        templates = [final.template]
    diagnosis = {}
    for split in ["train", *([test] if test else [])]:
        seen = predict(templates, split, prompts, named=split == "train")  # inputs shown: training ones only
        diagnosis[split] = diagnose(seen.labels, seen.predicted, scorer.classnames, seen.inputs)
    return final.model_copy(update={"diagnosis": diagnosis})


def choose_classifier(scorer: Scorer, best: Candidate, ensemble: list[str], on: str) -> str:
    """ "ensemble" when the top-k ensemble classifies more of the selection data (train, or train+val)
    correctly than the selected template, else "template". Never looks at the test split."""
    if len(ensemble) < 2:
        return "template"
    splits = selection_splits(on, scorer)
    better = correct_on(scorer, ensemble, splits) > correct_on(scorer, [best.template], splits)
    return "ensemble" if better else "template"


def correct_on(scorer: Scorer, templates: list[str], splits: list[str]) -> int:
    """Selection inputs one template, or the ensemble of several, classifies right."""
    if len(templates) == 1:
        return sum(scorer.score(templates, s)[0].n_correct for s in splits)  # type: ignore[arg-type]
    return sum(scorer.score_ensemble(templates, s).n_correct for s in splits)  # type: ignore[arg-type]
