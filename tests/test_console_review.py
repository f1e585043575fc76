"""The console's review findings (issue 30): a cookie that is not a token, numbers that are
not ASCII digits or too long (never a 500); bulk actions refused on wishes changed since
shown; "next wish" walking a list the answer does not shrink; a sign-in posted from another
site refused and one from this browser ending the session it held; a session's absolute
lifetime and the sweep of what is dead; a redelivered private SMS answered generically."""

from __future__ import annotations

import datetime as dt
import html
from urllib.parse import urlsplit

from sqlalchemy import update

from bot.runtime import housekeeping
from storage.db import Database
from storage.models import ConsoleLink, ConsoleSession, Wish, utcnow
from tests.conftest import PUBLIC_BASE_URL, Civicbot, Say, StartBot, execute, rows
from tests.console_desk import Desk, link_for, raw_get, staff_desk
from tests.digests import invite_code
from tests.fake_telegram import FakeTelegram
from tests.places import category
from tests.test_answers import STAFF_PHONE, resident, sms
from tests.test_console_http import LIGHT, WATER, every, started, ticked, wish_of
from tests.test_sms_webhook import reply_in
from tests.twilio import FakeTwilio, inbound_form, post_signed, twilio_settings

THIRD = "Парктагы орундуктар сынган"


async def test_a_cookie_or_number_the_console_cannot_read_is_never_a_500(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    _, desk = await staff_desk(runtime, telegram, civicbot, 8180)
    water = await wish_of(database_url, WATER)
    for cookie in (b"ab\xffcd", b"\xff" * 43, b"A" * 42 + b"\xff", b"A" * 44):
        for path in ("/staff", f"/staff/wish/{water.reference}"):
            assert await raw_get(runtime.base_url, path, cookie) == 401, (cookie, path)
    assert (await Desk(runtime.base_url, cookie="A" * 43).get("/staff")).status == 401

    card = await desk.get(f"/staff/wish/{water.reference}")
    good = {"csrf": card.csrf(), "version": card.version(), "status": "done", "text": "ok"}
    for number in ("٣", "²", "9" * 30, "-1", " "):
        page = await desk.post(f"/staff/wish/{water.reference}", {**good, "version": number})
        assert page.status == 400, number
        assign = {"csrf": good["csrf"], "to": number}
        page = await desk.post(f"/staff/wish/{water.reference}/assign", assign)
        assert page.status == (303 if number == " " else 400), number  # blank: nobody
    assert (await wish_of(database_url, WATER)).answered_at is None


async def test_a_filter_the_list_cannot_read_is_named_in_the_officials_language(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say
) -> None:
    runtime = await started(start_bot, telegram)
    _, desk = await staff_desk(runtime, telegram, civicbot, 8182)
    asked = {"status=nope": "status", "page=0": "page", "village=x": "village", "due=soon": "due"}
    for query, field in asked.items():
        page = await desk.get(f"/staff?mine=1&{query}")
        assert page.status == 400, query
        assert say("en", "console.bad_request", why=field) in html.unescape(page.text), query


async def test_bulk_refuses_wishes_changed_since_the_list_was_shown(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    _, desk = await staff_desk(runtime, telegram, civicbot, 8181)
    water, light = await wish_of(database_url, WATER), await wish_of(database_url, LIGHT)
    listed = await desk.get("/staff")
    shown = [await ticked(database_url, text) for text in (WATER, LIGHT)]
    assert all(f'value="{value}"' in listed.text for value in shown)

    # A colleague answers the water wish meanwhile.
    card = await desk.get(f"/staff/wish/{water.reference}")
    form = {"csrf": card.csrf(), "version": card.version(), "status": "in_progress", "text": ""}
    assert (await desk.post(f"/staff/wish/{water.reference}", form)).status == 303

    for action in (("action", "topic"), ("action", "duplicate")):
        sent = [("csrf", listed.csrf()), action, ("topic", "roads"), ("of", light.reference)]
        refused = await desk.post("/staff/bulk", [*sent, *(("ref", value) for value in shown)])
        assert refused.status == 409, action
        assert say("en", "console.bulk_changed", why=water.reference) in refused.text
    after = {w.text: w for w in await rows(database_url, Wish)}
    assert (after[WATER].category, after[WATER].status) == ("drinking_water", "in_progress")
    assert after[LIGHT].category == "street_lighting"
    # The bulk form's `of` is a reference's length at most.
    too_long = [("csrf", listed.csrf()), ("action", "duplicate"), ("of", "1" * 17),
                ("ref", await ticked(database_url, LIGHT))]  # fmt: skip
    assert (await desk.post("/staff/bulk", too_long)).status == 400


async def test_next_wish_walks_a_list_the_answer_does_not_shrink_and_wraps(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    naryn = await resident(runtime, telegram, 8182, "ky")
    await naryn.leave_wish("change", category("roads")["ky"], THIRD)
    _, desk = await staff_desk(runtime, telegram, civicbot, 8183)
    # Newest first: the third, the water, the lights; "all" keeps every one answered.
    a, b, c = [(await wish_of(database_url, text)).reference for text in (THIRD, WATER, LIGHT)]
    walked = []
    at = a
    for _ in range(4):
        card = await desk.get(f"/staff/wish/{at}?status=all")
        form = {"csrf": card.csrf(), "version": card.version(), "list": "status=all",
                "status": "in_progress", "text": f"{at} on the way"}  # fmt: skip
        answered = await desk.post(f"/staff/wish/{at}", form)
        location = answered.headers["Location"]
        assert location.startswith("/staff/wish/") and "status=all" in location, location
        at = urlsplit(location).path.rsplit("/", 1)[1]
        walked.append(at)
    assert walked == [b, c, a, b]


async def test_a_sign_in_from_another_site_is_refused_and_one_here_ends_the_held_session(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    official, desk = await staff_desk(runtime, telegram, civicbot, 8184)
    held = desk.cookie
    path = await link_for(official, telegram)
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"},  # the first wins
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ):
        page = await Desk(runtime.base_url).post(path, {"confirm": "1"}, headers)
        if headers.get("Sec-Fetch-Site") == "same-origin":
            continue  # checked below, once the refusals have used nothing
        assert page.status == 403, headers
        assert say("en", "console.cross_site") in html.unescape(page.text)
    # The first same-origin post above signed a stranger's browser in; a new link for this one.
    path = await link_for(official, telegram)
    signed = await desk.post(path, {"confirm": "1"}, {"Origin": PUBLIC_BASE_URL})
    assert signed.status == 303 and desk.cookie not in (None, held)
    assert (await desk.get("/staff")).status == 200
    # The cookie the browser held before is no session any more.
    assert (await Desk(runtime.base_url, cookie=held).get("/staff")).status == 401


async def test_a_session_ends_after_its_lifetime_and_the_sweep_deletes_what_is_dead(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    official, old = await staff_desk(runtime, telegram, civicbot, 8185)
    _, live = await staff_desk(runtime, telegram, civicbot, 8186)
    await link_for(official, telegram)  # a link never used
    # The first browser began thirteen hours ago, though it was busy all along.
    [first, _] = sorted(await every(database_url, ConsoleSession), key=lambda s: s.created_at)
    await execute(database_url, update(ConsoleSession).where(
        ConsoleSession.session_key == first.session_key
    ).values(created_at=utcnow() - dt.timedelta(hours=13)))  # fmt: skip
    assert (await old.get("/staff")).status == 401
    assert (await live.get("/staff")).status == 200

    await execute(database_url, update(ConsoleLink).values(
        expires_at=utcnow() - dt.timedelta(seconds=1)
    ))  # fmt: skip
    db = Database(database_url)
    try:
        await housekeeping.sweep(db)
    finally:
        await db.close()
    assert await every(database_url, ConsoleLink) == []
    [kept] = await every(database_url, ConsoleSession)
    assert kept.session_key != first.session_key
    assert (await live.get("/staff")).status == 200


async def test_a_redelivered_private_sms_gets_the_generic_answer(
    start_bot: StartBot, twilio: FakeTwilio, civicbot: Civicbot, say: Say
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    await sms(runtime, STAFF_PHONE, f"JOIN {await invite_code(civicbot, 'staff', 'naryn_city')}")
    form = inbound_form(STAFF_PHONE, "WEB")
    status, first = await post_signed(runtime.base_url, "/sms/twilio", form)
    assert status == 200 and "/staff/login/" in reply_in(first)
    status, again = await post_signed(runtime.base_url, "/sms/twilio", form)  # Twilio retries
    assert status == 200 and reply_in(again) == say("en", "private.already_answered")
    assert "/staff/login/" not in again
