"""Class feedback (``--space classes``): choose the classes the LLM writes for next, and tell it about them.

The first time (the pool just scored) it also fixes the shared template ensemble: edit and crossover
variants of the best templates are scored, then a greedy forward selection on the selection data picks
the ensemble; no LLM call. On text data (``--input-texts``, the default there) each class then starts from
its selection inputs as class texts, scored leave-one-out, and the LLM is shown none of them (they are
already class texts: it would copy them; where none is kept, the run asks and shows as one without them).
Then, per step, the weakest classes on the selection data that were asked for least often; with feedback
the message says how many of their inputs are right and what they are mistaken for, and, where inputs are
texts and examples are allowed, shows a few misread training inputs. Without feedback (resampling) the
classes come in a seeded order and nothing is said about them.
"""

from __future__ import annotations

import random
from collections import Counter

from langgraph.runtime import Runtime

from promptclimb.evaluators.classify.scorer import ClassReport
from promptclimb.graph.config import RunConfig
from promptclimb.graph.context import Context
from promptclimb.graph.state import ClassifierScore, ClassPrompt, Message, OptimState
from promptclimb.nodes.evaluate import scored, unscored
from promptclimb.nodes.feedback import restart_finished
from promptclimb.nodes.rank import ranked, selection_splits
from promptclimb.prompts.classes import Target, classes_message
from promptclimb.prompts.handmade import baseline_templates
from promptclimb.prompts.operators import local_variants

MISREAD_PER_CLASS = 2  # training inputs shown per asked class (texts, examples allowed)
MISTAKEN_FOR = 3  # classes named per asked class
LOCAL_PARENTS = 6  # best scored templates the edit and crossover operators start from
LOCAL_VARIANTS = 24  # templates they add, scored without an LLM call (the dry run plans them)


def kept_by_class(prompts: list[ClassPrompt]) -> dict[int, list[str]]:
    kept: dict[int, list[str]] = {}
    for prompt in prompts:
        if prompt.kept:
            kept.setdefault(prompt.cls, []).append(prompt.text)
    return kept


def choose_targets(state: OptimState, config: RunConfig, n_classes: int, batch: int) -> list[int]:
    """The ``batch`` classes asked for next: least asked first; then, with feedback, the lowest share right,
    the most errors and the fewest kept texts; without feedback a seeded order."""
    asked = Counter(state.get("asked", []))
    score = state.get("classifier") or ClassifierScore()
    order = list(range(n_classes))
    random.Random(f"promptclimb-classes:{config.seed}").shuffle(order)
    rank = {cls: i for i, cls in enumerate(order)}
    if config.feedback == "none" or not score.per_class:
        return sorted(range(n_classes), key=lambda c: (asked[c], rank[c]))[:batch]
    kept = Counter(p.cls for p in state.get("class_prompts", []) if p.kept)
    errors = Counter()
    for true, _, count in score.confusions:
        errors[true] += count

    def key(cls: int) -> tuple:
        right, total = score.per_class[cls]
        return (asked[cls], right / total if total else 1.0, -errors[cls], kept[cls], rank[cls])

    return sorted(range(n_classes), key=key)[:batch]


def input_texts_on(config: RunConfig, modality: str) -> bool:
    """Whether the classes start from their selection inputs as class texts (text data, unless turned off)."""
    return modality == "text" and config.input_texts is not False


def inputs_kept(state: OptimState) -> bool:
    """Whether some selection input is a class text now: the starting check can leave them all out, and the
    run then asks and shows what a run without input texts would."""
    return any(p.source == "input" and p.kept for p in state.get("class_prompts", []))


def input_seeds(context: Context, on: list[str]) -> list[ClassPrompt]:
    """Each class's selection inputs as kept class texts (--input-texts), in class order."""
    found = context.scorer.selection_inputs(on)
    return [
        ClassPrompt(cls=cls, text=text, kept=True, source="input")
        for cls in sorted(found)
        for text in found[cls]
    ]


def targets_of(state: OptimState, context: Context, chosen: list[int]) -> list[Target]:
    config, names = context.config, context.scorer.classnames
    score = state.get("classifier") or ClassifierScore()
    feedback = config.feedback != "none"
    show_inputs = config.examples > 0 and context.modality == "text" and not inputs_kept(state)
    targets = []
    for cls in chosen:
        target = Target(name=names[cls])
        if feedback and score.per_class:
            target.correct, target.total = score.per_class[cls]
            target.mistaken_for = [names[p] for t, p, _ in score.confusions if t == cls][:MISTAKEN_FOR]
        if show_inputs and feedback:
            misread = [(row, p) for row, p in score.misclassified if context.scorer.train_label(row) == cls]
            target.misread = [(context.scorer.input_text(row) or "", names[p]) for row, p in misread]
            target.misread = target.misread[:MISREAD_PER_CLASS]
        if show_inputs and not target.misread:
            target.examples = context.scorer.class_inputs(cls)[:MISREAD_PER_CLASS]
        targets.append(target)
    return targets


def starting_classifier(
    context: Context, shared: list[str], on: list[str]
) -> tuple[list[ClassPrompt], ClassReport]:
    """The classifier before any LLM call: the shared templates and, with --input-texts, each class's
    selection inputs, pruned once (those dropped are marked not kept), or none of them where the templates
    alone fit the selection data as well (what a user would type is the floor). Deterministic: finalize
    recomputes it to report what the run would score without the LLM's texts."""
    seeds = input_seeds(context, on) if input_texts_on(context.config, context.modality) else []
    report = context.scorer.climb_classes(shared, kept_by_class(seeds), {}, on)
    if seeds:  # the inputs join only where they beat the templates alone (leave-one-out, the tie rule)
        bare = context.scorer.climb_classes(shared, {}, {}, on)
        if not report.after.better_than(bare.after):
            return [s.model_copy(update={"kept": False}) for s in seeds], bare
    dropped = {(cls, text) for cls, texts in report.dropped.items() for text in texts}
    return [s.model_copy(update={"kept": False}) if (s.cls, s.text) in dropped else s for s in seeds], report


def classifier_score(report: ClassReport) -> ClassifierScore:
    return ClassifierScore(
        correct=report.after.correct,
        total=report.total,
        per_class=report.per_class,
        confusions=report.confusions,
        misclassified=report.misclassified,
    )


def class_feedback(state: OptimState, runtime: Runtime[Context]) -> dict:
    context = runtime.context
    config, scorer = context.config, context.scorer
    update: dict = {}
    if not state.get("shared"):  # the pool was just scored: the shared templates, chosen without the LLM
        parents = [c.template for c in state["candidates"][:LOCAL_PARENTS]]
        variants = unscored(local_variants(parents, config.seed, LOCAL_VARIANTS), state["candidates"])
        local = scored(scorer, variants, state["restart"], 0, "local")
        candidates = ranked([*state["candidates"], *local], config)
        on = selection_splits(config.selection(), scorer)
        # The anchor is what a user would type (the bare name or the hand-made template, the better on the
        # selection data); other templates join only with a significant gain (McNemar, z = 3).
        baselines = baseline_templates(context.dataset_name, context.modality)
        anchor = next((c.template for c in candidates if c.template in baselines), candidates[0].template)
        shared = scorer.select_templates([c.template for c in candidates], on, config.ensemble_size, anchor)
        seeds, report = starting_classifier(context, shared, on)
        update.update(shared=shared, classifier=classifier_score(report), candidates=candidates)
        if seeds:
            update["class_prompts"] = [*state.get("class_prompts", []), *seeds]
        state = {**state, **update}  # type: ignore[typeddict-item]
    if restart_finished(state, config):
        done = state["restarts_done"] + 1
        if done >= config.restarts:
            return {**update, "restarts_done": done}
        update.update(restarts_done=done, restart=state["restart"] + 1, iteration=0, stale=0)
        state = {**state, **update}  # type: ignore[typeddict-item]
    if config.iterations == 0:  # the pool alone is the run (routing sends it to finalize)
        return update
    batch = config.classes_per_call(inputs_kept(state))
    chosen = choose_targets(state, config, len(scorer.classnames), batch)
    message = classes_message(
        context.task, context.modality, targets_of(state, context, chosen), config.per_class,
        feedback=config.feedback != "none", words=config.class_words,
    )  # fmt: skip
    return {**update, "targets": chosen, "conversation": [Message(role="user", content=message)]}
