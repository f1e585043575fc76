"""The staff console in Debian's chromium, at a desktop's and a phone's size: sign in by the
link the bot sent, find a wish by its reference, answer it — two requests a wish, the POST
and the page it leads to, counted with Playwright's request events — and the resident hears
back on Telegram; the link, used once, is refused the second time, and so is one expired;
another municipality's wish is not found by its address. No script on the pages."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import Browser, Page, Request
from sqlalchemy import update

from storage.models import ConsoleLink, utcnow
from tests.conftest import Civicbot, Say, StartBot, execute
from tests.console_desk import link_for
from tests.digests import official_on_telegram
from tests.fake_telegram import FakeTelegram
from tests.places import category
from tests.test_answers import resident, texts_to
from tests.test_console_http import OSH, wish_of

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
FITS = "document.documentElement.scrollWidth <= window.innerWidth"  # no sideways scrolling
TEXTS = ("Көчөдө жарык жок", "Суу жок үч күндөн бери", "Таштанды чыгарылбай жатат")


@pytest.mark.parametrize("size", list(SIZES))
async def test_staff_sign_in_find_and_answer_in_two_requests_a_wish(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    browser: Browser,
    say: Say,
    database_url: str,
    size: str,
) -> None:
    runtime = await start_bot("webhook")
    naryn = await resident(runtime, telegram, 8201, "ky")
    for text, topic in zip(TEXTS, ("street_lighting", "drinking_water", "garbage"), strict=True):
        await naryn.leave_wish("change", category(topic)["ky"], text)
    elsewhere = await resident(runtime, telegram, 8202, "en", place="osh")
    await elsewhere.leave_wish("change", category("roads")["en"], OSH)
    staff = await official_on_telegram(
        runtime, telegram, civicbot, 8210, "en", role="staff", municipality="naryn_city"
    )
    path = await link_for(staff, telegram)
    width, height = SIZES[size]
    context = await browser.new_context(
        viewport={"width": width, "height": height}, java_script_enabled=False, locale="en-US"
    )
    page = await context.new_page()
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))

    # Sign in: the link's page asks for one press.
    await page.goto(runtime.base_url + path)
    await page.get_by_role("button", name=say("en", "console.login_button")).click()
    assert page.url == runtime.base_url + "/staff"
    assert await page.locator("tbody tr").count() == 3
    assert await page.evaluate(FITS)

    # Find the water wish by its reference; open its card.
    water = await wish_of(database_url, TEXTS[1])
    await page.get_by_label(say("en", "console.search")).fill(water.reference)
    await page.get_by_role("button", name=say("en", "console.apply")).click()
    assert await page.locator("tbody tr").count() == 1
    await page.get_by_role("link", name=water.reference).click()
    assert TEXTS[1] in await page.locator(".msg").inner_text()

    # Answer it: the list searched holds no other, so the list follows, saying so.
    await answer(page, requests, say, "Суу берилди")
    assert say("en", "inbox.none_left") in await page.locator("body").inner_text()

    # The waiting list: open its first, answer it and the next the console leads to.
    await page.get_by_role("link", name=say("en", "console.inbox_title")).click()
    assert await page.locator("tbody tr").count() == 2
    await page.locator("tbody a").first.click()
    answered = []
    for words in ("Жарык орнотулду", "Таштанды чыгарылды"):
        answered.append((await page.locator("h1").inner_text()).rsplit(" ", 1)[1])
        await answer(page, requests, say, words)
    assert len(set(answered)) == 2 and water.reference not in answered
    assert say("en", "inbox.none_left") in await page.locator("body").inner_text()
    told = say(
        "ky", "answer.notice", reference=water.reference,
        status=say("ky", "status.done"), text="Суу берилди",
    )  # fmt: skip
    await texts_to(telegram, 8201, told)

    # The link again, in another browser: refused, and no one is signed in by it.
    other = await browser.new_context(viewport={"width": width, "height": height})
    again = await other.new_page()
    response = await again.goto(runtime.base_url + path)
    assert response is not None and response.status == 410
    assert say("en", "console.link_used") in await again.locator("body").inner_text()
    assert await other.cookies() == []
    # Expired: a new link left for ten minutes is refused too.
    late = await link_for(staff, telegram)
    await execute(database_url, update(ConsoleLink).where(ConsoleLink.used_at.is_(None)).values(
        expires_at=utcnow() - dt.timedelta(seconds=1)
    ))  # fmt: skip
    response = await again.goto(runtime.base_url + late)
    assert response is not None and response.status == 410
    assert say("en", "console.link_expired") in await again.locator("body").inner_text()
    assert await other.cookies() == []
    await other.close()

    # Another municipality's wish, by its address: not found for this staff member.
    osh = await wish_of(database_url, OSH)
    response = await page.goto(f"{runtime.base_url}/staff/wish/{osh.reference}")
    assert response is not None and response.status == 404
    assert OSH not in await page.locator("body").inner_text()
    await context.close()


async def answer(page: Page, requests: list[Request], say: Say, words: str) -> None:
    """Done, with words, on the card shown: exactly two requests, the POST and its GET."""
    await page.get_by_label(say("en", "status.done")).check()
    await page.get_by_label(say("en", "console.answer_text", limit=500)).fill(words)
    before = len(requests)
    await page.get_by_role("button", name=say("en", "console.send")).click()
    await page.wait_for_load_state()
    made = [(r.method, r.resource_type) for r in requests[before:]]
    assert made == [("POST", "document"), ("GET", "document")], made
    assert await page.evaluate(FITS)
