"""Answers on time in public, read in a real headless browser (as tests/test_pages.py does):
a municipality's figures on its page, the national page ranking those with enough items in
order (the one with too few left out) beside the whole country's figures, and the same in
the statistics JSON and `/accountability.json` — counts only, no text of any wish."""

from __future__ import annotations

import datetime as dt

from playwright.async_api import Browser

from handlers.accountability import MIN_ITEMS
from tests.accountability import BISHKEK, Item, local, put
from tests.conftest import Say, StartBot
from tests.test_open_data import get


def today() -> dt.date:
    return dt.datetime.now(BISHKEK).date()


def three_places() -> list[Item]:
    """Naryn: ten wishes and an appeal answered the day they came, an appeal overdue
    (12 counted, 11 in time); Osh: five answered the same day, five never answered that
    arrived 60 days ago (overdue, due within the 12 weeks, before the 4); Lenin: nine
    answered, one short of a place in the ranking."""
    two_weeks_ago, forty_days_ago = today() - dt.timedelta(days=14), today() - dt.timedelta(40)
    same_day = [(local(two_weeks_ago, 10), local(two_weeks_ago, 11))]
    return [
        *(Item("naryn_city", *same_day[0]) for _ in range(10)),
        Item("naryn_city", *same_day[0], due=two_weeks_ago + dt.timedelta(days=3)),
        Item("naryn_city", local(forty_days_ago), due=today() - dt.timedelta(days=20)),
        *(Item("osh", *same_day[0]) for _ in range(5)),
        *(Item("osh", local(today() - dt.timedelta(days=60))) for _ in range(5)),
        *(Item("lenin", *same_day[0]) for _ in range(MIN_ITEMS - 1)),
    ]


async def test_the_figures_and_the_ranking_are_read_in_the_browser(
    start_bot: StartBot, browser: Browser, say: Say, database_url: str
) -> None:
    await put(database_url, three_places())
    runtime = await start_bot("webhook")
    page = await browser.new_page()
    response = await page.goto(f"{runtime.base_url}/m/naryn_city?lang=en")
    assert response is not None and response.status == 200
    section = page.locator("#accountability")
    assert await section.get_by_role("heading", name=say("en", "accountability.heading")).count()
    rows = [" ".join((await row.inner_text()).split()) for row in await section.locator("tr").all()]
    assert rows == [
        "Last 4 weeks Last 12 weeks",
        "Appeals answered 1 1",
        "Wishes answered 10 10",
        "Answered within 14 working days 92% (11 of 12) 92% (11 of 12)",
        "Median working days to answer 0 0",
    ]
    overdue = await page.locator("#overdue").inner_text()
    assert overdue == say("en", "accountability.overdue", appeals=1, wishes=0)
    assert "Text that no figure shows" not in await section.inner_text()  # (it is in the list)

    # The national page, from the index's link, in Russian.
    await page.goto(f"{runtime.base_url}/?lang=ru")
    await page.get_by_role("link", name=say("ru", "accountability.national_link")).click()
    await page.wait_for_load_state()
    assert await page.evaluate("document.documentElement.lang") == "ru"
    ranking = page.locator("#ranking tr")
    assert [" ".join((await r.inner_text()).split()) for r in await ranking.all()][1:] == [
        "1 город Нарын Нарынская область 92% 0 12 1",
        "2 город Ош город Ош 50% 0 10 5",
    ]
    country = await page.locator("#country").inner_text()  # (11 + 5 + 9) of (12 + 10 + 9)
    assert country == say("ru", "accountability.country", share="81%", median="0", counted=31)
    # Four weeks: Osh's unanswered wishes fell due before them; five items are too few.
    await page.get_by_role("link", name=say("ru", "accountability.period", weeks=4)).click()
    await page.wait_for_load_state()
    names = await page.locator("#ranking th[scope=row] a").all_inner_texts()
    assert names == ["город Нарын"]
    await page.locator("#ranking th[scope=row] a").first.click()
    await page.wait_for_load_state()
    assert page.url.endswith("/m/naryn_city?lang=ru")

    # The same as open data.
    status, stats, _ = await get(runtime, "/stats/naryn_city.json")
    assert status == 200
    figures = stats["accountability"]
    assert figures["answer_days"] == 14 and figures["overdue_now"] == {"appeals": 1, "wishes": 0}
    assert [
        {k: p[k] for k in ("weeks", "appeals_answered", "wishes_answered", "counted")}
        | {k: p[k] for k in ("answered_in_time", "share_in_time", "median_working_days")}
        for p in figures["periods"]
    ] == [
        {"weeks": weeks, "appeals_answered": 1, "wishes_answered": 10, "counted": 12,
         "answered_in_time": 11, "share_in_time": 92, "median_working_days": 0.0}
        for weeks in (4, 12)
    ]  # fmt: skip
    status, national, _ = await get(runtime, "/accountability.json")
    assert status == 200 and national["min_items"] == MIN_ITEMS
    four, twelve = national["periods"]
    assert [r["municipality"]["key"] for r in twelve["ranking"]] == ["naryn_city", "osh"]
    assert [r["municipality"]["key"] for r in four["ranking"]] == ["naryn_city"]
    assert twelve["share_in_time"] == 81 and twelve["counted"] == 31
    assert twelve["ranking"][1]["overdue_now"] == {"appeals": 0, "wishes": 5}
    assert national["overdue_now"] == {"appeals": 1, "wishes": 5}
    for odd in ("?weeks=5", "?weeks=-4", "?weeks=" + "9" * 400, "?lang=xx&weeks=4.0"):
        status, _, text = await get(runtime, "/accountability" + odd)
        assert status == 200 and "Ош шаары" in text, odd  # Kyrgyz, the 12 weeks
