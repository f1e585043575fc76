"""Open data: Open311 GeoReport v2 (read side) and the statistics JSON, against wishes,
answers and bribe reports left through the real channels; checked field by field, counted by
hand, and searched for anything that could name a person."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import update

from storage.models import BribeReport, Wish, WishPhoto
from tests.conftest import Civicbot, Say, StartBot, execute, resident_of, rows
from tests.digests import official_on_telegram
from tests.fake_telegram import FakeTelegram
from tests.initiatives import ADULT_PIN, open_initiative
from tests.places import category
from tests.test_answers import change, resident, sms, wishes
from tests.test_photos import jpeg_with_gps
from tests.twilio import FakeTwilio, twilio_settings

# The GeoReport v2 field lists (wiki.open311.org/GeoReport_v2).
SERVICE_FIELDS = {
    "service_code", "service_name", "description", "metadata", "type", "keywords", "group",
}  # fmt: skip
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
    "long", "media_url",
}  # fmt: skip
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+06:00$")  # Asia/Bishkek
PHONE, OTHER_PHONE, PIN = "+996555810001", "+996555810002", "21203199000123"


async def get(runtime: Any, path: str, **headers: str) -> tuple[int, Any, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(runtime.base_url + path, headers=headers) as response,
    ):
        text = await response.text()
        parsed = await response.json() if response.content_type == "application/json" else None
        return response.status, parsed, text


async def a_place_with_answers(
    runtime: Any, telegram: FakeTelegram, civicbot: Civicbot, database_url: str
) -> dict[str, Wish]:
    """Naryn: four wishes to change (one answered done, one hidden, one from last month),
    one great; four bribe reports; Osh: one wish."""
    ky = await resident(runtime, telegram, 9901, "ky")
    await ky.leave_wish("change", category("roads")["ky"], "Жол начар, тел 0555 123 456")
    await ky.leave_wish("great", category("schools")["ky"], "Мектеп сонун болду")
    await ky.leave_wish("change", category("garbage")["ky"], f"Мен {PIN} Асанов, таштанды")
    await sms(runtime, PHONE, "ЖЕР naryn_city")
    await sms(runtime, PHONE, "ИЗМЕНИТЬ 1 Нет воды на Ленина")
    await sms(runtime, PHONE, "ИЗМЕНИТЬ 1 Ругательства тут")
    for phone in (PHONE, OTHER_PHONE, "+996555810003"):
        await sms(runtime, phone, "ЖЕР naryn_city")
        await sms(runtime, phone, "ПАРА 3 5000")
    await sms(runtime, OTHER_PHONE, "ВЗЯТКА 1")
    osh = await resident(runtime, telegram, 9902, "en", place="osh")
    await osh.leave_wish("change", category("roads")["en"], "Potholes in Osh")
    staff = await official_on_telegram(
        runtime, telegram, civicbot, 9910, "en", role="staff", municipality="naryn_city"
    )
    stored = await wishes(database_url)
    await staff.send(f"/answer {stored['Жол начар, тел 0555 123 456'].reference} 3 Оңдолду")
    await staff.send("/inbox")
    await staff.press(stored["Ругательства тут"].reference)
    await staff.press("Hide the text")
    await change(
        database_url,
        f"Мен {PIN} Асанов, таштанды",
        created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=40),
    )
    return await wishes(database_url)


async def test_open311_lists_services_and_requests_field_by_field(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    database_url: str,
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    stored = await a_place_with_answers(runtime, telegram, civicbot, database_url)

    status, services, _ = await get(runtime, "/open311/v2/services.json?locale=en")
    assert status == 200 and len(services) == 13
    assert all(set(service) == SERVICE_FIELDS for service in services)
    roads = next(s for s in services if s["service_code"] == "roads")
    assert roads["service_name"] == "Roads" and roads["type"] == "realtime"
    assert roads["metadata"] is False and roads["group"] == "I want to change…"

    status, found, _ = await get(
        runtime, "/open311/v2/requests.json?jurisdiction_id=naryn_city&locale=en"
    )
    assert status == 200
    assert all(set(request) == REQUEST_FIELDS for request in found)
    by_id = {request["service_request_id"]: request for request in found}
    # Wishes to change only (the praise is not a request), newest first, this municipality;
    # the garbage wish, 40 days old, is within the default 90 days, and the oldest.
    newest_first = ("Ругательства тут", "Нет воды на Ленина", "Жол начар, тел 0555 123 456",
                    f"Мен {PIN} Асанов, таштанды")  # fmt: skip
    assert [r["service_request_id"] for r in found] == [stored[t].reference for t in newest_first]
    road = by_id[stored["Жол начар, тел 0555 123 456"].reference]
    assert road["status"] == "closed" and road["status_notes"] == "Оңдолду"
    assert road["description"] == "Жол начар, тел ***"  # the number masked
    assert road["service_code"] == "roads" and road["service_name"] == "Roads"
    assert road["agency_responsible"] == "Naryn city"
    assert W3C.match(road["requested_datetime"]) and W3C.match(road["updated_datetime"])
    assert road["updated_datetime"] >= road["requested_datetime"]
    hidden = by_id[stored["Ругательства тут"].reference]
    assert hidden["description"] is None and hidden["status"] == "open"
    water = by_id[stored["Нет воды на Ленина"].reference]
    assert (water["status"], water["status_notes"]) == ("open", None)

    # Filters, paging, one request.
    async def ids(query: str) -> list[str]:
        status, body, text = await get(runtime, f"/open311/v2/requests.json?{query}")
        assert status == 200, text
        return [request["service_request_id"] for request in body]

    ref = {text: stored[text].reference for text in newest_first}
    assert await ids("jurisdiction_id=naryn_city&service_code=roads,garbage") == [
        ref["Жол начар, тел 0555 123 456"],
        ref[f"Мен {PIN} Асанов, таштанды"],
    ]
    assert await ids("jurisdiction_id=naryn_city&status=closed") == [
        ref["Жол начар, тел 0555 123 456"]
    ]
    month_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).isoformat(timespec="seconds")
    recent = await ids(f"jurisdiction_id=naryn_city&start_date={month_ago}")
    assert recent == [ref[t] for t in newest_first[:3]]
    assert await ids(f"jurisdiction_id=naryn_city&end_date={month_ago}") == [
        ref[f"Мен {PIN} Асанов, таштанды"]
    ]
    assert await ids("jurisdiction_id=naryn_city&page_size=2&page=2") == [
        ref[t] for t in newest_first[2:]
    ]
    assert len(await ids("")) == 5  # every municipality: Osh's too
    status, [one], _ = await get(runtime, f"/open311/v2/requests/{ref['Нет воды на Ленина']}.json")
    assert status == 200 and one["service_request_id"] == ref["Нет воды на Ленина"]
    great = stored["Мектеп сонун болду"].reference
    status, error, _ = await get(runtime, f"/open311/v2/requests/{great}.json")
    assert status == 404 and error[0]["code"] == 404

    # Bad queries: 400 and the spec's error list.
    for query in (
        "start_date=yesterday",
        "start_date=2026-11-01T00:00:00",  # no time zone
        "start_date=2026-11-20T00:00:00Z&end_date=2026-11-01T00:00:00Z",
        "service_code=potholes",
        "jurisdiction_id=atlantis",
        "page_size=100000",
        "page=0",
        "status=pending",
        "locale=fr",
    ):
        status, error, _ = await get(runtime, f"/open311/v2/requests.json?{query}")
        assert status == 400, query
        assert len(error) == 1 and error[0]["code"] == 400 and error[0]["description"], query


def xml_of(text: str, root: str) -> ElementTree.Element:
    """A GeoReport XML answer, parsed: declared as UTF-8, no namespace, `root` on top."""
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>'), text[:80]
    document = ElementTree.fromstring(text.encode("utf-8"))
    assert document.tag == root, document.tag
    return document


def as_json(element: ElementTree.Element, lists: dict[str, str]) -> Any:
    """An element read back as the spec maps XML to JSON (its "Spark convention"): a list
    element's children are its items, the other elements' children a mapping, an empty
    element null; `lists` names each list element's items."""
    if element.tag in lists:
        assert all(child.tag == lists[element.tag] for child in element), element.tag
        return [as_json(child, lists) for child in element]
    if len(element):
        return {child.tag: as_json(child, lists) for child in element}
    return element.text


def written(value: Any) -> Any:
    """A JSON answer as XML writes it: text everywhere, null an empty element."""
    if isinstance(value, list):
        return [written(item) for item in value]
    if isinstance(value, dict):
        return {name: written(item) for name, item in value.items()}
    if value is None or value == "":
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


LISTS = {"services": "service", "service_requests": "request", "errors": "error",
         "endpoints": "endpoint", "formats": "format"}  # fmt: skip


async def test_open311_answers_xml_as_the_spec_writes_it_and_its_discovery(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    database_url: str,
) -> None:
    """GeoReport v2's default format is XML: every route answers it (and JSON), element for
    field, errors included; the discovery document lists the endpoint and both formats."""
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    stored = await a_place_with_answers(runtime, telegram, civicbot, database_url)
    water = stored["Нет воды на Ленина"].reference
    for path, root in (
        ("services.{}?locale=ru", "services"),
        ("requests.{}?jurisdiction_id=naryn_city&locale=en", "service_requests"),
        ("requests.{}?status=closed&service_code=roads", "service_requests"),
        (f"requests/{water}.{{}}", "service_requests"),
    ):
        status, body, _ = await get(runtime, "/open311/v2/" + path.format("json"))
        async with (
            aiohttp.ClientSession() as http,
            http.get(runtime.base_url + "/open311/v2/" + path.format("xml")) as response,
        ):
            assert (response.status, status) == (200, 200), path
            assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
            text = await response.text()
        assert body, path  # something to compare
        assert as_json(xml_of(text, root), LISTS) == written(body), path
    hidden = stored["Ругательства тут"].reference
    status, [as_json_request], _ = await get(runtime, f"/open311/v2/requests/{hidden}.json")
    status, _, text = await get(runtime, f"/open311/v2/requests/{hidden}.xml")
    [request] = xml_of(text, "service_requests")
    assert [field.tag for field in request] == list(as_json_request)  # the spec's order
    assert set(as_json_request) == REQUEST_FIELDS
    assert request.find("description") is not None and request.findtext("description") == ""

    for path in ("/open311/discovery", "/open311/v2/discovery"):
        status, discovery, _ = await get(runtime, f"{path}.json")
        assert status == 200
        assert set(discovery) == {"changeset", "contact", "key_service", "endpoints"}
        [endpoint] = discovery["endpoints"]
        assert endpoint == {
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": "https://civic.example.test/open311/v2",
            "changeset": discovery["changeset"],
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }
        status, _, text = await get(runtime, f"{path}.xml")
        assert status == 200 and as_json(xml_of(text, "discovery"), LISTS) == discovery

    # Errors: the spec's list, in the format asked for.
    for path, code in (
        ("requests.xml?status=pending", 400),
        ("requests.xml?jurisdiction_id=atlantis", 400),
        ("services.xml?locale=fr", 400),
        ("requests.xml?start_date=%00", 400),  # refused at the door, before any handler
        (f"requests/{stored['Мектеп сонун болду'].reference}.xml", 404),  # praise: no request
        ("requests/12345678.xml", 404),
    ):
        status, _, text = await get(runtime, f"/open311/v2/{path}")
        [error] = as_json(xml_of(text, "errors"), LISTS)
        assert status == code and error["code"] == str(code) and error["description"], path


async def test_the_statistics_json_matches_a_hand_counted_place(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    database_url: str,
) -> None:
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    await a_place_with_answers(runtime, telegram, civicbot, database_url)
    status, stats, _ = await get(runtime, "/stats/naryn_city.json")
    assert status == 200
    assert stats["municipality"]["key"] == "naryn_city"
    assert stats["municipality"]["name"]["ru"] == "город Нарын"
    wishes_ = stats["wishes"]
    # By hand: to change — roads 1, garbage 1, drinking water 2; great — schools 1.
    assert wishes_["total"] == 5
    assert wishes_["by_kind"] == {"change": 4, "great": 1}
    assert wishes_["by_category"] == {
        "drinking_water": {"change": 2, "great": 0},
        "garbage": {"change": 1, "great": 0},
        "roads": {"change": 1, "great": 0},
        "schools": {"change": 0, "great": 1},
    }
    assert wishes_["by_status"] == {"accepted": 4, "done": 1}
    weeks = list(wishes_["by_week"].values())
    assert len(weeks) == 12 and sum(weeks) == 5  # the 40-day-old one is within 12 weeks…
    assert weeks[-1] + weeks[-2] == 4  # …and the other four are from this week (or last)
    assert weeks[-7] + weeks[-6] == 1  # 40 days back: five or six weeks before
    # Bribes: only the twelve months completed; this month's four reports are not there yet.
    today = dt.datetime.now(ZoneInfo("Asia/Bishkek")).date()
    last_month_ends = today.replace(day=1) - dt.timedelta(days=1)
    bribes = stats["bribe_reports"]
    assert bribes["period"]["to"] == last_month_ends.isoformat()
    assert len(bribes["by_month"]) == 12 and bribes["by_month"][-1]["month"] == (
        last_month_ends.strftime("%Y-%m")
    )
    assert all(month["by_service"] == [] for month in bribes["by_month"])
    # Once their month is over (here: given on its last day): service 3 three reports
    # (shown), service 1 one (withheld); the total is only a lower bound, since 3 + the
    # hidden one would give it away.
    await given_on(database_url, last_month_ends)
    _, stats, _ = await get(runtime, "/stats/naryn_city.json")
    assert stats["bribe_reports"]["by_month"][-1] == {
        "month": last_month_ends.strftime("%Y-%m"),
        "by_service": [
            {"service_code": 1, "count": None, "at_least": False},
            {"service_code": 3, "count": 3, "at_least": False},
        ],
        "total": {"count": 4, "at_least": True},
    }
    status, error, _ = await get(runtime, "/stats/atlantis.json")
    assert status == 404 and error[0]["code"] == 404


async def test_no_public_output_names_anyone(
    start_bot: StartBot,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    civicbot: Civicbot,
    database_url: str,
) -> None:
    """Phone numbers, a PIN, a name written in a wish, chat ids: none of it in any public
    response."""
    runtime = await start_bot("webhook", **twilio_settings(twilio.base_url))
    await a_place_with_answers(runtime, telegram, civicbot, database_url)
    # A signer of a local initiative: name and PIN sealed, never shown.
    rc, _, err = await civicbot(
        *open_initiative("OPEN", "--no-address", "--threshold", "100", kind="local"),
        "--municipality", "naryn_city",
    )  # fmt: skip
    assert rc == 0, err
    await sms(runtime, OTHER_PHONE, f"КОЛ OPEN {ADULT_PIN} Осмонова Айгүл Бакытовна")
    bodies = []
    for path in (
        "/open311/v2/services.json",
        "/open311/v2/requests.json",
        "/open311/v2/requests.json?locale=ru&jurisdiction_id=naryn_city",
        "/stats/naryn_city.json",
        "/stats/osh.json",
        "/",
        "/m/naryn_city",
        "/m/naryn_city?lang=ru",
        "/m/naryn_city?lang=en",
        "/m/osh?lang=en",
    ):
        status, _, text = await get(runtime, path)
        assert status == 200, path
        bodies.append(text)
    public = "\n".join(bodies)
    assert "Таза суу OPEN" in public  # the initiative is on the page: its signer is not
    for planted in (PHONE, OTHER_PHONE, PHONE[4:], PIN, ADULT_PIN, "0555 123 456",
                    "Aibek", "Осмонова", "Айгүл", "Ругательства"):  # fmt: skip
        assert planted not in public, planted
    # The chat ids as numbers of their own: a random 7-digit request id may hold "9910".
    for chat_id in ("9901", "9902", "9910"):
        assert not re.search(rf"(?<!\d){chat_id}(?!\d)", public), chat_id


async def given_on(database_url: str, day: dt.date) -> None:
    """Date every bribe report as given on `day`, as time would have."""
    await execute(database_url, update(BribeReport).values(created_on=day))


async def test_a_forged_host_never_reaches_a_media_url(
    start_bot: StartBot, telegram: FakeTelegram, say: Say, database_url: str
) -> None:
    """Without PUBLIC_BASE_URL (polling), media_url is the photo's path: a request with
    `Host: evil.example` neither gets nor leaves in the cache a link to that host."""
    runtime = await start_bot("polling")
    assert runtime.settings.public_base_url is None
    resident = resident_of(runtime, telegram, "polling", 7411, "en")
    await resident.send("/start m-naryn_city")
    await resident.press("English")
    await resident.send_photo(jpeg_with_gps(), caption="Bin overflowing")
    await resident.press(say("en", "kind.change"))
    await resident.press(category("garbage")["en"])
    await change(database_url, "Bin overflowing", media_public=True)  # as staff approve it
    [photo] = await rows(database_url, WishPhoto)
    path = "/open311/v2/requests.json?jurisdiction_id=naryn_city"
    for headers in ({"Host": "evil.example"}, {}):
        status, [request], text = await get(runtime, path, **headers)
        assert status == 200 and "evil" not in text
        assert request["media_url"] == f"/media/{photo.key}"
    url = f"{runtime.base_url}/media/{photo.key}"  # served where it was asked, relative
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200 and response.content_type == "image/jpeg"
