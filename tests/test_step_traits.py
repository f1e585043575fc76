"""Step traits are fields declared on the step (handlers/steps.py), not read from its name:
a private step keeps no text for a redelivery whatever it is called, and every step of a
bribe report is declared private (issue 26, item 5)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.channels import answers
from bot.runtime.i18n import Catalogues
from handlers import account, bribes, dispatch, router
from handlers.pseudonyms import Pseudonyms
from handlers.types import Inbound, Outcome
from storage.db import Database
from tests.conftest import SECRET_KEY

PSEUDONYMS = Pseudonyms.from_keys((SECRET_KEY,))


def kept(outcome: Outcome) -> str:
    """What Telegram keeps for a redelivery: the rendered answer, unless it must not be."""
    return answers.kept(answers.render(Catalogues(), outcome), outcome)


async def forget_asked(db: Database, chat: str) -> str | None:
    """/forget, which asks to confirm at account.FORGET; the answer kept for its delivery."""
    inbound = Inbound(channel="telegram", user_id=chat, delivery_id=f"d{chat}", command="forget")
    assert await dispatch.handle(db, PSEUDONYMS, inbound, render=kept) is not None
    return await dispatch.previous_reply(db, PSEUDONYMS, "telegram", f"d{chat}")


async def test_a_private_step_keeps_no_text_whatever_its_name(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not account.FORGET.startswith("bribe")
    assert await forget_asked(db, "501")  # as declared: not private, its answer kept

    private = replace(router.STEPS[account.FORGET], private=True)
    monkeypatch.setitem(router.STEPS, account.FORGET, private)

    assert await forget_asked(db, "502") == ""


def test_every_bribe_report_step_is_private() -> None:
    assert bribes.STEPS and router.unfit_steps() == []
    assert all(router.STEPS[name] is step for name, step in bribes.STEPS.items())


def test_a_bribe_step_that_is_not_private_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    leaky = replace(router.STEPS[bribes.AMOUNT], private=False)
    monkeypatch.setitem(router.STEPS, bribes.AMOUNT, leaky)

    assert router.unfit_steps() == [bribes.AMOUNT]


def test_one_shot_steps_come_from_their_field() -> None:
    assert {n for n, s in router.STEPS.items() if s.one_shot} == router.ONE_SHOT_STEPS
    assert router.ONE_SHOT_STEPS  # SMS can answer a signer's address, a follow-up, a place


def test_a_step_name_two_flows_declare_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Joined into one table, the second would silently replace the first."""
    assert len(router.STEPS) == sum(len(flow) for flow in router.FLOWS)
    clash = {account.FORGET: router.STEPS[bribes.AMOUNT]}
    monkeypatch.setattr(router, "FLOWS", (*router.FLOWS, clash))

    assert router.unfit_steps() == [account.FORGET]
