"""Replay a class-space run's texts under another keep rule, with no LLM call: which texts would a different
selection (or weighting) have kept, and what would they score on the test split?

The texts are the ones the run's LLM wrote, offered step by step in the run's order, so the LLM's replies
are held fixed: a rule that keeps other texts would also have changed later messages, which a replay cannot
show. The rule "today" is the product's own climb; it must reproduce the run's final classifier exactly
(the "same" column), which checks the replay itself. Rules (comma-separated, --rules):

  today        offer each step's texts (all, or one alone), keep them on the tie rule, prune (the product)
  w=<x>        the same with the LLM's texts weighted x against a template (the class vector is the sum of
               unit features: x < 1 trusts the texts less); inputs used as class texts keep weight 1
  named        the same with each text encoded after its class name ("card arrival: <text>")
  all          every text kept, no selection (CuPL-style averaging)
  strict       offered texts kept only when more inputs are right (no tie on the mean margin)
  gain=<n>     kept only when at least n more inputs are right
  margin       kept when the mean margin grows, whatever the number right

    python bench/replay_classes.py RUN_DIR [RUN_DIR ...] --data DIR [--rules today,w=0.5,named,all]

--data names the data the runs were made on (checked against each run's data.json): a run directory never
chooses which files are read. The scorer is the bench's sentence encoder unless --scorer says otherwise.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from promptclimb.errors import UserError
from promptclimb.evaluators.classify.prototypes import ClassSearch, Fit, unit, with_members
from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir
from promptclimb.graph.runs import check_same_data, load_config
from promptclimb.graph.session import current_state
from promptclimb.graph.state import ClassPrompt
from promptclimb.nodes.rank import selection_splits
from promptclimb.session.classify import load_data, open_scorer_model

SCORER = "text:sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class Rule:
    name: str
    weight: float = 1.0  # of the LLM's texts against a template
    named: bool = False  # encode "<class name>: <text>"
    keep_all: bool = False
    accept: Callable[[Fit, Fit], bool] = Fit.better_than  # (trial, current): is an offer kept


def parse_rule(name: str) -> Rule:
    """A rule by name; "+" joins rules ("w=0.5+named")."""
    if "+" in name:
        parts = [parse_rule(part) for part in name.split("+")]
        rule = Rule(name)
        for part in parts:
            rule.weight = part.weight if part.weight != 1.0 else rule.weight
            rule.named, rule.keep_all = rule.named or part.named, rule.keep_all or part.keep_all
            rule.accept = part.accept if part.accept is not Fit.better_than else rule.accept
        return rule
    if name == "today":
        return Rule(name)
    if name.startswith("w="):
        return Rule(name, weight=float(name[2:]))
    if name == "named":
        return Rule(name, named=True)
    if name == "all":
        return Rule(name, keep_all=True)
    if name == "strict":
        return Rule(name, accept=lambda trial, now: trial.correct > now.correct)
    if name.startswith("gain="):
        least = int(name[5:])
        return Rule(name, accept=lambda trial, now: trial.correct >= now.correct + least)
    if name == "margin":
        return Rule(name, accept=lambda trial, now: trial.margin > now.margin)
    raise SystemExit(f"error: unknown rule {name!r} (today, w=<x>, named, all, strict, gain=<n>, margin)")


class Replay:
    """One run's scorer, selection data and texts, replayed under a rule."""

    def __init__(self, scorer: ClipScorer, shared: list[str], prompts: list[ClassPrompt], on: list[str]):
        self.scorer, self.shared = scorer, shared
        self.selection = scorer.selection(on)  # built once: every step and rule scores on the same data
        self.inputs = [p for p in prompts if p.source == "input" and p.kept]
        self.steps: dict[tuple[int, int], list[ClassPrompt]] = {}
        for p in prompts:
            if p.source == "llm":
                self.steps.setdefault((p.restart, p.iteration), []).append(p)
        self.final = {(p.cls, p.text) for p in prompts if p.kept}

    def features(self, rule: Rule, prompts: list[ClassPrompt]) -> np.ndarray:
        names = self.scorer.classnames
        texts = [f"{names[p.cls]}: {p.text}" if rule.named and p.source == "llm" else p.text for p in prompts]
        weights = np.array([rule.weight if p.source == "llm" else 1.0 for p in prompts], np.float32)
        return self.scorer.text_features(texts) * weights[:, None]

    def search(self, rule: Rule, kept: list[ClassPrompt]) -> ClassSearch:
        sums = self.scorer.class_sums(self.shared, {})
        members: dict[int, dict[str, np.ndarray]] = {}
        for cls in sorted({p.cls for p in kept}):
            mine = [p for p in kept if p.cls == cls]
            features = self.features(rule, mine)
            sums[cls] += features.sum(axis=0)
            members[cls] = with_members({}, self.scorer.text_keys([p.text for p in mine]), features, 1.0)
        return ClassSearch(self.selection, sums, members)

    def run(self, rule: Rule) -> tuple[list[ClassPrompt], ClassSearch]:
        """The kept texts after every step, as class_evaluate keeps them (offer, then prune each class)."""
        kept = list(self.inputs)
        for step in sorted(self.steps):
            fresh = self.steps[step]
            if rule.keep_all:
                kept += fresh
                continue
            search = self.search(rule, kept)
            accepted: list[ClassPrompt] = []
            for cls in sorted({p.cls for p in fresh}):
                offered = [p for p in fresh if p.cls == cls]
                keys = self.scorer.text_keys([p.text for p in offered])
                taken = search.offer(cls, self.features(rule, offered), keys, rule.accept)
                accepted += [offered[i] for i in taken]
            kept_before = {p.cls for p in kept}
            kept = kept + accepted
            for cls in sorted(kept_before):
                current = [p for p in kept if p.cls == cls]
                if len(current) > 1:
                    gone = search.prune(
                        cls, self.features(rule, current), self.scorer.text_keys([p.text for p in current])
                    )
                    dropped = {id(current[i]) for i in gone}
                    kept = [p for p in kept if id(p) not in dropped]
        return kept, self.search(rule, kept)

    def test_accuracy(self, search: ClassSearch) -> float:
        features, labels = self.scorer.split_features("test")
        predicted = (features @ unit(search.sums).T).argmax(axis=1)
        return float((predicted == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="finished --space classes run directories")
    parser.add_argument("--data", required=True, help="the CSV text set the runs were made on")
    parser.add_argument("--scorer", default=SCORER)
    parser.add_argument("--rules", default="today,w=0.5,named,all")
    parser.add_argument("--cache-dir", default=None, help="the feature cache (default: the product's)")
    args = parser.parse_args()
    rules = [parse_rule(r) for r in args.rules.split(",")]
    print(f'| run | "{{}}" | {" | ".join(r.name for r in rules)} | same |')
    print(f"| --- | --- | {' | '.join('---' for _ in rules)} | --- |")
    totals = np.zeros(len(rules) + 1)
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()  # never the run's own choice
    for run_dir in map(Path, args.runs):
        config = load_config(run_dir).model_copy(update={"data": args.data, "scorer": args.scorer})
        dataset = load_data(config)
        check_same_data(run_dir, dataset)
        state = current_state(run_dir)
        if state is None or not state.get("shared"):
            raise SystemExit(f"error: {run_dir} has no class-space state")
        scorer = ClipScorer(open_scorer_model(config, dataset), dataset, cache)
        replay = Replay(scorer, list(state["shared"]), list(state.get("class_prompts", [])),
                        selection_splits(config.selection(), scorer))  # fmt: skip
        bare = scorer.score_classes(["{}"], {}, "test").accuracy
        totals[0] += bare
        cells, same = [f"{100 * bare:.1f}"], "-"
        for k, rule in enumerate(rules, start=1):
            kept, search = replay.run(rule)
            accuracy = replay.test_accuracy(search)
            totals[k] += accuracy
            cells.append(f"{100 * accuracy:.1f} ({sum(p.source == 'llm' for p in kept)})")
            if rule.name == "today":
                same = "yes" if {(p.cls, p.text) for p in kept} == replay.final else "NO"
        print(f"| {run_dir.name} | {' | '.join(cells)} | {same} |")
    means = " | ".join(f"{100 * t / len(args.runs):.1f}" for t in totals)
    print(f"| mean | {means} | |")
    print("cells: test accuracy (the LLM's texts kept)")


if __name__ == "__main__":
    try:
        main()
    except UserError as exc:  # bad input (data, model, server): one line; finished cells stay on disk
        raise SystemExit(f"error: {exc}") from None
