"""`/digest` mid-week on the wire (the fake Bot API): beside the last finished week's digest,
the week under way so far; its answers counted as wishes (one answered twice is one), so that
the statuses add up to the number answered; and a wish no one has answered shown as
"received" in the staff's table and on the public page."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import aiohttp

from bot.digests.text import day
from handlers.weeks import Week
from tests.conftest import Civicbot, StartBot
from tests.digests import (
    last_week,
    official_on_telegram,
    sent_to,
    wish_last_week,
)
from tests.fake_telegram import FakeTelegram
from tests.initiatives import today
from tests.places import category, municipality

STAFF = 8601


async def test_digest_mid_week_shows_the_week_so_far_and_counts_wishes_not_answers(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    say: Callable[..., str],
) -> None:
    runtime = await start_bot("webhook")
    wish = ("change", "roads", "The old pothole")
    resident = await wish_last_week(runtime, telegram, database_url, 8602, "en", "lenin", wish)
    references = {}
    for text, topic in (
        ("The water pipe burst", "drinking_water"),
        ("No light on Frunze street", "street_lighting"),
        ("Garbage again", "garbage"),
    ):
        [saved] = await resident.leave_wish("change", category(topic)["en"], text)
        references[text] = next(word for word in saved.split() if word.isdigit())
    staff = await official_on_telegram(
        runtime, telegram, civicbot, STAFF, "en", role="staff", municipality="lenin"
    )
    water, light = references["The water pipe burst"], references["No light on Frunze street"]
    for reference, status, words in (
        (water, "in_progress", "The crew comes tomorrow"),
        (water, "done", "Fixed"),
        (light, "done", "The lamp is replaced"),
    ):
        assert await staff.send(f"/answer {reference} {status} {words}") == [
            say("en", "answer.saved", reference=reference, status=say("en", f"status.{status}"))
        ]

    start = len(telegram.calls)
    await staff.send("/digest")
    sent = sent_to(telegram, STAFF, start)
    assert [kind for kind, _ in sent] == ["text", "photo", "document", "text"]
    place = municipality("lenin")["en"]
    finished = sent[0][1].splitlines()
    week = last_week()
    assert finished[0] == say(
        "en", "digest.title", place=place, first=day(week.monday, "en"),
        last=day(week.sunday, "en"), week=week.number,
    ).splitlines()[0]  # fmt: skip
    assert say("en", "digest.wishes", count=1, before=0) in finished
    table = telegram.delivered_to(STAFF, start)[2].params["document"]
    [row] = list(csv.DictReader(io.StringIO(table["content"].decode("utf-8-sig"))))
    assert (row["Status"], row["status_key"]) == (say("en", "status.received"), "accepted")

    current = Week.of(today())
    so_far = sent[3][1].splitlines()
    assert "\n".join(so_far[:2]) == say(
        "en", "digest.title_so_far", place=place, first=day(current.monday, "en"),
        last=day(today(), "en"), week=current.number,
    )  # fmt: skip
    assert say("en", "digest.wishes", count=3, before=1) in so_far
    # Three answers to two wishes: two wishes answered, both done in the end.
    assert say("en", "digest.answered", count=2) in so_far
    done = f"{say('en', 'status.done')} 2"
    assert "   • " + say("en", "digest.answers", counts=done) in so_far

    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{runtime.base_url}/m/lenin?lang=en") as response,
    ):
        page = await response.text()
    assert response.status == 200
    assert f"{references['Garbage again']} · {say('en', 'status.received')}" in page
    assert f"{water} · {say('en', 'status.done')}" in page
