"""/poll at the conversation level: staff make a poll step by step and send it after a
preview with its audience by channel and SMS cost; a deputy's waits for a staff member's
Approve (a notice whose buttons work whatever flow its reader is in), unless the operator
lets deputies send; a budget round asks its total and each item's cost; "My polls" shows
the sending and closes a poll; residents are refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.channels.poll_sender import PollSender
from bot.runtime.i18n import Catalogues
from handlers import answering, poll_admin
from handlers.context import Context
from storage import queries
from storage.models import Notice, Person, Poll, PollOption, PollSend, utcnow
from tests.conftest import Civicbot, Say
from tests.conversation import Conversation, World, fresh_number, fresh_user
from tests.digests import invite_code


@pytest.fixture
def database_url(conversation_database_url: str) -> str:
    """The module's database: the operator's commands run on it."""
    return conversation_database_url


@pytest.fixture(autouse=True)
def default_rules() -> Iterator[None]:
    poll_admin.configure(poll_admin.Rules())
    yield
    poll_admin.configure(poll_admin.Rules())


async def official(
    world: World, civicbot: Civicbot, role: str, place: str, language: str = "en"
) -> Conversation:
    person = world.conversation("telegram", language)
    await person.send(f"/start inv-{await invite_code(civicbot, role, place)}")
    await person.press({"ky": "Кыргызча", "ru": "Русский", "en": "English"}[language])
    return person


async def residents(world: World, place: str, channels: dict[str, int]) -> None:
    async with world.db.session() as session, session.begin():
        municipality = await queries.municipality_by_key(session, place)
        assert municipality is not None
        for channel, count in channels.items():
            for _ in range(count):
                user = fresh_number() if channel != "telegram" else str(fresh_user())
                session.add(
                    Person(channel=channel, channel_user_id=user, municipality_id=municipality.id)
                )


async def poll_of(world: World, code: str) -> Poll:
    async with world.db.session() as session:
        poll = await queries.poll_by_code(session, code)
        assert poll is not None
        return poll


async def until_preview(person: Conversation, say: Say, kind: str = "single") -> list[str]:
    await person.send("/poll")
    await person.press(say("en", "poll_admin.new"))
    await person.press(say("en", f"poll_admin.kind_{kind}"))
    await person.send("Кайсы көчөнү биринчи оңдоо керек?")
    await person.press(say("en", "button.skip"))  # ru
    await person.send("Which street first?")  # en
    await person.send("Ленин көчөсү\nТоктогул көчөсү")
    await person.send("Борбордук көчө")  # one more, one a message
    await person.press(say("en", "poll_admin.options_done"))
    if kind == "budget":
        assert await person.send("a lot") == [
            "\n\n".join((say("en", "poll_admin.not_a_sum"), say("en", "poll_admin.total_prompt")))
        ]
        await person.send("500 000")
        for cost in ("200000", "300 000 сом", "150000"):
            await person.send(cost)
    return await person.press(say("en", "poll_admin.closes_in", days=7))


async def test_staff_make_a_poll_see_its_audience_and_cost_and_send_it(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    await residents(world, "karakol", {"telegram": 3, "sms": 2, "whatsapp": 1})
    staff = await official(world, civicbot, "staff", "karakol")
    [preview] = await until_preview(staff, say)
    assert "1. Ленин көчөсү\n2. Токтогул көчөсү\n3. Борбордук көчө" in preview
    # 3 on Telegram and the staff member, 2 by SMS, 1 on WhatsApp (billed as SMS: no
    # template set); 3 × 2.00 som.
    assert "Open for: 7 days. It reaches 7 residents: Telegram 4, SMS 2, WhatsApp 1." in preview
    assert "SMS messages: 3, costing 6.00 som." in preview
    assert staff.buttons() == [say("en", "poll_admin.send"), say("en", "poll_admin.cancel")]
    [sent] = await staff.press(say("en", "poll_admin.send"))
    async with world.db.session() as session:
        poll = await session.scalar(select(Poll).order_by(Poll.id.desc()))
        assert poll is not None
        assert sent == say("en", "poll_admin.sent", code=poll.code, count=7)
        assert (poll.status, poll.kind, poll.question_en, poll.question_ru) == (
            "open", "single", "Which street first?", None,
        )  # fmt: skip
        planned = (await session.scalars(select(PollSend).where(PollSend.poll_id == poll.id))).all()
        assert len(planned) == 7 and {p.status for p in planned} == {"pending"}

    # My polls: its status and sending; Close closes it.
    await staff.send("/poll")
    [listed] = await staff.press(say("en", "poll_admin.mine"))
    assert f"No. {poll.code} · open · sent 0/7 · answers: 0\nWhich street first?" in listed
    # The results so far, aggregates only, then the list again.
    async with world.db.session() as session, session.begin():
        for voter in range(6):
            await queries.record_answer(
                session, poll.id, f"voter {voter}", (2,), poll.opens_at.date(),
                channel="sms", joined_during=False,
            )  # fmt: skip
    shown, again = await staff.press(say("en", "poll_admin.results", code=poll.code))
    assert f"Poll {poll.code} «Which street first?» so far: answers 6" in shown
    assert "Токтогул көчөсү" in shown and "voter" not in shown
    assert again.startswith(say("en", "poll_admin.list"))
    await staff.press(say("en", "poll_admin.close", code=poll.code))
    assert (await poll_of(world, poll.code)).status == "closed"
    # A closed poll keeps its results button, and loses Close.
    assert say("en", "poll_admin.results", code=poll.code) in staff.buttons()
    assert say("en", "poll_admin.close", code=poll.code) not in staff.buttons()


async def test_a_budget_round_asks_its_total_and_each_items_cost(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    staff = await official(world, civicbot, "staff", "balykchy")
    [preview] = await until_preview(staff, say, "budget")
    assert "2. Токтогул көчөсү — 300 000" in preview  # as residents see items, in any language
    await staff.press(say("en", "poll_admin.send"))
    async with world.db.session() as session:
        poll = await session.scalar(select(Poll).order_by(Poll.id.desc()))
        assert poll is not None and (poll.kind, poll.budget_total) == ("budget", 500000)
        costs = (
            await session.scalars(
                select(PollOption.cost)
                .where(PollOption.poll_id == poll.id)
                .order_by(PollOption.position)
            )
        ).all()
        assert costs == [200000, 300000, 150000]


async def test_a_deputys_poll_waits_for_a_staff_members_approval(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    known = await world.ids(Notice)
    staff = await official(world, civicbot, "staff", "tokmok")
    deputy = await official(world, civicbot, "deputy", "tokmok")
    await residents(world, "tokmok", {"telegram": 2})
    await until_preview(deputy, say)
    [pending] = await deputy.press(say("en", "poll_admin.ask_approval"))
    async with world.db.session() as session:
        poll = await session.scalar(select(Poll).order_by(Poll.id.desc()))
        assert poll is not None and poll.status == "pending"
    code = poll.code
    assert pending == say("en", "poll_admin.pending", code=code)
    assert [p for p in await world.rows_since(PollSend, set()) if p.poll_id == poll.id] == []
    [review] = [n for n in await world.rows_since(Notice, known) if n.key == "poll_admin.review"]
    approve, reject = review.values["buttons"][0]
    assert approve == ["poll_admin.approve", f"pollrev:{code}:approve"]
    # The deputy cannot approve their own; staff can, in the middle of another flow.
    assert await deputy.press_data(approve[1]) == [say("en", "poll_admin.staff_approve")]
    await staff.send("/change")
    [sent] = await staff.press_data(approve[1])
    assert sent == say("en", "poll_admin.sent", code=code, count=4)
    assert (await poll_of(world, code)).status == "open"
    assert await staff.press_data(reject[1]) == [say("en", "poll_admin.decided", code=code)]
    told = [
        n for n in await world.rows_since(Notice, known) if n.key == "poll_admin.approved_notice"
    ]
    assert [n.values for n in told] == [{"code": code}]


async def test_a_rejected_poll_goes_back_to_its_deputy(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    known = await world.ids(Notice)
    staff = await official(world, civicbot, "staff", "kant")
    deputy = await official(world, civicbot, "deputy", "kant")
    await until_preview(deputy, say)
    await deputy.press(say("en", "poll_admin.ask_approval"))
    [review] = [n for n in await world.rows_since(Notice, known) if n.key == "poll_admin.review"]
    code = str(review.values["code"])
    [rejected] = await staff.press_data(f"pollrev:{code}:reject")
    assert rejected == say("en", "poll_admin.rejected", code=code)
    assert (await poll_of(world, code)).status == "draft"
    assert "poll_admin.rejected_notice" in {n.key for n in await world.rows_since(Notice, known)}


async def test_where_the_operator_allows_it_a_deputy_sends_at_once(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    poll_admin.configure(poll_admin.Rules(deputies_send=True, sms_price=5.0))
    await residents(world, "kara_balta", {"sms": 3})
    deputy = await official(world, civicbot, "deputy", "kara_balta")
    [preview] = await until_preview(deputy, say)
    assert "SMS messages: 3, costing 15.00 som." in preview
    [sent] = await deputy.press(say("en", "poll_admin.send"))
    assert sent.startswith("Poll no. ") and "4 residents get it" in sent


async def test_a_resident_cannot_make_a_poll(world: World, say: Say) -> None:
    resident = world.conversation("telegram", "en")
    assert await resident.send("/poll") == [say("en", "poll_admin.officials_only")]
    assert await resident.press_data("pollrev:123:approve") == [
        say("en", "poll_admin.staff_approve")
    ]


async def deputys_pending_poll(
    world: World, civicbot: Civicbot, say: Say, place: str, staff: int = 1
) -> tuple[list[Conversation], Conversation, str]:
    """Staff members of `place`, its deputy, and the deputy's poll waiting for approval."""
    members = [await official(world, civicbot, "staff", place) for _ in range(staff)]
    deputy = await official(world, civicbot, "deputy", place)
    await until_preview(deputy, say)
    await deputy.press(say("en", "poll_admin.ask_approval"))
    async with world.db.session() as session:
        poll = await session.scalar(select(Poll).order_by(Poll.id.desc()))
        assert poll is not None and poll.status == "pending"
        return members, deputy, poll.code


async def test_approve_and_reject_at_once_decide_the_poll_once(
    world: World, civicbot: Civicbot, say: Say, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two staff members press Approve and Reject at the same moment: both have read the
    poll as pending (on PostgreSQL they run side by side; SQLite takes one at a time), the
    first decides, the second is told it was decided, and nothing else follows (no sending
    planned for a rejected poll, one notice to its deputy)."""
    known = await world.ids(Notice)
    (first, second), _, code = await deputys_pending_poll(world, civicbot, say, "osh", staff=2)
    if world.database_url.startswith("postgresql"):
        both_read = asyncio.Barrier(2)
        places_of = answering.places_of

        async def read_together(ctx: Context) -> answering.Places:
            places = await places_of(ctx)
            await both_read.wait()
            return places

        monkeypatch.setattr(answering, "places_of", read_together)
    said = await asyncio.gather(
        first.press_data(f"pollrev:{code}:approve"), second.press_data(f"pollrev:{code}:reject")
    )
    monkeypatch.undo()
    decided = [say("en", "poll_admin.decided", code=code)]
    poll = await poll_of(world, code)
    planned = [p for p in await world.rows_since(PollSend, set()) if p.poll_id == poll.id]
    told = [n.key for n in await world.rows_since(Notice, known) if n.key != "poll_admin.review"]
    if poll.status == "open":
        assert said[1] == decided and planned and told == ["poll_admin.approved_notice"]
    else:
        assert poll.status == "draft" and said[0] == decided
        assert planned == [] and told == ["poll_admin.rejected_notice"]


async def test_close_while_approving_leaves_the_poll_closed_and_unsent(
    world: World, civicbot: Civicbot, say: Say, catalogues: Catalogues
) -> None:
    """A deputy's poll closed from My polls is not approved after: Approve finds it decided.
    Rows planned for a poll that is not open when they are sent are skipped as closed."""
    (staff,), deputy, code = await deputys_pending_poll(world, civicbot, say, "lenin")
    await deputy.send("/poll")
    await deputy.press(say("en", "poll_admin.mine"))
    [closed] = await deputy.press(say("en", "poll_admin.close", code=code))
    assert closed.startswith(say("en", "poll_admin.closed", code=code))
    assert await staff.press_data(f"pollrev:{code}:approve") == [
        say("en", "poll_admin.decided", code=code)
    ]
    poll = await poll_of(world, code)
    assert poll.status == "closed" and poll.approved_by is None

    # Planned, then not open (a Reject that raced an Approve): skipped as closed, not sent.
    async with world.db.session() as session, session.begin():
        row = await session.get(Poll, poll.id)
        assert row is not None
        row.status = "open"
        await queries.plan_sends(session, row, (), utcnow())
        row.status = "draft"
    sent: list[int] = []  # people (the module's other polls' rows are sent too)

    class Sender:
        connected = None

        async def notify(self, person: Person, outgoing: object, deadline: float) -> None:
            sent.append(person.id)

    worker = PollSender(world.db, catalogues, {"telegram": Sender()}, "Asia/Bishkek")  # type: ignore[dict-item]
    sending = asyncio.create_task(worker.run_channel("telegram"))
    async with asyncio.timeout(20):
        while True:
            rows = [p for p in await world.rows_since(PollSend, set()) if p.poll_id == poll.id]
            if all(p.status != "pending" for p in rows):
                break
            await asyncio.sleep(0.05)
    worker.stopping.set()
    await sending
    assert rows and {(p.status, p.note) for p in rows} == {("skipped", "closed")}
    assert not {p.person_id for p in rows} & set(sent)


async def test_a_poll_past_its_time_is_not_approved_and_the_closing_job_closes_it(
    world: World, civicbot: Civicbot, say: Say, catalogues: Catalogues
) -> None:
    (staff,), _, code = await deputys_pending_poll(world, civicbot, say, "baetov")
    async with world.db.session() as session, session.begin():
        await session.execute(
            update(Poll).where(Poll.code == code).values(closes_at=utcnow() - timedelta(hours=1))
        )
    assert await staff.press_data(f"pollrev:{code}:approve") == [
        say("en", "poll_admin.too_late", code=code)
    ]
    assert (await poll_of(world, code)).status == "pending"
    worker = PollSender(world.db, catalogues, {}, "Asia/Bishkek")
    assert code in await worker.close_due()
    assert (await poll_of(world, code)).status == "closed"


def payload_of(person: Conversation, label: str) -> str:
    return next(data for row in person.keyboard() for shown, data in row if shown == label)


async def test_odd_sums_and_ids_are_refused_and_a_tenth_option_is_said_to_be_left_out(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    staff = await official(world, civicbot, "staff", "talas_city")
    await staff.send("/poll")
    await staff.press(say("en", "poll_admin.new"))
    await staff.press(say("en", "poll_admin.kind_budget"))
    await staff.send("Бюджет")
    await staff.press(say("en", "button.skip"))
    await staff.press(say("en", "button.skip"))
    # Eleven options at once: nine kept, and the two left out are said.
    [left_out, total] = await staff.send("\n".join(f"Иш {n}" for n in range(1, 12)))
    assert left_out == say("en", "poll_admin.options_over", most=9, count=2)
    assert total == say("en", "poll_admin.total_prompt")
    refused = "\n\n".join((say("en", "poll_admin.not_a_sum"), say("en", "poll_admin.total_prompt")))
    for odd in ("²", "5" * 5000, "0", "1 000 000 000"):
        assert await staff.send(odd) == [refused], odd
    [cost] = await staff.send("999 999 999")
    assert cost == say("en", "poll_admin.cost_prompt", number=1, option="Иш 1")

    # A crafted Close with a huge id is ignored like any stale button (no overflow).
    await staff.send("/poll")
    await staff.press(say("en", "poll_admin.mine"))
    nonce = payload_of(staff, say("en", "button.back")).split(":")[0]
    said = await staff.press_data(f"{nonce}:close:99999999999999999999999")
    assert said[0].startswith(say("en", "error.stale_button")), said


async def test_a_deputy_closes_only_their_own_poll_and_is_told_when_nobody_can_approve(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    # Nobody to approve: the deputy is told, and the poll waits.
    lonely = await official(world, civicbot, "deputy", "uzgen_city")
    await until_preview(lonely, say)
    [told] = await lonely.press(say("en", "poll_admin.ask_approval"))
    async with world.db.session() as session:
        poll = await session.scalar(select(Poll).order_by(Poll.id.desc()))
        assert poll is not None and poll.status == "pending"
    assert told == say("en", "poll_admin.no_approver", code=poll.code)

    # Another deputy of the municipality sees it in My polls but cannot close it.
    other = await official(world, civicbot, "deputy", "uzgen_city")
    await other.send("/poll")
    await other.press(say("en", "poll_admin.mine"))
    [refused] = await other.press(say("en", "poll_admin.close", code=poll.code))
    assert refused.startswith(say("en", "poll_admin.not_yours", code=poll.code))
    assert (await poll_of(world, poll.code)).status == "pending"
    await lonely.send("/poll")
    await lonely.press(say("en", "poll_admin.mine"))
    await lonely.press(say("en", "poll_admin.close", code=poll.code))
    assert (await poll_of(world, poll.code)).status == "closed"


async def test_the_sms_cap_and_the_sms_forms_segments_count_in_the_preview_and_sending(
    world: World, civicbot: Civicbot, say: Say
) -> None:
    """POLL_SMS_CAP is kept for a poll made in /poll (the preview counts only that many, and
    the sending skips the rest), and the preview counts the SMS form's segments as
    `civicbot poll send` does (one shared function, handlers/poll_costs.py preview)."""
    poll_admin.configure(poll_admin.Rules(sms_cap=2, segments_of=lambda poll, options, language: 2))
    await residents(world, "kyzyl_kiya", {"sms": 3})
    staff = await official(world, civicbot, "staff", "kyzyl_kiya")
    [preview] = await until_preview(staff, say)
    assert "SMS messages: 2, costing 8.00 som." in preview  # 2 people × 2 segments × 2.00
    await staff.press(say("en", "poll_admin.send"))
    async with world.db.session() as session:
        poll = await session.scalar(select(Poll).order_by(Poll.id.desc()))
        assert poll is not None and poll.sms_cap == 2
        planned = (await session.scalars(select(PollSend).where(PollSend.poll_id == poll.id))).all()
    sms = sorted((p.status, p.note) for p in planned if p.channel == "sms")
    assert sms == [("pending", None), ("pending", None), ("skipped", "sms_cap")]
