"""The answer budget's memory (bot/channels/budget.py): senders quiet for a whole window are
forgotten, and a wave of new senders costs one look at everyone per doubling — not one per
answer, which made a 50,000-phone signing wave slower with every signer."""

from __future__ import annotations

import gc

import pytest

from bot.channels import budget
from bot.channels.budget import AnswerBudget, Verdict


def test_a_wave_of_new_senders_looks_for_quiet_ones_once_per_doubling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(budget, "PRUNE_ABOVE", 10)
    answers = AnswerBudget(answers=3, seconds=60.0)
    looks = 0
    prune = answers._prune

    def counted(now: float) -> None:
        nonlocal looks
        looks += 1
        prune(now)

    monkeypatch.setattr(answers, "_prune", counted)
    for sender in range(5_000):  # all within the window: nobody to forget
        assert answers.take(sender) is Verdict.ANSWER
    assert looks <= 10  # 10 → 22 → 46 → … → 5,000: nine doublings (before: 4,990 looks)


def test_senders_quiet_for_a_window_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "PRUNE_ABOVE", 10)
    clock = [1000.0]
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
    answers = AnswerBudget(answers=1, seconds=60.0)
    for sender in range(50):
        answers.take(sender)
    assert answers.take(0) is Verdict.NOTICE  # still remembered within the window
    clock[0] += 61
    for sender in range(100, 250):
        answers.take(sender)
    assert 0 not in answers._senders and len(answers._senders) <= 150
    assert answers.take(0) is Verdict.ANSWER  # a fresh budget, as its window has passed


def test_a_senders_answers_leave_the_window_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each answer counts for exactly `seconds` (one given that long ago is out of it), and
    the oldest leave first: a sender kept in the window gets room as each of theirs ages."""
    clock = [1000.0]
    monkeypatch.setattr(budget.time, "monotonic", lambda: clock[0])
    answers = AnswerBudget(answers=2, seconds=60.0)
    verdicts = []
    for at in (0, 30, 40, 60, 61, 89, 90):
        clock[0] = 1000.0 + at
        verdicts.append(answers.take("sender"))
    A, N, Q = Verdict.ANSWER, Verdict.NOTICE, Verdict.QUIET
    # 0 and 30 answered; 40 over; 60: the one of 0 is out; 61 over, told again; 89 quiet;
    # 90: the one of 30 is out.
    assert verdicts == [A, A, N, A, N, Q, A]


def test_the_senders_remembered_are_not_walked_by_the_garbage_collector() -> None:
    """300,000 signers in the window are remembered; the collector's full collections walk
    every object it tracks, so what a sender costs it must not grow with them."""
    answers = AnswerBudget(answers=2, seconds=600.0)
    gc.collect()
    before = len(gc.get_objects())
    for sender in range(20_000):
        answers.take(f"+99670{sender:07d}")
        answers.take(f"+99670{sender:07d}")
    gc.collect()
    assert len(gc.get_objects()) - before < 2_000  # was two objects a sender: 40,000
    assert answers.take("+996700000001") is Verdict.NOTICE  # still remembered
