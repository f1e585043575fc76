"""Kyrgyzstan's places as shipped (storage/data/kyrgyzstan_places.csv, its source in the
README beside it) and how a resident finds theirs: region → town or district → municipality
with buttons, by a typed name at any of those questions, and by SMS (ЖЕР <key, code or
name>). At the conversation level (tests/conversation.py), on SQLite and PostgreSQL; the
migration from a database seeded before districts existed, on both."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select, text

from bot.runtime.config import Settings
from bot.runtime.database import prepare_database
from handlers import onboarding
from storage import queries
from storage.db import Database, alembic_config
from storage.domain import facts, is_municipality_key
from storage.models import District, Municipality, Person, Region, utcnow
from storage.place_list import shipped, shipped_units
from tests.conftest import Say
from tests.conversation import Conversation, World
from tests.places import LANGUAGE_NAMES

NAME = {"ky": "name_ky", "ru": "name_ru"}


def unit(key: str, kind: str = "town") -> dict[str, str]:
    found = next(u for u in shipped(kind) if u.key == key)
    return {"ky": found.name_ky, "ru": found.name_ru, "en": found.name_en}


# --- the list itself --------------------------------------------------------------------


def test_the_shipped_list_counts_what_the_classifier_counts() -> None:
    """7 regions and the 2 cities of republican significance, 40 districts (as many in each
    region as the classifier has), 32 towns: 14 in no district (Bishkek, Osh and the 12 of
    regional significance) and 18 in one."""
    kinds = Counter(u.kind for u in shipped_units())
    assert kinds == {"region": 9, "district": 40, "town": 32, "aimak": 453}
    regions = shipped("region")
    assert sum(u.name_ru.endswith(" область") for u in regions) == 7
    assert {u.key for u in regions if u.name_ru.startswith("город ")} == {"bishkek", "osh_city"}
    assert Counter(u.region for u in shipped("district")) == {
        "chui": 8,
        "jalal_abad": 8,
        "osh_region": 7,
        "issyk_kul": 5,
        "naryn": 5,
        "talas": 4,
        "batken": 3,
    }
    towns = shipped("town")
    assert (sum(t.district is None for t in towns), sum(t.district is not None for t in towns)) == (
        14,
        18,
    )


def test_every_unit_is_named_in_kyrgyz_and_russian_and_hangs_together() -> None:
    regions = {u.key: u for u in shipped("region")}
    districts = {u.key: u for u in shipped("district")}
    keys = [u.key for u in shipped_units() if u.kind in ("town", "aimak")]
    assert len(keys) == len(set(keys))  # one key space for municipalities
    for kind in ("region", "district"):
        keys = [u.key for u in shipped(kind)]
        assert len(keys) == len(set(keys)), kind
    for u in shipped_units():
        assert u.name_ky and u.name_ru and u.name_en and is_municipality_key(u.key), u
        assert u.name_ky != u.name_ru or u.kind in ("town", "aimak"), u  # "району" / "район"
        if u.soate:  # the classifier's 14 digits, under its region's
            assert len(u.soate) == 14 and u.soate.isdigit() and u.soate.startswith("417"), u
        if u.kind != "region":
            assert u.region in regions, u
            assert u.soate is None or u.soate[:5] == str(regions[u.region].soate)[:5], u
        if u.district:
            assert districts[u.district].region == u.region, u
    assert all(u.soate for u in shipped("region")) and all(u.soate for u in shipped("district"))


# The classifier copy's ayil aimaks per district (41702205… Ak-Suu: 14), as counted in
# storage/data/README.md; three agree with Wikipedia's (Ak-Talaa 13, Alay 14, Aksy 11).
AIMAKS = {
    "ak_suu": 14,
    "jeti_oguz": 13,
    "issyk_kul_district": 12,
    "ton": 9,
    "tup": 13,
    "ala_buka": 8,
    "bazar_korgon": 9,
    "aksy": 11,
    "nooken": 8,
    "suzak": 13,
    "toguz_toro": 5,
    "toktogul": 10,
    "chatkal": 4,
    "ak_talaa": 13,
    "at_bashy": 11,
    "jumgal": 13,
    "kochkor": 11,
    "naryn_district": 15,
    "batken_district": 9,
    "leilek": 9,
    "kadamjay": 13,
    "alay": 14,
    "aravan": 8,
    "kara_suu": 16,
    "nookat": 16,
    "kara_kulja": 12,
    "uzgen": 19,
    "chong_alay": 3,
    "kara_buura": 10,
    "bakai_ata": 9,
    "manas": 5,
    "talas_district": 13,
    "alamudun": 17,
    "ysyk_ata": 18,
    "jaiyl": 12,
    "kemin": 11,
    "moskva": 12,
    "panfilov": 6,
    "sokuluk": 19,
    "chui_district": 10,
}


def test_every_district_has_the_classifiers_ayil_aimaks() -> None:
    """453 ayil aimaks, each in a district of its region with its code under the district's;
    per region and per district as many as the classifier's copy lists; each marked for a
    Kyrgyz speaker's reading, the journal's starter places among them under their own keys."""
    aimaks = shipped("aimak")
    districts = {u.key: u for u in shipped("district")}
    assert Counter(u.district for u in aimaks) == AIMAKS and sum(AIMAKS.values()) == 453
    assert Counter(u.region for u in aimaks) == {
        "issyk_kul": 61,
        "jalal_abad": 68,
        "naryn": 63,
        "batken": 31,
        "osh_region": 88,
        "talas": 37,
        "chui": 105,
    }
    for u in aimaks:
        district = districts[str(u.district)]
        assert u.region == district.region and str(u.soate)[:8] == str(district.soate)[:8], u
        assert not u.ky_checked, u
    assert len({u.soate for u in aimaks}) == 453
    starters = {m["key"] for m in facts()["municipalities"]} & {u.key for u in aimaks}
    assert starters == {"dobolu", "tort_kul", "ivanovka", "lenin", "beshkent", "chaek", "baetov"}
    assert all(u.ky_checked for u in shipped_units() if u.kind != "aimak")


async def test_the_database_holds_what_is_shipped(world: World) -> None:
    async with world.db.session() as session:
        regions = {r.key: r for r in (await session.scalars(select(Region))).all()}
        districts = {d.key: d for d in (await session.scalars(select(District))).all()}
        places = {m.key: m for m in await queries.all_municipalities(session)}
    assert set(regions) == {u.key for u in shipped("region")}
    assert set(districts) == {u.key for u in shipped("district")}
    assert {u.key for u in shipped("town") + shipped("aimak")} <= set(places)
    ids = {d.id: key for key, d in districts.items()}
    for town in shipped("town") + shipped("aimak"):
        place = places[town.key]
        assert place.region.key == town.region
        assert ids.get(place.district_id or 0) == town.district
    assert places["beshkent"].district_id == districts["leilek"].id  # domain.yaml's district
    # A starter place the file lists too is one row, with the journal's names and the code.
    assert places["dobolu"].name_ky == "Дөбөлү айылдык аймагы"
    assert places["dobolu"].soate == "41704245812000"
    assert len({m.code for m in places.values()}) == len(places)


# --- choosing with buttons --------------------------------------------------------------


async def started(world: World, language: str) -> Conversation:
    resident = world.conversation("telegram", language)
    await resident.send("/start")
    await resident.press(LANGUAGE_NAMES[language])
    return resident


@pytest.mark.parametrize("language", ["ky", "ru"])
async def test_region_then_district_then_town(world: World, say: Say, language: str) -> None:
    resident = await started(world, language)
    name = NAME[language]
    assert {getattr(u, name) for u in shipped("region")} <= set(resident.buttons())
    await resident.press(unit("chui", "region")[language])
    # The region's own towns first (Tokmok), then its districts with a place to choose.
    buttons = resident.buttons()
    tokmok, ysyk_ata = unit("tokmok")[language], unit("ysyk_ata", "district")[language]
    assert buttons.index(tokmok) < buttons.index(ysyk_ata)
    assert unit("kant")[language] not in buttons
    await resident.press(unit("ysyk_ata", "district")[language])
    # The district's towns and ayil aimaks: Kant and Ivanovka among them, paged.
    assert unit("kant")[language] in resident.buttons()
    assert resident.buttons()[-2:] == [
        say(language, "button.next_page"),
        say(language, "button.back"),
    ]
    replies = await resident.press(unit("kant")[language])
    assert replies[0].startswith(say(language, "place.set", place=unit("kant")[language]))
    assert (await resident.state()).step is None  # type: ignore[union-attr]


async def test_back_goes_up_one_list_and_a_city_region_is_chosen_at_once(
    world: World, say: Say
) -> None:
    resident = await started(world, "ru")
    await resident.press("Чуйская область")
    await resident.press("Кеминский район")
    assert resident.buttons()[:3] == ["город Кемин", "город Орловка", "Алмалунский айылный аймак"]
    await resident.press("« Назад")
    assert "Кеминский район" in resident.buttons()  # the region's list again
    await resident.press("« Назад")
    assert "город Бишкек" in resident.buttons()  # the regions
    replies = await resident.press("город Бишкек")
    assert replies[0].startswith(say("ru", "place.set", place="город Бишкек"))


async def test_a_long_list_comes_in_pages(
    world: World, say: Say, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onboarding, "PAGE_SIZE", 3)
    resident = await started(world, "ru")
    await resident.press("Чуйская область")
    first = resident.buttons()
    assert first[3:] == [say("ru", "button.next_page"), "« Назад"]
    await resident.press(say("ru", "button.next_page"))
    second = resident.buttons()
    assert second[3:5] == [say("ru", "button.previous_page"), say("ru", "button.next_page")]
    assert not set(first[:3]) & set(second[:3])
    await resident.press(say("ru", "button.previous_page"))
    assert resident.buttons() == first
    replies = await resident.press(first[0])  # a place from a page is chosen as any other
    assert replies[0].startswith(say("ru", "place.set", place=first[0]))


@pytest.mark.parametrize(
    "language,region,district,place",
    [
        ("ky", "Нарын облусу", "Ак-Талаа району", "Кызыл-Белес айыл аймагы"),
        ("ru", "Нарынская область", "Ак-Талинский район", "Кызыл-Белесский айылный аймак"),
    ],
    ids=["ky", "ru"],
)
async def test_region_then_district_then_ayil_aimak(
    world: World, say: Say, language: str, region: str, district: str, place: str
) -> None:
    """Ak-Talaa's 13 ayil aimaks come in two pages; the one on the second is chosen and kept."""
    resident = await started(world, language)
    await resident.press(region)
    await resident.press(district)
    assert place not in resident.buttons()
    await resident.press(say(language, "button.next_page"))
    replies = await resident.press(place)
    assert replies[0].startswith(say(language, "place.set", place=place))
    async with world.db.session() as session:
        person = await session.scalar(select(Person).where(Person.channel_user_id == resident.user))
        chosen = await queries.municipality_by_key(session, "kyzyl_beles")
        assert person is not None and chosen is not None
        assert person.municipality_id == chosen.id and chosen.soate == "41704210822000"


# --- choosing by a typed name -------------------------------------------------------------


@pytest.mark.parametrize(
    "language,typed,key",
    [
        ("ky", "озгон", "uzgen_city"),  # Өзгөн without ө
        ("ky", "КОЧКОР АТА", "kochkor_ata"),  # no hyphen, capitals
        ("ky", "Көк-Жаңгак", "kok_jangak"),
        ("ru", "узген", "uzgen_city"),
        ("ru", "кара-балта", "kara_balta"),
        ("ru", "Сулюкта", "sulukta"),
        ("ky", "кызыл белес", "kyzyl_beles"),  # an ayil aimak, no hyphen
        ("ru", "Угутский", "ugut"),
    ],
)
async def test_a_typed_name_offers_the_places_it_fits(
    world: World, say: Say, language: str, typed: str, key: str
) -> None:
    resident = await started(world, language)
    replies = await resident.send(typed)
    assert replies[0].startswith(say(language, "place.matches", query=typed))
    town = next(u for u in shipped("town") + shipped("aimak") if u.key == key)
    region = unit(str(town.region), "region")[language]
    label = f"{getattr(town, NAME[language])} ({region})"
    assert resident.buttons()[0] == label
    replies = await resident.press(label)
    assert replies[0].startswith(say(language, "place.set", place=getattr(town, NAME[language])))


async def test_a_name_typed_in_a_district_list_and_one_not_found(world: World, say: Say) -> None:
    resident = await started(world, "ky")
    await resident.press("Чүй облусу")
    await resident.send("Каракол")
    assert resident.buttons()[0] == "Каракол шаары (Ысык-Көл облусу)"  # as written: first
    assert "Каракөл шаары (Жалал-Абад облусу)" in resident.buttons()  # in plain letters
    replies = await resident.send("Атлантида")
    assert replies[0].startswith(say("ky", "place.not_found", query="Атлантида"))
    assert "Нарын облусу" in resident.buttons()  # the regions again
    replies = await resident.send("/place нарын")
    assert resident.buttons()[0] == "Нарын шаары (Нарын облусу)"


# --- SMS: ЖЕР with a key, a code or a name ------------------------------------------------


async def test_sms_place_by_code_key_or_name(world: World, say: Say) -> None:
    sender = world.conversation("sms", "ky")
    async with world.db.session() as session:
        karakol = await queries.municipality_by_key(session, "karakol")
        assert karakol is not None
    assert await sender.send(f"ЖЕР {karakol.code}") == [
        say("ky", "place.set", place="Каракол шаары")
    ]
    assert await sender.send("ЖЕР naryn_city") == [say("ky", "place.set", place="Нарын шаары")]
    # A name as written beats the same name in plain letters (Каракөл); the town and the ayil
    # aimak of the same name are both offered.
    async with world.db.session() as session:
        found = {m.key: m for m in await queries.all_municipalities(session)}
    listed = ", ".join(
        f"{found[key].code} {found[key].name_ky}"
        for key in ("karakol", "karakol_ak_suu", "kara_kul")
    )
    assert await sender.send("ЖЕР Каракол") == [say("ky", "sms.place.choose_code", places=listed)]
    # An ayil aimak by its name, as the classifier writes it in Russian or by the stem.
    assert await sender.send("ЖЕР Угут") == [say("ky", "place.set", place="Угут айыл аймагы")]
    assert await sender.send("МЕСТО угутский") == [
        say("ru", "place.set", place="Угутский айылный аймак")
    ]
    assert await sender.send("МЕСТО Узген") == [say("ru", "place.set", place="город Узген")]


async def test_sms_name_that_fits_several_answers_their_codes(world: World, say: Say) -> None:
    sender = world.conversation("sms", "ky")
    [answer] = await sender.send("ЖЕР кара")
    async with world.db.session() as session:
        places = await queries.all_municipalities(session)
    # "Кара" a whole word of the name (Кара-Суу; Кара-Куль in Russian) before its start only
    # (Каракол); the best three, by code.
    whole = {"kara_kul", "kara_suu_city", "kara_balta"}
    fitting = sorted((m for m in places if m.key in whole), key=lambda m: m.code)
    listed = ", ".join(f"{m.code} {m.name_ky}" for m in fitting[:3])
    assert answer == say("ky", "sms.place.choose_code", places=listed)
    code = fitting[1].code
    assert await sender.send(f"ЖЕР {code}") == [say("ky", "place.set", place=fitting[1].name_ky)]
    async with world.db.session() as session:
        person = await session.scalar(select(Person).where(Person.channel_user_id == sender.user))
        assert person is not None and person.municipality_id == fitting[1].id


# --- the migration, from a database seeded before districts -------------------------------


async def test_a_database_seeded_before_districts_keeps_its_keys_and_codes(
    blank_database_url: str,
) -> None:
    """0017 on a database of 0016 whose places the old seed wrote (Baetov with code 112, a
    resident there): the keys, codes and the resident's place stay, Baetov gets its
    district, the shipped towns get the codes after the highest, and a second start adds
    nothing."""
    from alembic import command

    await asyncio.to_thread(command.upgrade, alembic_config(blank_database_url), "0016")
    db = Database(blank_database_url)
    try:
        async with db.engine.begin() as connection:
            region = await connection.scalar(
                text(
                    "INSERT INTO regions (key, position, name_ky, name_ru, name_en) "
                    "VALUES ('naryn', 3, 'Нарын облусу', 'Нарынская область', 'Naryn Region') "
                    "RETURNING id"
                )
            )
            place = await connection.scalar(
                text(
                    "INSERT INTO municipalities (key, code, region_id, district, name_ky, "
                    "name_ru, name_en) VALUES ('baetov', 112, :r, 'Ak-Talaa', 'Баетов', "
                    "'Баетов', 'Baetov') RETURNING id"
                ),
                {"r": region},
            )
            await connection.execute(
                text(
                    "INSERT INTO people (channel, channel_user_id, language, "
                    "language_confirmed, opted_out, created_at, municipality_id) "
                    "VALUES ('sms', '+996555000009', 'ky', true, false, :now, :m)"
                ),
                {"now": utcnow(), "m": place},
            )
    finally:
        await db.close()

    settings = Settings(database_url=blank_database_url, secret_key="k")
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            baetov = await queries.municipality_by_key(session, "baetov")
            assert baetov is not None and (baetov.id, baetov.code) == (place, 112)
            district = await queries.district_by_key(session, "ak_talaa")
            assert district is not None and baetov.district_id == district.id
            person = await session.scalar(select(Person))
            assert person is not None and person.municipality_id == place
            kant = await queries.municipality_by_key(session, "kant")
            assert kant is not None and kant.code > 112
            count = await session.scalar(select(func.count()).select_from(Municipality))
    finally:
        await db.close()
    db = await prepare_database(settings)
    try:
        async with db.session() as session:
            again = await session.scalar(select(func.count()).select_from(Municipality))
    finally:
        await db.close()
    assert again == count


async def test_a_place_named_by_key_or_code_is_read_with_its_region_in_one_statement(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a resident types for a place is one round trip, not its id and then the place
    (each action has a session of its own on PostgreSQL, so nothing is held to spare it)."""
    from storage.prebuilt import Prebuilt

    statements = []
    run = Prebuilt.run

    async def counted(self: Prebuilt, session: object, **values: object) -> object:
        statements.append(values)
        return await run(self, session, **values)  # type: ignore[arg-type]

    monkeypatch.setattr(Prebuilt, "run", counted)
    async with db.session() as session:
        by_key = await queries.municipality_by_key(session, "Naryn_City")
    async with db.session() as session:
        by_code = await queries.municipality_by_key_or_code(session, "101")
        missing = await queries.municipality_by_key_or_code(session, "999")
    assert by_key is not None and by_code is not None and missing is None
    assert by_key.key == by_code.key == "naryn_city"
    assert by_key.region.key == by_code.region.key == "naryn"  # loaded with it
    assert len(statements) == 3
