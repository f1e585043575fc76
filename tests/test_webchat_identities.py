"""The web chat's identities come from the server (issue 25): a made-up cookie is nobody,
new identities and web wishes are limited per client address (counted in the database, so
every worker shares them), and a malformed form is a 400 or 403, never a 500. All on the
real wire, from several client addresses of 127.0.0.0/8."""

from __future__ import annotations

import html
import secrets

import aiohttp
import pytest

from storage.models import Person, Wish
from tests.conftest import SECRET_KEY, Say, StartBot, StartBotOn, metric_value, rows
from tests.web_visitor import COOKIE, WebVisitor, session_from


async def fresh_get(
    base_url: str, address: str = "127.0.0.1", **headers: str
) -> aiohttp.ClientResponse:
    """GET /try as a browser seen for the first time (or one sending a cookie it made up:
    `Cookie` in headers); the response, read."""
    async with (
        session_from(address, jar=False) as http,
        http.get(f"{base_url}/try?lang=en", headers=headers) as response,
    ):
        await response.read()
        return response


def issued(response: aiohttp.ClientResponse) -> str | None:
    morsel = response.cookies.get(COOKIE)
    return morsel.value if morsel is not None else None


async def test_made_up_cookies_are_nobody_and_new_identities_stop_at_the_limit(
    start_bot: StartBot, database_url: str
) -> None:
    """The issue's flood: 100 made-up cookies from one address, each posting a form with the
    token its page gave. Not one is taken as a person; the pages themselves stop handing out
    identities after WEB_VISITORS_PER_HOUR."""
    runtime = await start_bot("webhook")
    limit = runtime.settings.web_visitors_per_hour
    assert limit == 10
    pages, posts = [], []
    async with session_from(jar=False) as http:
        for _ in range(100):  # bounded
            made_up = {"Cookie": f"{COOKIE}={secrets.token_urlsafe(24)}"}
            async with http.get(f"{runtime.base_url}/try?lang=en", headers=made_up) as response:
                page = await response.text()
                pages.append(response.status)
                given = issued(response)
                assert given is None or given != made_up["Cookie"].split("=", 1)[1]
            token = page.split('name="csrf" value="', 1)[-1].split('"', 1)[0]
            form = {"csrf": token, "m": secrets.token_hex(4), "text": "/start"}
            async with http.post(f"{runtime.base_url}/try", data=form, headers=made_up) as response:
                posts.append(response.status)
    assert pages == [200] * limit + [429] * (100 - limit)
    assert posts == [403] * 100
    assert [p for p in await rows(database_url, Person) if p.channel == "web"] == []
    assert await rows(database_url, Wish) == []


async def test_the_eleventh_new_identity_from_one_address_is_refused_politely(
    start_bot: StartBot, start_bot_on: StartBotOn, database_url: str, say: Say
) -> None:
    runtime = await start_bot("webhook")
    async with session_from("127.0.0.1") as http:
        known = WebVisitor(runtime.base_url, http)  # identity 1 of 10 from 127.0.0.1
        assert await known.open() == 200
        for _ in range(9):
            assert issued(await fresh_get(runtime.base_url)) is not None
        refused = await fresh_get(runtime.base_url)
        assert refused.status == 429 and issued(refused) is None
        assert int(refused.headers["Retry-After"]) <= 3600
        # …and a second worker on the same database counts the same hour.
        other_worker = await start_bot_on(database_url, "polling", telegram_bot_token=None)
        assert (await fresh_get(other_worker.base_url)).status == 429

        # Told so in their language, on a page without a form to post.
        async with (
            session_from(jar=False) as fresh,
            fresh.get(f"{runtime.base_url}/try?lang=ru") as response,
        ):
            page = await response.text()
        assert response.status == 429
        assert html.escape(say("ru", "try.busy"), quote=False) in page
        assert "<form" not in page and 'name="csrf"' not in page

        # The visitor who already holds an identity carries on.
        status, _ = await known.post(text="/start")
        assert status == 200 and known.buttons()["English"]
        assert await known.open() == 200

    # A visitor at another address is unaffected.
    async with session_from("127.0.0.2") as http:
        elsewhere = WebVisitor(runtime.base_url, http)
        assert await elsewhere.open() == 200
        status, _ = await elsewhere.post(text="/start")
        assert status == 200 and elsewhere.buttons()["English"]


async def test_the_31st_web_wish_an_hour_from_one_address_is_refused_politely(
    start_bot: StartBot, database_url: str, say: Say
) -> None:
    runtime = await start_bot("webhook")
    limit = runtime.settings.web_wishes_per_hour
    assert limit == 30
    answers: list[list[str]] = []
    # Three visitors at one address, each under their own limit (and their forms a minute).
    for count in (11, 11, 9):
        async with session_from("127.0.0.1") as http:
            visitor = WebVisitor(runtime.base_url, http)
            await visitor.settle_in_naryn()
            for _ in range(count):  # bounded
                answers.append(await visitor.leave_wish(f"Pothole number {len(answers)}"))
    assert answers[limit - 1][0].startswith("Thank you!")
    assert answers[limit] == [say("en", "wish.flood_origin", limit=limit)]
    assert len(await rows(database_url, Wish)) == limit

    # Someone at another address is unaffected.
    async with session_from("127.0.0.2") as http:
        elsewhere = WebVisitor(runtime.base_url, http)
        await elsewhere.settle_in_naryn()
        [thanks] = await elsewhere.leave_wish("A pothole across town")
    assert thanks.startswith("Thank you!")
    assert len(await rows(database_url, Wish)) == limit + 1


def inbound(kind: str) -> float:
    return metric_value("civicbot_inbound_total", channel="web", kind=kind)


async def test_the_web_chats_actions_are_counted_by_kind(start_bot: StartBot) -> None:
    """civicbot_inbound_total counts the web chat's commands, texts and buttons as every
    other channel's; a form sent again is a duplicate, counted as such."""
    runtime = await start_bot("webhook")
    before = {kind: inbound(kind) for kind in ("command", "text", "button", "duplicate")}
    async with session_from("127.0.0.1") as http:
        visitor = WebVisitor(runtime.base_url, http)
        await visitor.settle_in_naryn()  # /start, then three buttons
        await visitor.post(text="/change")
        text = "Potholes on the main street"
        again = {name: visitor.field(name) for name in ("csrf", "m", "history")}
        await visitor.post(text=text)
        resent = {**again, "text": text}
        async with http.post(f"{runtime.base_url}/try?lang=en", data=resent) as response:
            assert response.status == 200  # the same form again: handled once
    counted = {kind: inbound(kind) - was for kind, was in before.items()}
    assert counted == {"command": 2, "text": 1, "button": 3, "duplicate": 1}


BOUNDARY = "xx"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def part(headers: str, body: bytes) -> bytes:
    return f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + body + b"\r\n"


MALFORMED = [
    ("multipart without a boundary", b"text=hello", "multipart/form-data"),
    (
        "multipart cut short",
        part('Content-Disposition: form-data; name="text"', b"hi")[:-2],
        MULTIPART,
    ),
    ("multipart without its boundary", b"garbage", MULTIPART),
    (
        "multipart, bytes that are not UTF-8",
        part('Content-Disposition: form-data; name="text"', b"\xff\xfe") + b"--xx--\r\n",
        MULTIPART,
    ),
    (
        "multipart, an unknown charset",
        part(
            'Content-Disposition: form-data; name="text"\r\nContent-Type: text/plain; charset=nope',
            b"hello",
        )
        + b"--xx--\r\n",
        MULTIPART,
    ),
    (
        "multipart, a file for a field",
        part('Content-Disposition: form-data; name="text"; filename="a.txt"', b"hi")
        + b"--xx--\r\n",
        MULTIPART,
    ),
    (
        "multipart, a field without a name",
        part("Content-Disposition: form-data", b"hello") + b"--xx--\r\n",
        MULTIPART,
    ),
    (
        "multipart nested",
        part("Content-Type: multipart/mixed; boundary=yy", b"--yy\r\n\r\nx\r\n--yy--")
        + b"--xx--\r\n",
        MULTIPART,
    ),
    ("urlencoded, bytes that are not UTF-8", b"text=\xff\xfe", "application/x-www-form-urlencoded"),
    (
        "urlencoded, an unknown charset",
        b"text=hi",
        "application/x-www-form-urlencoded; charset=nope",
    ),
]


# A body that parses but is no form of ours: the CSRF check refuses it, as a stale form.
NOT_A_FORM = [
    ("JSON", b'{"text": "/start"}', "application/json"),
    ("urlencoded without a token", b"text=%2Fstart", "application/x-www-form-urlencoded"),
]
CASES = [(*case, 400) for case in MALFORMED] + [(*case, 403) for case in NOT_A_FORM]


@pytest.mark.parametrize(
    ("what", "body", "content_type", "status"), CASES, ids=[c[0] for c in CASES]
)
async def test_a_malformed_form_is_refused_never_a_500(
    start_bot: StartBot,
    database_url: str,
    what: str,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    runtime = await start_bot("webhook")
    url = f"{runtime.base_url}/try?lang=en"
    async with session_from() as http:
        visitor = WebVisitor(runtime.base_url, http)
        assert await visitor.open() == 200
        async with http.post(url, data=body, headers={"Content-Type": content_type}) as response:
            text = await response.text()
        assert response.status == status, (what, text)
        assert "Traceback" not in text
    # Without an identity of ours it is a stale form, before the body is read.
    async with (
        session_from(jar=False) as http,
        http.post(url, data=body, headers={"Content-Type": content_type}) as response,
    ):
        assert response.status == 403
    assert [p for p in await rows(database_url, Person) if p.channel == "web"] == []


async def test_an_identity_signed_before_a_key_rotation_still_holds(
    start_bot_on: StartBotOn, database_url: str
) -> None:
    """During a rotation (SECRET_KEY_PREVIOUS) an identity and a form made under the old key
    are taken, and the cookie is signed anew; a tampered signature is nobody."""
    old = await start_bot_on(database_url, "polling", telegram_bot_token=None)
    async with session_from() as http:
        visitor = WebVisitor(old.base_url, http)
        assert await visitor.open() == 200
        [before] = [c.value for c in http.cookie_jar if c.key == COOKIE]
        await old.stop()
        new = await start_bot_on(
            database_url,
            "polling",
            telegram_bot_token=None,
            secret_key="a-new-secret-key-after-the-rotation-0123",
            secret_key_previous=(SECRET_KEY,),
        )
        visitor.base_url = new.base_url
        status, _ = await visitor.post(text="/start")  # the page made under the old key
        assert status == 200 and visitor.buttons()["English"]
        [after] = [c.value for c in http.cookie_jar if c.key == COOKIE]
        assert after != before and after.split(".")[0] == before.split(".")[0]

    visitor_id = before.split(".")[0]
    tampered = {"Cookie": f"{COOKIE}={visitor_id}.{'0' * 64}"}
    response = await fresh_get(new.base_url, "127.0.0.2", **tampered)
    assert response.status == 200 and issued(response) not in (None, before, after)
    assert (issued(response) or "").split(".")[0] != visitor_id


async def test_a_token_or_cookie_out_of_ascii_is_refused_not_a_500(start_bot: StartBot) -> None:
    runtime = await start_bot("webhook")
    url = f"{runtime.base_url}/try?lang=en"
    async with session_from() as http:
        visitor = WebVisitor(runtime.base_url, http)
        assert await visitor.open() == 200
        form = {"csrf": "токен", "m": "x1", "text": "/start"}
        async with http.post(url, data=form) as response:
            assert response.status == 403
    odd = {"Cookie": f"{COOKIE}={'a' * 24}.подпись"}
    response = await fresh_get(runtime.base_url, "127.0.0.2", **odd)
    assert response.status == 200 and (issued(response) or "").split(".")[0] != "a" * 24
