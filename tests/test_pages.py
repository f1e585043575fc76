"""The public pages and the web chat: in a real headless browser (Debian's chromium, driven
by Playwright with its executable path), a wish left in the browser end to end, seen on the
municipality's page and read back through Open311; the pages rendering whole under their
Content-Security-Policy; the security headers; and the web chat's bad input over HTTP."""

from __future__ import annotations

import io
import re
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page

from bot.web.security_headers import PAGE_POLICY
from tests.conftest import Civicbot, Say, StartBot
from tests.fake_telegram import FakeTelegram
from tests.initiatives import ADULT_PIN, SIGN, open_initiative
from tests.places import category
from tests.test_answers import change, wishes
from tests.test_photos_public import BIN, bin_photographed
from tests.web_visitor import WebVisitor

SCRIPT = "<script>window.pwned = 1</script>"


async def press(page: Page, label: str) -> None:
    await page.get_by_role("button", name=label, exact=True).click()
    await page.wait_for_load_state()


async def last_message(page: Page) -> str:
    return await page.locator("div.msg[role=status]").last.inner_text()


def _luminance(rgb: str) -> float:
    """WCAG relative luminance of a computed CSS colour, "rgb(r, g, b)"."""
    channels = [int(v) / 255 for v in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


async def contrast(page: Page, selector: str) -> float:
    """The contrast ratio of the first such element's text on the page's background."""
    colour = await page.eval_on_selector(selector, "e => getComputedStyle(e).color")
    paper = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    light, dark = sorted((_luminance(colour), _luminance(paper)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


async def test_a_wish_left_in_the_browser_reaches_the_page_and_open311(
    start_bot: StartBot, browser: Browser, say: Say, database_url: str, tmp_path: Path
) -> None:
    runtime = await start_bot("webhook")
    page = await browser.new_page()
    await page.goto(f"{runtime.base_url}/try?lang=en")
    assert await page.evaluate("document.documentElement.lang") == "en"
    await press(page, say("en", "try.start"))
    await press(page, "English")
    await press(page, "Naryn Region")
    await press(page, "Naryn city")
    await page.fill("#text", f"{SCRIPT} No water on Lenin street for three days")
    await press(page, say("en", "try.send"))
    await press(page, say("en", "kind.change"))
    if await page.get_by_role("button", name=say("en", "category.drinking_water")).count():
        await press(page, say("en", "category.drinking_water"))
    thanks = await last_message(page)
    assert thanks.startswith("Thank you!"), thanks
    [wish] = (await wishes(database_url)).values()
    assert wish.reference in thanks and wish.channel == "web"
    assert await page.evaluate("typeof window.pwned") == "undefined"

    # The municipality's page shows it, inert, in the visitor's language.
    response = await page.goto(f"{runtime.base_url}/m/naryn_city?lang=en")
    assert response is not None and response.status == 200
    body = await page.locator("body").inner_text()
    assert f"«{SCRIPT} No water on Lenin street for three days»" in body
    assert wish.reference in body
    assert await page.evaluate("typeof window.pwned") == "undefined"
    assert await page.evaluate("document.scripts.length") == 0
    assert await page.get_by_role("heading", name="Naryn city").count() == 1
    weight = len(await response.body())
    assert weight < 16_000, weight  # a page for a cheap phone on a slow line
    for selector in ("body", "a", ".muted", "h1"):  # WCAG AA: 4.5:1 for text
        assert await contrast(page, selector) >= 4.5, selector
    shot = tmp_path / "naryn_city.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")

    # …and Open311 gives it back.
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{runtime.base_url}/open311/v2/requests/{wish.reference}.json") as got,
    ):
        [request] = await got.json()
    assert request["description"] == f"{SCRIPT} No water on Lenin street for three days"
    assert request["agency_responsible"] == "Нарын шаары"  # locale: Kyrgyz by default

    # The index lists the place with its count; an unknown place is a 404 in the language.
    await page.goto(f"{runtime.base_url}/?lang=ru")
    assert "город Нарын (1)" in " ".join((await page.locator("body").inner_text()).split())
    missing = await page.goto(f"{runtime.base_url}/m/atlantis?lang=ru")
    assert missing is not None and missing.status == 404
    assert say("ru", "page.not_found") in await page.locator("h1").inner_text()


async def test_a_resident_without_telegram_writes_from_the_places_page_in_the_browser(
    start_bot: StartBot, browser: Browser, say: Say, database_url: str
) -> None:
    """The web chat as a resident's channel: reached from the municipality's page with the
    place already chosen; the actions are buttons, not commands to type; the whole
    conversation of the visit stays on the page; a town is not told of an ayil okmotu."""
    runtime = await start_bot("webhook")
    page = await browser.new_page()
    await page.goto(f"{runtime.base_url}/m/naryn_city?lang=ky")
    await page.get_by_role("list").get_by_role("link", name=say("ky", "page.try")).click()
    await page.wait_for_load_state()
    assert await page.locator("h1").inner_text() == say("ky", "try.title")
    assert await page.title() == say("ky", "try.title")
    await press(page, say("ky", "try.start"))
    assert say("ky", "place.set", place="Нарын шаары") in await last_message(page)
    await press(page, "Кыргызча")  # the place was carried: no region, no municipality asked
    menu = page.locator("div.menu button")
    assert await menu.all_inner_texts() == [
        say("ky", f"command.{name}") for name in ("change", "great", "help")
    ]  # the commands the answer names ("/change — …"), as buttons
    await press(page, say("ky", "command.change"))
    await press(page, category("roads")["ky"])
    await page.fill("#text", "Көчөдө жарык жок")
    await press(page, say("ky", "try.send"))
    assert page.url.endswith("#now")  # the page opens at the answer
    thanks = await last_message(page)
    [wish] = (await wishes(database_url)).values()
    assert wish.reference in thanks and wish.municipality_id is not None
    assert "айыл өкмөт" not in thanks and "мэрия" not in thanks  # Naryn is a town
    said = [" ".join(t.split()) for t in await page.locator("div.msg").all_inner_texts()]
    assert said[0] == say("ky", "command.start")  # the visit, from its start
    assert said[1].startswith(" ".join(say("ky", "start.welcome").split()))
    assert " ".join(say("ky", "place.set", place="Нарын шаары").split()) in said[1]
    assert say("ky", "command.change") in said and "Көчөдө жарык жок" in said
    assert said[-1] == " ".join(thanks.split())
    assert await page.locator("div.msg[role=status]").count() == 1  # only the answer is new
    # No buttons of its own: the commands it names, here the offer to make it an appeal.
    assert await menu.all_inner_texts() == [say("ky", "command.appeal")]


@pytest.mark.parametrize("language", ["ky", "ru", "en"])
async def test_the_web_chat_is_a_channel_not_a_trial_and_enter_sends_the_text(
    language: str, start_bot: StartBot, browser: Browser, say: Say
) -> None:
    """It is where residents without Telegram write: it does not call itself a try-out. And
    Enter in the text box sends what was typed, not the first of the buttons above it."""
    runtime = await start_bot("webhook")
    page = await browser.new_page()
    await page.goto(f"{runtime.base_url}/try?lang={language}")
    heading = (await page.locator("h1").inner_text()).casefold()
    assert not any(word in heading for word in ("try", "попроб", "сына")), heading
    await press(page, say(language, "try.start"))
    await press(page, {"ky": "Кыргызча", "ru": "Русский", "en": "English"}[language])
    await page.fill("#text", "Нарын")
    await page.press("#text", "Enter")  # at the region question: its buttons come first
    await page.wait_for_load_state()
    # The typed name was sent and searched for (a pressed first button would be a region).
    assert say(language, "place.matches", query="Нарын") in await last_message(page)


async def test_the_visits_conversation_is_the_visitors_own_and_keeps_no_private_step(
    start_bot: StartBot, say: Say
) -> None:
    """The conversation the form carries is sealed for its visitor: another visitor's, or a
    spoiled one, is an empty past (never an error); a bribe report's exchange is shown once
    and not carried on."""
    runtime = await start_bot("webhook")
    jar = aiohttp.CookieJar(unsafe=True)
    async with (
        aiohttp.ClientSession(cookie_jar=jar) as http,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other_http,
    ):
        visitor = WebVisitor(runtime.base_url, http)
        await visitor.settle_in_naryn()
        await visitor.leave_wish("Fix the road")
        assert "/change Fix the road" in visitor.conversation()
        assert visitor.conversation()[1].startswith(say("en", "start.welcome"))
        carried = visitor.field("history")

        other = WebVisitor(runtime.base_url, other_http)
        await other.open()
        status, _ = await other.post(text="/help", history=carried)
        assert status == 200 and "/change Fix the road" not in other.conversation()
        await visitor.post(command="bribe")
        service = say("en", "service.1")
        await visitor.post(button=visitor.buttons()[service])
        assert visitor.messages()[0].startswith(service)  # shown this once…
        await visitor.post(button=visitor.buttons()[say("en", "outcome.paid")])
        await visitor.post(text="/cancel")
        await visitor.post(command="help")
        conversation = " ".join(visitor.conversation())
        assert "Fix the road" in conversation
        assert service not in conversation  # …and not carried on

        # The seal's last character changed (to "0", or to "1" where it was "0" already).
        tampered = carried[:-1] + ("1" if carried.endswith("0") else "0")
        for spoiled in ("x.y", tampered, "!" * 70_000, carried.split(".")[0]):
            status, _ = await visitor.post(command="help", history=spoiled)
            assert status == 200 and visitor.conversation()[0] == say("en", "command.help")


HTML_PAGES = ("/?lang=en", "/m/naryn_city?lang=en", "/try?lang=en", "/m/atlantis?lang=en")


async def test_the_pages_render_whole_under_their_content_security_policy(
    start_bot: StartBot,
    telegram: FakeTelegram,
    browser: Browser,
    say: Say,
    database_url: str,
) -> None:
    """Styles, the topic bars and a public photo all show; the browser reports no violation
    of the policy; and it does enforce it (a foreign image put into the page is refused)."""
    runtime = await start_bot("webhook")
    await bin_photographed(runtime, telegram, 7501, say)
    await change(database_url, BIN, media_public=True)
    page = await browser.new_page()
    violations: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", seen)
    for path in HTML_PAGES:
        response = await page.goto(f"{runtime.base_url}{path}")
        assert response is not None
        assert await response.header_value("content-security-policy") == PAGE_POLICY, path
        assert (
            await page.evaluate("getComputedStyle(document.querySelector('nav')).borderBottomStyle")
            == "solid"
        )

    await page.goto(f"{runtime.base_url}/m/naryn_city?lang=en")
    assert await page.eval_on_selector(".bar", "e => getComputedStyle(e).display") == "flex"
    bar = await page.locator(".bar svg rect").first.bounding_box()
    assert bar is not None and bar["width"] > 0 and bar["height"] == 18
    photo = page.locator("img.photo")
    await photo.scroll_into_view_if_needed()
    await page.wait_for_function("document.querySelector('img.photo').complete")
    assert await photo.evaluate("img => img.naturalWidth") == 640
    await page.goto(f"{runtime.base_url}/try?lang=en")  # and its forms post under form-action
    await press(page, say("en", "try.start"))
    assert await page.get_by_role("button", name="English", exact=True).count() == 1
    assert violations == []

    async with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        await page.evaluate(
            "document.body.insertAdjacentHTML('beforeend', '<img src=\"http://127.0.0.1:9/x.png\">')"
        )
    assert len(violations) == 1 and "img-src 'self'" in violations[0]


async def test_every_response_carries_the_security_headers(start_bot: StartBot) -> None:
    runtime = await start_bot("webhook")
    others = ("/open311/v2/services.json", "/healthz", "/no/such/page", "/media/nothing.jpg")
    async with aiohttp.ClientSession() as http:
        for path in (*HTML_PAGES, *others):
            async with http.get(f"{runtime.base_url}{path}") as response:
                headers = response.headers
                page = response.content_type == "text/html"
                assert headers["Content-Security-Policy"] == (
                    PAGE_POLICY if page else "frame-ancestors 'none'"
                ), path
                assert headers["X-Content-Type-Options"] == "nosniff", path
                assert headers["X-Frame-Options"] == "DENY", path
                assert headers["Referrer-Policy"] == "same-origin", path
            assert page == (path in HTML_PAGES), path
        async with http.post(f"{runtime.base_url}/try", data={"text": "/start"}) as response:
            assert response.status == 403 and response.headers["X-Frame-Options"] == "DENY"


async def test_the_web_chat_refuses_forged_forms_and_takes_a_form_once(
    start_bot: StartBot, say: Say, database_url: str
) -> None:
    runtime = await start_bot("webhook")
    jar = aiohttp.CookieJar(unsafe=True)  # cookies from 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        visitor = WebVisitor(runtime.base_url, http)
        assert await visitor.open() == 200
        # No CSRF token, or another visitor's: refused, nothing handled.
        async with http.post(f"{runtime.base_url}/try", data={"text": "/start"}) as response:
            assert response.status == 403
        forged = {"csrf": "0" * 64, "m": "x1", "text": "/start"}
        async with http.post(f"{runtime.base_url}/try", data=forged) as response:
            assert response.status == 403
        await visitor.post(text="/start")
        await visitor.post(button=visitor.buttons()["English"])
        old = visitor.buttons()  # the region question's buttons
        await visitor.post(button=old["Naryn Region"])
        await visitor.post(button=visitor.buttons()["Naryn city"])
        # A stale button: said so, nothing lost.
        await visitor.post(button=old["Osh city"])
        assert visitor.messages()[0].startswith(say("en", "error.stale_button"))
        await visitor.post(text="/change")
        await visitor.post(button=visitor.buttons()[say("en", "category.roads")])
        form = {"csrf": visitor.field("csrf"), "m": visitor.field("m"), "text": "Fix the road"}
        for _ in range(2):  # the same form sent twice (a double click, a reload)
            async with http.post(f"{runtime.base_url}/try?lang=en", data=form) as response:
                assert response.status == 200
                visitor.page = await response.text()
        assert visitor.messages() == []  # the second: handled once already, nothing new
        assert [w.text for w in (await wishes(database_url)).values()] == ["Fix the road"]
        await visitor.post(text="/mine")
        [listed] = visitor.messages()[:1]
        assert say("en", "category.roads") in listed and say("en", "status.received") in listed


async def test_the_web_chat_can_be_turned_off(start_bot: StartBot, say: Say) -> None:
    runtime = await start_bot("webhook", web_chat=False)
    async with aiohttp.ClientSession() as http, http.get(f"{runtime.base_url}/try") as response:
        assert response.status == 404 and await response.text() == say("ky", "try.off")


async def test_civicbot_chat_talks_in_a_terminal(database_url: str, say: Say) -> None:
    """`civicbot chat`: the same conversation in a terminal, buttons pressed by number."""
    from bot.channels.terminal.channel import chat
    from bot.runtime.config import Settings
    from tests.conftest import SECRET_KEY

    lines = ["/start", "3", "4", "1", "/change", "4", "Potholes on Lenin street", ""]
    out = io.StringIO()
    settings = Settings(database_url=database_url, secret_key=SECRET_KEY)
    assert await chat(settings, io.StringIO("\n".join(lines) + "\n"), out) == 0
    said = out.getvalue()
    assert "[3] English" in said and "[4] Naryn Region" in said and "[4] Roads" in said
    assert "Thank you!" in said
    [wish] = (await wishes(database_url)).values()
    assert (wish.text, wish.category, wish.channel) == ("Potholes on Lenin street", "roads", "web")
    assert wish.reference in said


async def test_civicbot_chat_remembers_its_buttons_after_a_restart(
    database_url: str, say: Say, tmp_path: Path
) -> None:
    """The numbers of the buttons shown last still press them in the next `civicbot chat`
    (and they are shown again)."""
    from bot.channels.terminal.channel import chat
    from bot.runtime.config import Settings
    from tests.conftest import SECRET_KEY

    settings = Settings(database_url=database_url, secret_key=SECRET_KEY)

    async def session(*lines: str) -> str:
        out = io.StringIO()
        assert await chat(settings, io.StringIO("\n".join([*lines, ""]) + "\n"), out) == 0
        return out.getvalue()

    assert "[3] English" in await session("/start")
    [kept] = (tmp_path / "state" / "civicbot").iterdir()
    assert kept.stat().st_mode & 0o077 == 0  # the user's own
    said = await session("3", "4", "1")  # English, Naryn Region, Naryn city
    assert "[3] English" in said.split(">")[0]  # shown again before the first prompt
    assert say("en", "place.set", place="Naryn city") in said


async def test_a_web_chat_flood_is_refused_not_handled(start_bot: StartBot, say: Say) -> None:
    from bot.channels.webchat.channel import MESSAGES_PER_MINUTE

    runtime = await start_bot("webhook")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        visitor = WebVisitor(runtime.base_url, http)
        await visitor.open()
        statuses = []
        for _ in range(MESSAGES_PER_MINUTE + 2):  # bounded: stops by itself
            status, text = await visitor.post(keep_page=False, text="/help")
            statuses.append(status)
        assert statuses[:MESSAGES_PER_MINUTE] == [200] * MESSAGES_PER_MINUTE
        assert statuses[MESSAGES_PER_MINUTE:] == [429, 429]
        assert text == say("en", "flood.messages")


async def test_a_web_resident_is_not_asked_a_follow_up_they_cannot_see(
    start_bot: StartBot, database_url: str
) -> None:
    """The four-week question goes to residents on Telegram, SMS and WhatsApp; a browser's
    visitor, whom nothing can reach, keeps their conversation free."""
    import datetime as dt

    from sqlalchemy import update

    from handlers.mine import ask_followups
    from storage.db import Database
    from storage.models import Wish, utcnow

    runtime = await start_bot("webhook")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        visitor = WebVisitor(runtime.base_url, http)
        await visitor.open()
        await visitor.post(text="/start")
        await visitor.post(button=visitor.buttons()["English"])
        await visitor.post(button=visitor.buttons()["Naryn Region"])
        await visitor.post(button=visitor.buttons()["Naryn city"])
        await visitor.post(text="/change")
        await visitor.post(button=visitor.buttons()["Roads"])
        await visitor.post(text="Fix the road")
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            month_ago = utcnow() - dt.timedelta(days=30)
            await session.execute(update(Wish).values(status="done", status_at=month_ago))
        async with db.session() as session, session.begin():
            assert await ask_followups(session, utcnow()) == 0
    finally:
        await db.close()


async def test_a_signers_name_pin_and_address_are_not_carried_on(
    start_bot: StartBot, civicbot: Civicbot, say: Say
) -> None:
    """A signature's steps are private (ARCHITECTURE.md §8): what the signer types is
    answered, and never carried in the page's form for the rest of the visit."""
    assert (await civicbot(*open_initiative("WEBS")))[0] == 0
    runtime = await start_bot("webhook")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        visitor = WebVisitor(runtime.base_url, http)
        await visitor.settle_in_naryn()
        await visitor.post(text="/start i-WEBS")
        await visitor.post(button=visitor.buttons()[SIGN["en"]])
        details = ("Асанов Бакыт", ADULT_PIN, "Чаек", "Ленин", "12")
        for part in details:
            status, _ = await visitor.post(text=part)
            assert status == 200
        await visitor.post(text="/cancel")
        await visitor.post(command="help")
        conversation = " ".join(visitor.conversation())
        assert "/start i-WEBS" in conversation  # the visit is carried, but not the details
        assert [part for part in details[:4] if part in conversation] == []
