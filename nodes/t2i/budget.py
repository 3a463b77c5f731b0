"""Budgets of a text-to-image run: images, LLM calls and the cost of both, checked before spending."""

from __future__ import annotations

from promptclimb.graph.t2i.state import T2IConfig, T2IState
from promptclimb.nodes.propose import BudgetReached


def total_cost(state: T2IState) -> float:
    return state["usage"].cost_usd + state["image_usage"].cost_usd


def check_llm_budget(state: T2IState, config: T2IConfig) -> None:
    usage = state["usage"]
    if config.max_llm_calls is not None and usage.calls >= config.max_llm_calls:
        raise BudgetReached(
            f"LLM call budget reached ({usage.calls} of --max-llm-calls {config.max_llm_calls})"
        )
    check_cost(state, config)


def check_image_budget(state: T2IState, config: T2IConfig) -> None:
    images = state["image_usage"].images
    if config.max_images is not None and images >= config.max_images:
        raise BudgetReached(f"image budget reached ({images} of --max-images {config.max_images})")
    check_cost(state, config)


def check_cost(state: T2IState, config: T2IConfig) -> None:
    cost = total_cost(state)
    if config.max_cost is not None and cost >= config.max_cost:
        raise BudgetReached(f"cost budget reached (${cost:.4f} of --max-cost {config.max_cost})")
