"""Ranking and selection on plain candidates: what the leaderboard orders by, what each restart sees, and
what the compact meta-prompt is given (no model, no run)."""

from __future__ import annotations

from promptclimb.graph.config import RunConfig
from promptclimb.graph.state import Candidate, Message
from promptclimb.nodes.feedback import counted, recent
from promptclimb.nodes.rank import correct_and_total, in_restart, ranked, restart_pool, selection_acc


def cand(template: str, train: tuple[int, int], val: tuple[int, int] = (0, 0), **extra) -> Candidate:
    return Candidate(
        template=template, train_acc=train[0] / train[1], train_correct=train[0], train_n=train[1],
        val_correct=val[0], val_n=val[1], val_acc=val[0] / val[1] if val[1] else None, **extra,
    )  # fmt: skip


def test_selection_pools_train_and_val_counts_only_when_asked():
    c = cand("a {}", (3, 10), (9, 10))
    assert correct_and_total(c, "train") == (3, 10) and selection_acc(c, "train") == 0.3
    assert correct_and_total(c, "train+val") == (12, 20) and selection_acc(c, "train+val") == 0.6
    old = Candidate(template="old {}", train_acc=0.5)  # an older run stored no counts
    assert selection_acc(old, "train+val") == 0.5 and counted(old, "train+val").total == 0


def test_ranked_is_best_first_and_ties_keep_discovery_order():
    first, second, best = cand("first {}", (5, 10)), cand("second {}", (5, 10)), cand("best {}", (6, 10))
    config = RunConfig(data="x", meta="chat")  # selects on train
    assert [c.template for c in ranked([first, second, best], config)] == ["best {}", "first {}", "second {}"]
    tie_by_val = cand("val {}", (5, 10), (9, 10))
    assert ranked([first, tie_by_val], config)[0] is tie_by_val  # train ties go to validation accuracy


def test_restarts_resample_the_pool_reproducibly_and_see_only_their_own_proposals():
    config = RunConfig(data="x", seed=1)
    pool = [cand(f"p{i} {{}}", (i, 10)) for i in range(9)]
    mine = cand("mine {}", (9, 10), source="llm", restart=1, iteration=1)
    other = cand("other {}", (9, 10), source="llm", restart=0, iteration=1)
    assert restart_pool(pool, 0, config) == pool
    later = restart_pool([*pool, mine], 1, config)
    assert len(later) == 6 and later == restart_pool(pool, 1, config)  # 2/3 of the pool, the same each time
    assert restart_pool(pool, 2, config) != later
    seen = in_restart([*pool, mine, other], 1, config)
    assert mine in seen and other not in seen


def test_compact_counts_follow_the_selection_data_and_chat_history_is_bounded():
    c = cand("a {}", (3, 10), (9, 10))
    assert counted(c, "train+val").total == 20 and counted(c, "train+val").acc() == 0.6
    turns = [Message(role="user" if i % 2 == 0 else "assistant", content=str(i)) for i in range(11)]
    kept = recent(turns, 2)
    assert [m.content for m in kept] == ["6", "7", "8", "9", "10"] and kept[0].role == "user"
