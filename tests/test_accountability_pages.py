"""Answers on time in public, read in a real headless browser (as tests/test_pages.py does):
a municipality's figures on its page, the national page ranking those with enough items in
order (the one with too few left out) beside the whole country's figures, and the same in
the statistics JSON and `/accountability.json` — counts only, no text of any wish."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.async_api import Browser

from bot.reports.accountability import COLUMNS
from handlers.accountability import MIN_ITEMS
from tests.accountability import SEALED, freeze, put, three_places, today
from tests.conftest import Civicbot, Say, StartBot
from tests.test_open_data import get


async def test_the_figures_and_the_ranking_are_read_in_the_browser(
    start_bot: StartBot,
    browser: Browser,
    say: Say,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    freeze(monkeypatch)
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
        "Answered within 14 working days 91% (11 of 12) 91% (11 of 12)",
        "Median working days to answer 0 0",
    ]
    overdue = await page.locator("#overdue").inner_text()
    assert overdue == say("en", "accountability.overdue", appeals=1, wishes=0)
    assert "Text that no figure shows" not in await section.inner_text()  # (it is in the list)
    assert SEALED not in await page.content()

    # The national page, from the index's link, in Russian.
    await page.goto(f"{runtime.base_url}/?lang=ru")
    await page.get_by_role("link", name=say("ru", "accountability.national_link")).click()
    await page.wait_for_load_state()
    assert await page.evaluate("document.documentElement.lang") == "ru"
    ranking = page.locator("#ranking tr")
    assert [" ".join((await r.inner_text()).split()) for r in await ranking.all()][1:] == [
        "1 город Нарын Нарынская область · учтено: 12 91% 0 1",
        "2 город Ош город Ош · учтено: 10 50% 0 5",
    ]
    country = await page.locator("#country").inner_text()  # (11 + 5 + 9) of (12 + 10 + 9)
    assert country == say("ru", "accountability.country", share="80%", median="0", counted=31)
    # Four weeks: Osh's unanswered wishes fell due before them; five items are too few.
    await page.get_by_role("link", name=say("ru", "accountability.period", weeks=4)).click()
    await page.wait_for_load_state()
    names = await page.locator("#ranking th[scope=row] a").all_inner_texts()
    assert names == ["город Нарын"]
    await page.locator("#ranking th[scope=row] a").first.click()
    await page.wait_for_load_state()
    assert page.url.endswith("/m/naryn_city?lang=ru")

    # On a phone's screen neither page scrolls sideways; a table wider than the screen
    # scrolls in its own box, the place and its share in time always in sight.
    phone = await browser.new_page(viewport={"width": 360, "height": 740})
    shares = {
        "/accountability?lang=ky": "#ranking tr td:nth-child(3)",
        "/m/naryn_city?lang=ru": "#accountability tr td:nth-child(2)",
    }
    for path, cell in shares.items():
        await phone.goto(runtime.base_url + path)
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 360, path
        edges = await phone.eval_on_selector_all(
            cell, "cells => cells.map(c => c.getBoundingClientRect().right)"
        )
        assert edges and max(edges) <= 360, (path, edges)

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
         "answered_in_time": 11, "share_in_time": 91, "median_working_days": 0.0}
        for weeks in (4, 12)
    ]  # fmt: skip
    status, national, national_text = await get(runtime, "/accountability.json")
    assert SEALED not in national_text + str(stats)
    assert status == 200 and national["min_items"] == MIN_ITEMS
    four, twelve = national["periods"]
    assert [r["municipality"]["key"] for r in twelve["ranking"]] == ["naryn_city", "osh"]
    assert [r["municipality"]["key"] for r in four["ranking"]] == ["naryn_city"]
    assert twelve["share_in_time"] == 80 and twelve["counted"] == 31
    assert twelve["ranking"][1]["overdue_now"] == {"appeals": 0, "wishes": 5}
    assert national["overdue_now"] == {"appeals": 1, "wishes": 5}
    for odd in ("?weeks=5", "?weeks=-4", "?weeks=" + "9" * 400, "?lang=xx&weeks=4.0"):
        status, _, text = await get(runtime, "/accountability" + odd)
        assert status == 200 and "Ош шаары" in text, odd  # Kyrgyz, the 12 weeks


async def test_the_operators_export_has_every_municipalitys_figures_and_no_one(
    civicbot: Civicbot, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openpyxl import load_workbook

    freeze(monkeypatch)
    await put(database_url, three_places())
    out = tmp_path / "all.csv"
    rc, _, err = await civicbot("export", "accountability", "--output", str(out))
    assert rc == 0, err
    text = out.read_text(encoding="utf-8")
    table = list(csv.DictReader(io.StringIO(text)))
    assert SEALED not in text and "Text that no figure shows" not in text
    assert len(table) == 2 * len({row["municipality"] for row in table}) > 500  # 4 and 12 weeks
    naryn = [row for row in table if row["municipality"] == "naryn_city"]
    assert [[row[column] for column in COLUMNS[2:]] for row in naryn] == [
        [weeks, first, last, "1", "10", "12", "11", "91", "0.0", "1", "0", "14"]
        for weeks, first, last in [(r["weeks"], r["from"], r["to"]) for r in naryn]
    ]
    assert [(row["weeks"], row["to"]) for row in naryn] == [
        (w, today().isoformat()) for w in ["4", "12"]
    ]
    quiet = next(row for row in table if row["municipality"] == "chaek")
    assert (quiet["counted"], quiet["share_in_time"], quiet["median_working_days"]) == ("0", "", "")
    # One municipality, as a spreadsheet named for it.
    monkeypatch.chdir(tmp_path)
    rc, _, err = await civicbot(
        "export", "accountability", "--format", "xlsx", "--municipality", "osh"
    )
    day = today().isoformat()
    assert rc == 0 and f"written to accountability-osh-{day}.xlsx" in err, err
    sheet = load_workbook(tmp_path / f"accountability-osh-{day}.xlsx").active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == COLUMNS
    osh = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [
        (row["municipality"], row["region"], row["weeks"], row["counted"], row["share_in_time"])
        for row in osh
    ] == [("osh", "osh_city", 4, 5, 100), ("osh", "osh_city", 12, 10, 50)]
    rc, _, err = await civicbot("export", "accountability", "--municipality", "atlantis")
    assert rc == 2 and "unknown municipality 'atlantis'" in err


async def test_with_nothing_counted_the_pages_say_so_and_the_json_has_nulls(
    start_bot: StartBot, say: Say
) -> None:
    runtime = await start_bot("webhook")
    status, _, text = await get(runtime, "/accountability?lang=en")
    assert status == 200 and say("en", "accountability.nobody_ranked", min=MIN_ITEMS) in text
    assert say("en", "accountability.country", share="—", median="—", counted=0) in text
    status, national, _ = await get(runtime, "/accountability.json")
    assert status == 200 and [p["ranking"] for p in national["periods"]] == [[], []]
    assert {(p["share_in_time"], p["median_working_days"]) for p in national["periods"]} == {
        (None, None)
    }
    status, _, text = await get(runtime, "/m/osh?lang=en")
    assert status == 200 and say("en", "accountability.overdue", appeals=0, wishes=0) in text
