"""Polls on the public page, read in a real headless browser (as tests/test_pages.py does): a
closed poll's results with their chart, by village with withheld cells and by channel with
paper apart, and who answered; a budget round's funded items; an open poll's question and
how to answer, with no figures yet. The statistics JSON gives the same, aggregates only."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
from playwright.async_api import Browser

from handlers import ballots
from storage import queries
from storage.db import Database
from storage.models import Poll, utcnow
from tests.conftest import Say, StartBot


async def polls_with_answers(database_url: str) -> tuple[Poll, Poll, Poll]:
    """A closed poll (village 1: 8 + 6, of them 5 on paper; village 2: 7 + 2; village 3:
    5 + 5), a closed
    budget round and an open poll, in Naryn (population 10,000; its first village 2,000)."""
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            place = await queries.municipality_by_key(session, "naryn_city")
            assert place is not None
            place.population = 10_000
            first = await queries.add_village(
                session, place.id, {"ky": "Ак-Талаа", "en": "Ak-Talaa"}, 2000
            )
            second = await queries.add_village(
                session, place.id, {"ky": "Көк-Жар", "en": "Kok-Jar"}
            )
            third = await queries.add_village(
                session, place.id, {"ky": "Кара-Суу", "en": "Kara-Suu"}
            )
            ended = {"status": "closed", "closed_at": utcnow() - timedelta(hours=1)}
            road = await queries.add_poll(
                session, place.id, {"ky": "Кайсы жол?", "en": "Which road first?"},
                [{"label_ky": "Базар", "label_en": "Market street"},
                 {"label_ky": "Мектеп", "label_en": "School street"}],
                utcnow() - timedelta(hours=1), opens_at=utcnow() - timedelta(days=7), **ended,
            )  # fmt: skip
            n = 0
            for village, choice, count, channel in [
                (first, 1, 3, "telegram"), (first, 1, 5, "paper"), (first, 2, 6, "sms"),
                (second, 1, 7, "telegram"), (second, 2, 2, "sms"),
                (third, 1, 5, "telegram"), (third, 2, 5, "whatsapp"),
            ]:  # fmt: skip
                for _ in range(count):
                    n += 1
                    key = ballots.paper_key() if channel == "paper" else f"voter-{n}"
                    await queries.record_answer(
                        session, road.id, key, [choice], utcnow().date(),
                        channel=channel, village_id=village.id, gender="f" if n % 2 else "m",
                    )  # fmt: skip
            budget = await queries.add_poll(
                session, place.id, {"ky": "Бюджет 2027", "en": "Budget 2027"},
                [{"label_ky": "Жол", "label_en": "Road", "cost": 60},
                 {"label_ky": "Чатыр", "label_en": "Roof", "cost": 50},
                 {"label_ky": "Суу", "label_en": "Water", "cost": 30}],
                utcnow() - timedelta(hours=1), kind="budget", max_choices=3, budget_total=100,
                **ended,
            )  # fmt: skip
            for k, choices in enumerate(([3, 1], [3, 2], [3])):
                await queries.record_answer(
                    session, budget.id, f"b{k}", choices, utcnow().date(), channel="telegram"
                )
            still = await queries.add_poll(
                session, place.id, {"ky": "Парк керекпи?", "en": "Do we need a park?"},
                [{"label_ky": "Ооба", "label_en": "Yes, a park"},
                 {"label_ky": "Жок", "label_en": "No park"}],
                utcnow() + timedelta(days=3), status="open", opens_at=utcnow() - timedelta(days=1),
            )  # fmt: skip
            await queries.record_answer(
                session, still.id, "o1", [1], utcnow().date(), channel="sms"
            )
    finally:
        await db.close()
    return road, budget, still


async def test_a_closed_polls_results_are_read_on_the_page_in_the_browser(
    start_bot: StartBot, browser: Browser, say: Say, database_url: str
) -> None:
    road, budget, still = await polls_with_answers(database_url)
    runtime = await start_bot("webhook")
    page = await browser.new_page()
    response = await page.goto(f"{runtime.base_url}/m/naryn_city?lang=en")
    assert response is not None and response.status == 200
    assert (
        await page.get_by_role("heading", name=say("en", "poll_results.page_heading")).count() == 1
    )
    section = page.locator(f"#poll-{road.code}")
    text = " ".join((await section.inner_text()).split())
    assert f"{road.code}: Which road first?" in text
    assert (
        " ".join(
            say(
                "en",
                "poll_results.page_closed",
                closed=text.split("Closed: ")[1].split(".")[0],
                total=33,
                paper=5,
                joined=0,
            ).split()
        )
        in text
    )
    # The chart: one bar per option, its figure in words for a screen reader.
    bars = section.get_by_role("img")
    assert await bars.count() == 2
    assert await bars.nth(0).get_attribute("aria-label") == "Market street: 20 (61%)"
    assert await bars.nth(1).get_attribute("aria-label") == "School street: 13 (39%)"
    # By village: Kok-Jar's 2 is withheld, and so its 7 (or its total would give the 2
    # back), and Kara-Suu's 5 beside it (or option 1's 20 would), and then its other 5.
    villages = section.locator("table").nth(0)
    assert [
        " ".join((await row.inner_text()).split()) for row in await villages.locator("tr").all()
    ][1:] == ["Ak-Talaa 14 8 6", "Kok-Jar 9 <5 <5", "Kara-Suu 10 <5 <5"]
    channels = " ".join((await section.locator("table").nth(1).inner_text()).split())
    # Paper apart, with its total; each channel's 0 for one option would give the other.
    assert f"{say('en', 'poll_results.paper')} 5 <5 <5" in channels
    assert "Telegram 15 <5 <5" in channels
    assert (
        say(
            "en",
            "poll_results.reach",
            name="Ak-Talaa",
            answers=14,
            population=2000,
            per_thousand=7.0,
        )
        in text
    )
    assert say("en", "poll_results.reach_unknown", name="Kok-Jar", answers=9) in text
    assert say("en", "poll_results.women", percent=52, said=33) in text

    # Items by votes, as the funding takes them: Water (3 votes), then Roof and Road (1 each:
    # the cheaper first); Road's 60 no longer fits the 20 left.
    budget_section = page.locator(f"#poll-{budget.code}")
    labels = [
        await bar.get_attribute("aria-label")
        for bar in await budget_section.get_by_role("img").all()
    ]
    assert labels == ["Water: 3 (100%)", "Roof: 1 (33%)", "Road: 1 (33%)"]
    round_text = " ".join((await budget_section.inner_text()).split())
    assert say("en", "budget.page_total", budget=100, spent=80) in round_text
    funded, not_funded = say("en", "budget.funded"), say("en", "budget.not_funded")
    assert f"{say('en', 'budget.cost', cost=30)} · {funded}" in round_text
    assert f"{say('en', 'budget.cost', cost=50)} · {funded}" in round_text
    assert f"{say('en', 'budget.cost', cost=60)} · {not_funded}" in round_text

    open_text = " ".join((await page.locator(f"#poll-{still.code}").inner_text()).split())
    assert say("en", "poll_results.page_how", code=still.code) in open_text
    assert "Yes, a park" not in open_text  # no figures while answering goes on
    assert await page.evaluate("document.scripts.length") == 0

    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{runtime.base_url}/stats/naryn_city.json") as got,
    ):
        stats = await got.json()
    polls = {p["code"]: p for p in stats["polls"]}
    question = {"ky": "Парк керекпи?", "ru": "Парк керекпи?", "en": "Do we need a park?"}
    opened = polls[still.code]
    assert opened == {
        "code": still.code, "kind": "single", "question": question, "status": "open",
        "opens_at": opened["opens_at"], "closes_at": opened["closes_at"], "answers": 1,
    }  # fmt: skip
    closed = polls[road.code]
    assert [o["count"] for o in closed["options"]] == [20, 13] and closed["paper"] == 5
    assert [v["counts"] for v in closed["by_village"]] == [[8, 6], [None, None], [None, None]]
    assert closed["representativeness"]["population"] == 10_000
    items = [(o["number"], o["count"], o["funded"]) for o in polls[budget.code]["options"]]
    assert items == [(3, 3, True), (2, 1, True), (1, 1, False)]
    assert polls[budget.code]["budget"] == {"total": 100, "funded": 80}
    assert "voter-1" not in str(stats)
