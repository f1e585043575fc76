"""Deputies and staff: invites redeemed on Telegram and by SMS, `civicbot officials
list|remove`, `/digest` on demand (and who may not have it), `civicbot digest preview`, and
the scheduler's settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.digests.schedule import last_fire, trigger, week_for
from bot.runtime.app import Runtime
from bot.runtime.config import ConfigError, Settings
from bot.runtime.i18n import Catalogues
from handlers import roles
from handlers.types import Text
from handlers.weeks import Week
from storage.models import Person
from tests.conftest import Civicbot, Say, StartBot, resident_of
from tests.digests import (
    delivery_env,
    invite_code,
    official_by_sms,
    official_on_telegram,
    sent_to,
    wish_last_week,
)
from tests.fake_telegram import FakeTelegram
from tests.places import municipality
from tests.twilio import inbound_form, post_signed, twilio_settings


def sms_text(language: str, key: str, **values: object) -> str:
    return Catalogues().text(language, Text(key, values), variant="sms")


async def test_invites_make_officials_once_and_the_list_shows_them(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Callable[..., str]
) -> None:
    runtime = await start_bot("webhook", **twilio_settings())
    code = await invite_code(civicbot, "staff", "lenin")
    staff = resident_of(runtime, telegram, "webhook", 8301, "ru")
    replies = await staff.send(f"/start inv-{code}")
    expected = say(
        "ru",
        "invite.official",
        role=say("ru", "role.staff"),
        place=municipality("lenin")["ru"],
        commands=say("ru", "help.staff"),
    )
    assert replies[0].startswith(expected)
    someone_else = resident_of(runtime, telegram, "webhook", 8302, "ru")
    assert say("ru", "invite.used") in (await someone_else.send(f"/start inv-{code}"))[0]

    twiml = await official_by_sms(runtime, civicbot, "+996555720001", "КОШУЛ")
    role = say("ky", "role.deputy")
    assert sms_text("ky", "invite.official", role=role, place=municipality("lenin")["ky"]) in twiml

    rc, out, _ = await civicbot("officials", "list", "--municipality", "lenin")
    assert rc == 0
    rows = [line.split("\t") for line in out.splitlines()[1:]]
    assert sorted((r[1], r[2], r[3], r[4]) for r in rows) == [
        ("deputy", "lenin", "sms", "+996555720001"),
        ("staff", "lenin", "telegram", "8301"),
    ]
    rc, out, _ = await civicbot("officials", "list", "--municipality", "ivanovka")
    assert rc == 0 and len(out.splitlines()) == 1  # the header only

    staff_role = next(r[0] for r in rows if r[1] == "staff")
    rc, out, _ = await civicbot("officials", "remove", staff_role)
    assert rc == 0 and out.startswith("removed: staff")
    replies = await staff.send("/digest")
    assert replies == [say("ru", "digest.officials_only")]
    rc, _, err = await civicbot("officials", "remove", staff_role)
    assert rc == 2 and "officials list" in err


async def test_digest_on_demand_for_officials_only_and_only_their_own(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    say: Callable[..., str],
) -> None:
    runtime = await start_bot("webhook")
    wish = ("change", "roads", "Potholes on the main road")
    resident = await wish_last_week(runtime, telegram, database_url, 8401, "en", "lenin", wish)
    assert await resident.send("/digest") == [say("en", "digest.officials_only")]

    deputy = await official_on_telegram(runtime, telegram, civicbot, 8402, "en")
    replies = await deputy.send("/digest ivanovka")
    lenin = f"{municipality('lenin')['en']} (lenin)"
    assert replies == [say("en", "digest.not_yours", places=lenin)]

    start = len(telegram.calls)
    await deputy.send("/digest")
    kinds = [kind for kind, _ in sent_to(telegram, 8402, start)]
    assert kinds == ["text", "photo"]
    assert "Potholes on the main road" in sent_to(telegram, 8402, start)[0][1]

    staff = await official_on_telegram(runtime, telegram, civicbot, 8403, "ky", role="staff")
    start = len(telegram.calls)
    await staff.send("/digest 103")  # the municipality's SMS code works too
    assert [kind for kind, _ in sent_to(telegram, 8403, start)] == ["text", "photo", "document"]


async def test_preview_prints_the_digest_and_writes_its_chart(
    civicbot: Civicbot, tmp_path: Path, say: Callable[..., str]
) -> None:
    chart = tmp_path / "quiet.png"
    rc, out, err = await civicbot(
        "digest", "preview", "--municipality", "chaek", "--lang", "ru", "--chart", str(chart)
    )
    assert rc == 1  # the chart asked for cannot be drawn: said, and the exit status says so
    assert say("ru", "digest.quiet", link="/start m-chaek") in out
    assert "quiet week" in err and "not written" in err and not chart.exists()

    for arguments, reason in (
        (["--municipality", "nowhere"], "nowhere"),
        (["--municipality", "chaek", "--period", "2026-47"], "YYYY-Www"),
        (["--municipality", "chaek", "--period", "2026-W54"], "no week 54"),
        (["--municipality", "chaek", "--period", "2099-W01"], "not begun"),
        (["--lang", "ru"], "--municipality"),
    ):
        rc, _, err = await civicbot("digest", "preview", *arguments)
        assert rc == 2 and reason in err and len(err.strip().splitlines()) == 1, err


async def test_preview_of_a_busy_week_draws_the_chart(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    database_url: str,
    tmp_path: Path,
) -> None:
    runtime = await start_bot("webhook")
    wish = ("great", "schools", "Мектеп жакшы")
    await wish_last_week(runtime, telegram, database_url, 8501, "ky", "chaek", wish)
    chart = tmp_path / "chart.png"
    rc, out, err = await civicbot(
        "digest", "preview", "--municipality", "chaek", "--chart", str(chart)
    )
    assert rc == 0 and "«Мектеп жакшы»" in out and f"chart: {chart}" in err
    assert chart.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "now,fired,week",
    [
        ("2026-11-25 10:00", "2026-11-23 09:00", "2026-W47"),  # Wednesday: Monday's run
        ("2026-11-23 08:59", "2026-11-16 09:00", "2026-W46"),  # Monday, before the run
        ("2026-11-23 09:00", "2026-11-23 09:00", "2026-W47"),  # the very moment
        ("2027-01-04 12:00", "2027-01-04 09:00", "2026-W53"),  # 2026 has 53 ISO weeks
    ],
)
def test_the_last_run_and_the_week_it_reports_on(now: str, fired: str, week: str) -> None:
    zone = ZoneInfo("Asia/Bishkek")
    moment = dt.datetime.fromisoformat(now).replace(tzinfo=zone)
    fire = last_fire(trigger(Settings()), moment)
    assert fire == dt.datetime.fromisoformat(fired).replace(tzinfo=zone)
    assert str(week_for(fire)) == week == str(Week.parse(week))


@pytest.mark.parametrize(
    "setting,reason",
    [
        ({"digest_cron": "every monday"}, "DIGEST_CRON"),
        ({"digest_cron": "0 25 * * mon"}, "DIGEST_CRON"),
        ({"timezone": "Asia/Nowhere"}, "TIMEZONE"),
    ],
)
async def test_bad_schedule_settings_stop_the_start_with_one_line(
    start_bot: StartBot, setting: dict[str, str], reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason):
        await start_bot("webhook", **setting)


async def test_an_official_who_forgets_leaves_no_role_behind(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot
) -> None:
    """/forget deletes the person; the database deletes their roles with them (the ORM
    never loads roles with a person)."""
    runtime = await start_bot("webhook")
    code = await invite_code(civicbot, "deputy", "lenin")
    deputy = resident_of(runtime, telegram, "webhook", 8311, "en")
    await deputy.send(f"/start inv-{code}")
    _, listed, _ = await civicbot("officials", "list", "--municipality", "lenin")
    assert len(listed.splitlines()) == 2  # the header and the deputy
    await deputy.send("/forget")
    await deputy.press("Yes, delete")
    _, listed, _ = await civicbot("officials", "list", "--municipality", "lenin")
    assert len(listed.splitlines()) == 1


async def test_joining_by_sms_keeps_the_persons_language(
    start_bot: StartBot, civicbot: Civicbot, say: Callable[..., str]
) -> None:
    """JOIN (typed on any Latin keypad) keeps the person's language; КОШУЛ and ВСТУПИТЬ say
    theirs. The digest later goes in that language."""
    runtime = await start_bot("webhook", **twilio_settings())
    place_ru, place_ky = municipality("lenin")["ru"], municipality("lenin")["ky"]
    deputy = say("ru", "role.deputy")

    # Someone who wrote in Russian before joins with JOIN: answered, and kept, in Russian.
    await post_signed(runtime.base_url, "/sms/twilio", inbound_form("+996555720011", "МЕСТО 101"))
    twiml = await official_by_sms(runtime, civicbot, "+996555720011", "JOIN")
    assert sms_text("ru", "invite.official", role=deputy, place=place_ru) in twiml
    assert await language_of(runtime, "+996555720011") == "ru"

    # Someone new: JOIN gives Kyrgyz, the first language; ВСТУПИТЬ gives Russian.
    twiml = await official_by_sms(runtime, civicbot, "+996555720012", "JOIN")
    role_ky = say("ky", "role.deputy")
    assert sms_text("ky", "invite.official", role=role_ky, place=place_ky) in twiml
    assert await language_of(runtime, "+996555720012") == "ky"
    twiml = await official_by_sms(runtime, civicbot, "+996555720013", "ВСТУПИТЬ")
    assert sms_text("ru", "invite.official", role=deputy, place=place_ru) in twiml
    assert await language_of(runtime, "+996555720013") == "ru"


async def language_of(runtime: Runtime, phone: str) -> str:
    async with runtime.db.session() as session:
        person = await session.scalar(select(Person).where(Person.channel_user_id == phone))
    assert person is not None
    return person.language


async def test_the_organizers_welcome_promises_only_what_the_role_can_do(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say
) -> None:
    runtime = await start_bot("webhook")
    code = await invite_code(civicbot, "organizer", "lenin")
    organizer = resident_of(runtime, telegram, "webhook", 8321, "en")
    [welcome, *_] = await organizer.send(f"/start inv-{code}")
    commands = say("en", "help.organizer")
    place = municipality("lenin")["en"]
    assert welcome.startswith(say("en", "invite.organizer", place=place, commands=commands))
    assert "/digest" not in welcome and "digest" not in welcome.lower()
    assert await organizer.send("/digest") == [say("en", "digest.officials_only")]


async def test_each_roles_chat_menu_shows_its_commands_on_the_wire(
    start_bot: StartBot, telegram: FakeTelegram, civicbot: Civicbot, say: Say
) -> None:
    """Telegram's per-chat command scope: a staff member's chat shows the inbox and the
    digest before a resident's commands, in their language, and keeps them when the
    language changes; a resident's chat keeps the default menu."""
    runtime = await start_bot("webhook")
    staff = await official_on_telegram(runtime, telegram, civicbot, 8331, "ru", role="staff")
    staff_menu = ["inbox", "web", "digest", "poll", *roles.RESIDENT_MENU]
    assert telegram.menu_of(8331, "ru") == staff_menu
    [chat_menu] = [c for c in telegram.called("setMyCommands") if c.params.get("scope")]
    assert chat_menu.params["scope"] == {"type": "chat", "chat_id": 8331}
    described = {c["command"]: c["description"] for c in chat_menu.params["commands"]}
    assert described["inbox"] == say("ru", "command.inbox")
    await staff.press("Русский")  # set-up ends on where those commands are
    await staff.send("/language")
    await staff.press("English")
    assert telegram.menu_of(8331, "en") == staff_menu
    chat_menu = [c for c in telegram.called("setMyCommands") if c.params.get("scope")][-1]
    described = {c["command"]: c["description"] for c in chat_menu.params["commands"]}
    assert described["digest"] == say("en", "command.digest")

    # A deputy's: the digest first; /help lists them too and sets the menu again.
    deputy = await official_on_telegram(runtime, telegram, civicbot, 8332, "ky")
    assert telegram.menu_of(8332, "ky") == ["digest", "inbox", "web", "poll", *roles.RESIDENT_MENU]
    await deputy.press("Кыргызча")
    sets = len(telegram.called("setMyCommands"))
    [helped] = await deputy.send("/help")
    assert helped.startswith(say("ky", "help.deputy"))
    assert len(telegram.called("setMyCommands")) == sets + 1
    # Set-up again ends on "your commands are in the menu", and the menu is set with it.
    sets = len(telegram.called("setMyCommands"))
    started = await deputy.send("/start")
    assert started[-1].endswith(say("ky", "start.ready_role"))
    assert len(telegram.called("setMyCommands")) == sets + 1

    resident = resident_of(runtime, telegram, "webhook", 8333, "en")
    await resident.send("/start m-lenin")
    await resident.press("English")
    assert telegram.menu_of(8333, "en") == list(roles.RESIDENT_MENU)


async def test_digest_shows_the_week_the_officials_were_sent(
    start_bot: StartBot,
    telegram: FakeTelegram,
    civicbot: Civicbot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The operator sent this (unfinished) week's digest: /digest shows that week, with its
    wish, not the quiet week before it."""
    runtime = await start_bot("webhook")
    deputy = await official_on_telegram(runtime, telegram, civicbot, 8431, "en")
    resident = resident_of(runtime, telegram, "webhook", 8432, "en")
    await resident.send("/start m-lenin")
    await resident.leave_wish("change", "Roads", "The bridge on Frunze street is broken")
    this_week = Week.of(dt.datetime.now(ZoneInfo("Asia/Bishkek")).date())
    delivery_env(monkeypatch, telegram)
    rc, _, err = await civicbot("digest", "run", "--period", str(this_week))
    assert rc == 0, err
    start = len(telegram.calls)
    await deputy.send("/digest")
    [(_, text), *_] = sent_to(telegram, 8431, start)
    assert "The bridge on Frunze street is broken" in text
    assert f"week {this_week.number}" in text
