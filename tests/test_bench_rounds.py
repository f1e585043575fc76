"""bench/ingest.py's verdict over several rounds (`--rounds K`): issue 27's goals judged on
the medians of rounds run in alternating order, not on one run the machine's drift may have
flattered or hurt; a round with errors is left out of its ratio."""

from __future__ import annotations

import argparse

import pytest

from bench.ingest import Result, Round, Setting, better_framework, plan, summarize

ARGS = argparse.Namespace(database_url=None, workers=1, rate=None, against_sqlite=False, rounds=3)
HERE = Setting("", None, 1)


def measured(name: str, per_second: float, errors: int = 0, peak: float = 100.0) -> Result:
    """A run of `name` at `per_second` updates/s, its latencies 10 ms and 60 ms."""
    return Result(
        name,
        updates=int(per_second * 10),
        seconds=10.0,
        latencies=[0.010] * 98 + [0.060] * 2,
        peak_rss_mb=peak,
        errors=errors,
    )


def round_of(*results: Result) -> Round:
    return {(HERE, r.name): r for r in results}


@pytest.mark.parametrize(
    ("results", "better"),
    [
        ((measured("ptb", 300), measured("aiogram", 500)), "aiogram"),
        ((measured("ptb", 300), measured("aiogram", 500, errors=1)), "ptb"),
        ((measured("floor", 4000), measured("ours", 1500)), None),
    ],
)
def test_the_better_framework_design_is_the_faster_without_errors(
    results: tuple[Result, ...], better: str | None
) -> None:
    found = better_framework(results)
    assert (found.name if found else None) == better


def test_the_goals_are_judged_on_the_medians_of_the_rounds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rounds = [
        round_of(measured("ours", 1500), measured("floor", 4000), measured("aiogram", 500)),
        round_of(
            measured("ours", 1200, peak=108), measured("floor", 4000), measured("aiogram", 600)
        ),
        round_of(
            measured("ours", 1800), measured("floor", 3000), measured("aiogram", 450, errors=2)
        ),
    ]
    summarize(rounds, ARGS)
    printed = capsys.readouterr().out
    assert "ours ÷ floor: 0.38 (rounds: 0.38, 0.30, 0.60); goal ≥ 0.5" in printed
    # The third round's aiogram failed steps: that round is not compared, not counted.
    assert "ours ÷ aiogram: 2.50 (rounds: 3.00, 2.00, not compared)" in printed
    assert "ours ÷ the better framework design (of that round): 2.50" in printed
    assert "ours p99 ms: 60.00" in printed
    assert "ours peak MB: 108 at most" in printed


def test_the_order_is_reversed_every_other_round() -> None:
    wanted = ["ours", "floor", "aiogram"]
    first, second = plan(wanted, ARGS, 1), plan(wanted, ARGS, 2)
    assert [name for _, name in first] == wanted
    assert [name for _, name in second] == wanted[::-1]
