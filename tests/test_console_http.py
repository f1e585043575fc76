"""The staff console over HTTP (bot/web/staff): signing in by the link the bot sent, once;
the session cookie's flags; answering through the chat inbox's rules, on to the next wish,
the resident told; and every refusal — a link reused, expired or unknown, a form without
its CSRF token or with another, no session, an idle one, a deputy's post, another
municipality's wish, a filter the list does not know — each a short page, never a 500."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

from sqlalchemy import select, update

from handlers.appeals import sealer_for
from storage.db import Database
from storage.models import (
    Appeal,
    AuditEntry,
    ConsoleLink,
    ConsoleSession,
    Person,
    Village,
    Wish,
    WishPhoto,
    utcnow,
)
from tests.conftest import Civicbot, Say, StartBot, execute, rows
from tests.console_desk import LINK, Desk, link_for, raw_get, staff_desk
from tests.digests import invite_code, official_on_telegram
from tests.fake_telegram import FakeTelegram
from tests.places import category
from tests.test_answers import resident, texts_to
from tests.test_photos_public import bin_photographed, get
from tests.web_visitor import WebVisitor, session_from

LIGHT = "Көчөдө жарык жок"
WATER = "Суу жок үч күндөн бери"
OSH = "Potholes in Osh"


async def started(start_bot: StartBot, telegram: FakeTelegram) -> Any:
    """The bot, with two Naryn wishes (the lights the older) and one in Osh."""
    runtime = await start_bot("webhook")
    naryn = await resident(runtime, telegram, 8101, "ky")
    await naryn.leave_wish("change", category("street_lighting")["ky"], LIGHT)
    await naryn.leave_wish("change", category("drinking_water")["ky"], WATER)
    osh = await resident(runtime, telegram, 8102, "en", place="osh")
    await osh.leave_wish("change", category("roads")["en"], OSH)
    return runtime


async def every(database_url: str, model: Any) -> list[Any]:
    """Every row of a table without an id (links and sessions are keyed by their hash)."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            return list((await session.scalars(select(model))).all())
    finally:
        await db.close()


async def wish_of(database_url: str, text: str) -> Wish:
    [wish] = [w for w in await rows(database_url, Wish) if w.text == text]
    return wish


async def ticked(database_url: str, text: str) -> str:
    """A list's checkbox for the wish as it is now: `REF:VERSION`."""
    wish = await wish_of(database_url, text)
    return f"{wish.reference}:{wish.version}"


async def test_a_link_signs_in_once_and_the_cookie_is_locked_down(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    staff = await official_on_telegram(
        runtime, telegram, civicbot, 8110, "en", role="staff", municipality="naryn_city"
    )
    path = await link_for(staff, telegram)
    desk = Desk(runtime.base_url)

    # A previewer's GET uses nothing: the page asks for a press, twice alike.
    for _ in range(2):
        confirm = await desk.get(path)
        assert confirm.status == 200 and say("en", "console.login_button") in confirm.text
        assert confirm.headers["Cache-Control"] == "no-store"
    assert desk.cookie is None
    signed = await desk.post(path, {"confirm": "1"})
    assert signed.status == 303 and signed.headers["Location"] == "/staff"
    [set_cookie] = desk.cookies_set
    flags = {part.strip().lower() for part in set_cookie.split(";")[1:]}
    assert flags == {"httponly", "secure", "samesite=strict", "path=/staff"}
    # Only keyed hashes are stored: neither the link's token nor the cookie's.
    token = path.rsplit("/", 1)[1]
    [link] = await every(database_url, ConsoleLink)
    [session] = await every(database_url, ConsoleSession)
    assert token not in link.token_key and link.used_at is not None
    assert desk.cookie is not None and desk.cookie not in session.session_key

    inbox = await desk.get("/staff")
    assert inbox.status == 200
    assert LIGHT in inbox.text and WATER in inbox.text and OSH not in inbox.text

    # Used: the same link again is refused, by GET and by POST, and signs no one in.
    other = Desk(runtime.base_url)
    for page in (await other.get(path), await other.post(path, {"confirm": "1"})):
        assert page.status == 410 and say("en", "console.link_used") in page.text
    assert other.cookie is None
    # Unknown, malformed.
    for unknown in ("/staff/login/" + "A" * 24, "/staff/login/short", "/staff/login/%E2%82%AC"):
        page = await other.get(unknown)
        assert page.status in (400, 404) and "Traceback" not in page.text
    assert (await other.get("/staff/login/" + "A" * 24)).status == 404
    # Expired: ten minutes on.
    late = await link_for(staff, telegram)
    await execute(database_url, update(ConsoleLink).where(ConsoleLink.used_at.is_(None)).values(
        expires_at=utcnow() - dt.timedelta(seconds=1)
    ))  # fmt: skip
    for page in (await other.get(late), await other.post(late, {"confirm": "1"})):
        assert page.status == 410 and say("en", "console.link_expired") in page.text
    assert other.cookie is None

    [login] = [e for e in await rows(database_url, AuditEntry) if e.action == "login"]
    assert (login.person_id, login.via) == (session.person_id, "console")


async def test_two_tabs_posting_one_link_at_once_sign_in_once(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, database_url: str
) -> None:
    runtime = await start_bot("webhook")
    staff = await official_on_telegram(
        runtime, telegram, civicbot, 8111, "en", role="staff", municipality="naryn_city"
    )
    path = await link_for(staff, telegram)
    tabs = [Desk(runtime.base_url) for _ in range(4)]
    pages = await asyncio.gather(*(tab.post(path, {"confirm": "1"}) for tab in tabs))
    assert sorted(page.status for page in pages) == [303, 410, 410, 410]
    assert len(await every(database_url, ConsoleSession)) == 1


async def test_staff_answer_go_on_to_the_next_wish_and_the_resident_hears(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    _, desk = await staff_desk(runtime, telegram, civicbot, 8120)
    water, light = await wish_of(database_url, WATER), await wish_of(database_url, LIGHT)

    found = await desk.get("/staff?q=" + water.reference)
    assert found.status == 200 and f"/staff/wish/{water.reference}" in found.text
    assert f"/staff/wish/{light.reference}" not in found.text
    card = await desk.get(f"/staff/wish/{water.reference}")
    assert card.status == 200 and WATER in card.text
    assert card.headers["Cache-Control"] == "no-store"  # a shared computer's cache keeps none
    form = {
        "csrf": card.csrf(),
        "version": card.version(),
        "list": "",
        "status": "done",
        "text": "Суу\x00 берилди",  # a control character is taken out, as the chat does
    }
    answered = await desk.post(f"/staff/wish/{water.reference}", form)
    # Straight on to the next waiting wish's card: the POST, then the GET it leads to.
    assert answered.status == 303
    assert answered.headers["Location"] == f"/staff/wish/{light.reference}?saved={water.reference}"
    nxt = await desk.get(answered.headers["Location"])
    assert LIGHT in nxt.text and say("en", "console.saved", reference=water.reference) in nxt.text
    told = say(
        "ky", "answer.notice", reference=water.reference,
        status=say("ky", "status.done"), text="Суу берилди",
    )  # fmt: skip
    await texts_to(telegram, 8101, told)
    stored = await wish_of(database_url, WATER)
    assert (stored.status, stored.answer) == ("done", "Суу берилди")

    # The same form sent again (a double press) tells no one twice.
    again = await desk.post(f"/staff/wish/{water.reference}", form)
    assert again.status == 303
    # Too long for the resident: the card again, the shortened words offered, nothing sent.
    card = await desk.get(f"/staff/wish/{light.reference}")
    form = {"csrf": card.csrf(), "version": card.version(), "status": "done", "text": "ж" * 600}
    long = await desk.post(f"/staff/wish/{light.reference}", form)
    assert long.status == 200 and "ж" * 400 in long.text
    assert (await wish_of(database_url, LIGHT)).answered_at is None

    # The last one answered: the list, saying none is left.
    form["text"] = "Жарык орнотулду"
    last = await desk.post(f"/staff/wish/{light.reference}", form)
    assert last.headers["Location"] == f"/staff?saved={light.reference}&none_left=1"
    assert say("en", "inbox.none_left") in (await desk.get(last.headers["Location"])).text

    answers = [e for e in await rows(database_url, AuditEntry) if e.action == "answer"]
    assert [(e.subject, e.detail) for e in answers] == [
        (water.reference, {"status": "done"}),
        (light.reference, {"status": "done"}),
    ]
    rc, out, _ = await civicbot("audit", "--municipality", "naryn_city")
    assert rc == 0
    assert f"staff #{answers[0].person_id}" in out and f"answer {water.reference}" in out
    assert "login" in out
    for wrong in (("--since", "yesterday"), ("--limit", "0"), ("--municipality", "atlantis")):
        rc, _, err = await civicbot("audit", *wrong)
        assert rc == 2 and err.startswith("civicbot: "), wrong


async def test_refusals_are_short_pages_never_a_500(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    _, desk = await staff_desk(runtime, telegram, civicbot, 8130)
    water, osh = await wish_of(database_url, WATER), await wish_of(database_url, OSH)
    card = await desk.get(f"/staff/wish/{water.reference}")
    good = {"csrf": card.csrf(), "version": card.version(), "status": "done", "text": "ok"}
    target = f"/staff/wish/{water.reference}"

    # No session at all.
    stranger = Desk(runtime.base_url)
    for page in (await stranger.get("/staff"), await stranger.get(target)):
        assert page.status == 401 and say("en", "console.signed_out") in page.text
    assert (await stranger.post(target, good)).status == 401
    # A form without its CSRF token, or with another.
    assert (await desk.post(target, {**good, "csrf": ""})).status == 403
    assert (await desk.post(target, {k: v for k, v in good.items() if k != "csrf"})).status == 403
    # Its last character changed (to "y" where it was an "x": the token is random).
    altered = good["csrf"][:-1] + ("y" if good["csrf"].endswith("x") else "x")
    assert (await desk.post(target, {**good, "csrf": altered})).status == 403
    assert (await desk.post(target, {**good, "csrf": "ё" * 40})).status == 403
    assert (
        await desk.post("/staff/bulk", {"action": "topic", "ref": water.reference})
    ).status == 403
    # Another municipality's wish: not found, to read or to answer.
    assert (await desk.get(f"/staff/wish/{osh.reference}")).status == 404
    assert (await desk.post(f"/staff/wish/{osh.reference}", good)).status == 404
    assert (await desk.get("/staff/wish/99999999999999999")).status == 404
    assert (await desk.get("/staff/wish/abc")).status == 404
    # Filters the list does not know, and a form that is none.
    for query in ("status=bogus", "topic=nothing", "due=tomorrow", "page=0", "page=abc",
                  "page=99999999999", "mine=yes", "q=" + "x" * 65):  # fmt: skip
        page = await desk.get("/staff?" + query)
        assert page.status == 400 and "Traceback" not in page.text, query
    assert (await desk.get(f"{target}?status=bogus")).status == 400
    assert (await desk.post(target, {**good, "status": "finished"})).status == 400
    for number in ("x", "٣", "9" * 30):  # not ASCII digits, or too many: never a 500
        assert (await desk.post(target, {**good, "version": number})).status == 400
        assign = {"csrf": good["csrf"], "to": number}
        assert (await desk.post(f"{target}/assign", assign)).status == 400
    # A cookie that is not a token the server made (here not even UTF-8): no session.
    assert await raw_get(runtime.base_url, "/staff", b"ab\xffcd") == 401
    assert (await desk.post(target, {**good, "list": "status=bogus"})).status == 400
    bad = await desk.post("/staff/bulk", {"csrf": good["csrf"], "action": "erase", "ref": "1"})
    assert bad.status == 400
    assert (await desk.post(f"{target}/assign", {"csrf": good["csrf"], "to": "abc"})).status == 400
    # Control characters, which PostgreSQL refuses in text: taken out of words, refused in
    # a list's search, never a 500.
    assert (await desk.post(target, {**good, "list": "q=%00"})).status == 400
    nul = [
        ("csrf", good["csrf"]),
        ("action", "duplicate"),
        ("of", "12\x003"),
        ("ref", await ticked(database_url, OSH)),
    ]
    assert (await desk.post("/staff/bulk", nul)).status == 404
    nul[3] = ("ref", await ticked(database_url, WATER))
    refused = await desk.post("/staff/bulk", nul)
    assert (
        refused.status == 400 and say("en", "answer.no_such_wish", reference="123") in refused.text
    )
    assert (await desk.get(target)).status == 200  # still signed in
    russian = await desk.get("/staff?lang=ru")  # the official's language, or the one chosen
    assert russian.status == 200 and say("ru", "console.inbox_title") in russian.text
    assert (await wish_of(database_url, WATER)).answered_at is None

    # Idle for longer than the session lasts: signed out.
    await execute(database_url, update(ConsoleSession).values(
        last_seen_at=utcnow() - dt.timedelta(minutes=31)
    ))  # fmt: skip
    assert (await desk.get("/staff")).status == 401
    assert (await desk.post(target, good)).status == 401
    assert (await wish_of(database_url, WATER)).answered_at is None


async def test_deputies_read_without_identities_and_post_nothing(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    water, light = await wish_of(database_url, WATER), await wish_of(database_url, LIGHT)
    await appeal_on(runtime, database_url, light, "Асанов Үсөн", "Ленин көч. 5", days=-2)
    _, staff = await staff_desk(runtime, telegram, civicbot, 8140)
    _, deputy = await staff_desk(runtime, telegram, civicbot, 8141, role="deputy")

    # Appeals first by due date, in every list; the overdue one marked.
    listed = (await staff.get("/staff")).text
    assert listed.index(light.reference) < listed.index(water.reference)
    overdue = (await staff.get("/staff?due=overdue")).text
    assert light.reference in overdue and f"/staff/wish/{water.reference}" not in overdue

    staff_card = await staff.get(f"/staff/wish/{light.reference}")
    assert "Асанов Үсөн" in staff_card.text and "Ленин көч. 5" in staff_card.text
    assert "N-7" in staff_card.text
    deputy_card = await deputy.get(f"/staff/wish/{light.reference}")
    assert deputy_card.status == 200 and "N-7" in deputy_card.text
    assert "Асанов" not in deputy_card.text and "Ленин көч" not in deputy_card.text
    assert 'name="status"' not in deputy_card.text
    assert say("en", "inbox.read_only") in deputy_card.text

    form = {"csrf": deputy_card.csrf(), "version": "0", "status": "done", "text": "ok"}
    for path, sent in (
        (f"/staff/wish/{water.reference}", form),
        (f"/staff/wish/{water.reference}/assign", {"csrf": form["csrf"], "to": ""}),
        (
            "/staff/bulk",
            {"csrf": form["csrf"], "action": "topic", "ref": water.reference, "topic": "roads"},
        ),
    ):
        assert (await deputy.post(path, sent)).status == 403, path
    assert (await wish_of(database_url, WATER)).answered_at is None
    assert (await wish_of(database_url, WATER)).category == "drinking_water"


async def test_bulk_duplicates_and_topic_assignment_and_logout(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await started(start_bot, telegram)
    _, desk = await staff_desk(runtime, telegram, civicbot, 8150)
    light = await wish_of(database_url, LIGHT)
    page = await desk.get("/staff")
    csrf = page.csrf()

    moved = await desk.post(
        "/staff/bulk",
        [("csrf", csrf), ("list", ""), ("action", "topic"), ("topic", "roads"),
         ("ref", await ticked(database_url, WATER)), ("ref", await ticked(database_url, LIGHT))],
    )  # fmt: skip
    assert moved.status == 303 and moved.headers["Location"] == "/staff?changed=2"
    assert {(await wish_of(database_url, t)).category for t in (WATER, LIGHT)} == {"roads"}
    # A duplicate of a wish that is not there: refused, nothing of the batch kept.
    refused = await desk.post(
        "/staff/bulk",
        [
            ("csrf", csrf),
            ("action", "duplicate"),
            ("of", "1234"),
            ("ref", await ticked(database_url, WATER)),
        ],
    )
    assert refused.status == 400
    assert say("en", "answer.no_such_wish", reference="1234") in refused.text
    marked = await desk.post(
        "/staff/bulk",
        [("csrf", csrf), ("action", "duplicate"), ("of", light.reference),
         ("ref", await ticked(database_url, WATER))],
    )  # fmt: skip
    assert marked.status == 303
    stored = await wish_of(database_url, WATER)
    assert (stored.status, stored.duplicate_of) == ("duplicate", light.id)

    assign_form = {"csrf": csrf, "to": str(official_id(await every(database_url, ConsoleSession)))}
    assigned = await desk.post(f"/staff/wish/{light.reference}/assign", assign_form)
    assert assigned.status == 303
    mine = await desk.get("/staff?mine=1")
    assert f"/staff/wish/{light.reference}" in mine.text
    assert (await wish_of(database_url, LIGHT)).assigned_to == int(assign_form["to"])

    held = desk.cookie
    out = await desk.post("/staff/logout", {"csrf": csrf})
    assert out.status == 200 and say("en", "console.logged_out") in out.text
    assert desk.cookie is None
    # The old cookie replayed (a copy kept elsewhere) opens nothing: the session ended.
    replayed = Desk(runtime.base_url, cookie=held)
    assert (await replayed.get("/staff")).status == 401
    assert (await replayed.post(f"/staff/wish/{light.reference}/assign", assign_form)).status == 401
    actions = [e.action for e in await rows(database_url, AuditEntry)]
    assert actions == ["login", "move_topic", "move_topic", "duplicate", "assign", "logout"]


def official_id(sessions: list[ConsoleSession]) -> int:
    [session] = sessions
    return session.person_id


async def appeal_on(
    runtime: Any, database_url: str, wish: Wish, name: str, address: str, days: int
) -> None:
    """An appeal as APPEALS registers one: number N-7, due `days` from today, the
    appellant's name and address sealed."""
    sealed = sealer_for(runtime.pseudonyms).seal({"name": name, "address": address})
    today = dt.date.today()
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            session.add(
                Appeal(
                    wish_id=wish.id,
                    municipality_id=wish.municipality_id,
                    number="N-7",
                    sealed=sealed,
                    registered_on=today - dt.timedelta(days=20),
                    due_on=today + dt.timedelta(days=days),
                    first_due_on=today + dt.timedelta(days=days),
                )
            )
        async with db.session() as session:
            assert await session.scalar(select(Appeal.id).where(Appeal.wish_id == wish.id))
    finally:
        await db.close()


async def test_a_cards_photos_and_place_open_for_staff_by_signed_links(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    runtime = await start_bot("webhook")
    await bin_photographed(runtime, telegram, 8160, say, place=True)
    [wish] = await rows(database_url, Wish)
    [photo] = await rows(database_url, WishPhoto)
    _, desk = await staff_desk(runtime, telegram, civicbot, 8161)
    card = await desk.get(f"/staff/wish/{wish.reference}")
    [source] = re.findall(r'<img class="photo" src="([^"]+)"', card.text)
    assert source.startswith(f"/media/{photo.key}?until=")  # this server's, signed for staff
    status, _, headers = await get(runtime.base_url + source.replace("&amp;", "&"))
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert wish.latitude is not None and wish.longitude is not None  # as stored: rounded
    assert f"?mlat={wish.latitude:.5f}&amp;mlon={wish.longitude:.5f}" in card.text


async def test_the_web_chat_shows_the_link_once_and_carries_it_nowhere(
    start_bot: StartBot, civicbot: Civicbot
) -> None:
    """A staff member in the web chat: the link's answer is on the page once; the next page
    carries the conversation on, without it (not in a message, not in the hidden history)."""
    runtime = await start_bot("webhook")
    async with session_from() as http:
        visitor = WebVisitor(runtime.base_url, http)
        assert await visitor.open() == 200
        await visitor.post(text=f"/start inv-{await invite_code(civicbot, 'staff', 'naryn_city')}")
        await visitor.post(text="/web")
        [link] = [m for m in visitor.messages() if LINK.search(m)]
        token = link.rsplit("/", 1)[1].split()[0]
        await visitor.post(text="/help")
        assert token not in visitor.page and visitor.conversation()


async def test_the_village_filter_lists_wishes_of_residents_who_said_they_live_there(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say, database_url: str
) -> None:
    """A village is known only for residents who said it (at a poll's end): the filter shows
    their wishes and no one else's; a village that is not a number is a 400."""
    runtime = await started(start_bot, telegram)
    other = await resident(runtime, telegram, 8103, "ky")
    await other.leave_wish("change", category("roads")["ky"], "Көпүрө бузулду")
    rc, _, err = await civicbot(
        "municipality",
        "village-add",
        "naryn_city",
        "--name-ky",
        "Тёплый ключ",
        "--name-en",
        "Warm Spring",
    )
    assert rc == 0, err
    [village] = await rows(database_url, Village)
    villager = (await wish_of(database_url, LIGHT)).person_id
    await execute(
        database_url, update(Person).where(Person.id == villager).values(village_id=village.id)
    )
    _, desk = await staff_desk(runtime, telegram, civicbot, 8160)

    page = await desk.get("/staff")
    assert "Warm Spring" in page.text  # offered, in the official's language
    listed = await desk.get(f"/staff?village={village.id}")
    assert listed.status == 200
    assert LIGHT in listed.text and WATER in listed.text
    assert "Көпүрө бузулду" not in listed.text and OSH not in listed.text
    assert "Көпүрө бузулду" in page.text  # the waiting list without the filter has it
    for wrong in ("x", "²", "1" * 20):
        assert (await desk.get(f"/staff?village={wrong}")).status == 400
