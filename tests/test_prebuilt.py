"""Statements run straight on SQLite's writer connection (storage/prebuilt.py) give what Core
gives, store values in the same form, and fail with SQLAlchemy's exceptions."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
from typing import Any

import pytest
from sqlalchemy import bindparam, event, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from storage.db import Database
from storage.models import Conversation, InboundDelivery, Person, ReportQuota, Wish, utcnow
from storage.prebuilt import Prebuilt, flush_pending
from storage.queries.common import per_dialect
from storage.queries.loaded import got
from tests.conftest import execute, raw_connection

SECRET_KEY = "prebuilt-test-key-of-at-least-32-characters"

ADD = per_dialect(
    lambda insert: (
        insert(ReportQuota)
        .values(quota_key=bindparam("key"), count=1, expires_at=bindparam("expires"))
        .on_conflict_do_nothing()
    )
)
RAISE = Prebuilt(
    update(ReportQuota)
    .where(ReportQuota.quota_key == bindparam("key"))
    .values(count=ReportQuota.count + bindparam("step"))
    .returning(ReportQuota.count)
)
COUNT = Prebuilt(select(ReportQuota.count).where(ReportQuota.quota_key == bindparam("key")))
# PostgreSQL's: the backend, and the transaction's id once it has written.
BACKEND = Prebuilt(select(func.pg_backend_pid()))
TXID = Prebuilt(select(func.txid_current_if_assigned()))
# A conversation whose person is not there: a foreign key broken.
ORPHAN = per_dialect(
    lambda insert: insert(Conversation).values(
        person_id=bindparam("person_id"), step=None, data={}, nonce=""
    )
)
EXPIRES = dt.datetime(2030, 5, 17, 8, 30, 15, tzinfo=dt.UTC)


async def in_writer(db: Database, work: Any) -> Any:
    """Run `work` where inbound actions run: SQLite's group commit (the driver path), or a
    transaction of its own on PostgreSQL (asyncpg's path)."""
    return await db.write(work)


async def in_session(db: Database, work: Any) -> Any:
    """Run `work` in an ordinary session (Core on SQLite; asyncpg's path on PostgreSQL)."""
    async with db.session() as session, session.begin():
        return await work(session)


@pytest.mark.parametrize("run_in", [in_writer, in_session])
async def test_rows_and_counts_are_those_core_gives(db: Database, run_in: Any) -> None:
    expires = dt.datetime(2030, 5, 17, 8, 30, 15, 250000, tzinfo=dt.UTC)

    async def work(session: AsyncSession) -> tuple[int, ...]:
        first = (await ADD.run(session, key="k", expires=expires)).rowcount
        again = (await ADD.run(session, key="k", expires=expires)).rowcount
        raised = (await RAISE.run(session, key="k", step=4)).scalar()
        none = await RAISE.run(session, key="nobody", step=1)
        assert none.rows == [] and none.rowcount == 0 and none.scalar() is None
        counted = (await COUNT.run(session, key="k")).rows
        return first, again, raised, *counted[0]

    assert await run_in(db, work) == (1, 0, 5, 5)
    async with db.session() as session:  # read back by the ORM: the same value, the same zone
        quota = await session.get(ReportQuota, "k")
    assert quota is not None and (quota.count, quota.expires_at) == (5, expires)


async def test_values_are_stored_as_the_orm_stores_them(db: Database, database_url: str) -> None:
    """A person and conversation added on the fast path, beside ones the ORM added: the
    stored text of every column is alike (timestamps, booleans, JSON)."""
    from storage import queries

    async def add(session: AsyncSession) -> None:
        person, added = await queries.ensure_person(session, "sms", "+996555000111", "ru")
        assert added
        await queries.conversation_of(session, person.id, new=True)

    await in_writer(db, add)
    now = utcnow()
    async with db.session() as session, session.begin():
        session.add(Person(channel="sms", channel_user_id="+996555000222", created_at=now))
        await session.flush()
    async with db.session() as session, session.begin():
        other = await queries.find_person(session, "sms", "+996555000222")
        assert other is not None
        session.add(Conversation(person_id=other.id, step=None, data={}, nonce=""))
    async with db.session() as session:
        people = (await session.scalars(select(Person).order_by(Person.id))).all()
        talks = (await session.scalars(select(Conversation))).all()
        raw = await session.execute(select(Person.created_at.cast(type_=Person.channel.type)))
        stamps = [text for (text,) in raw]
    assert [(p.language, p.language_confirmed, p.opted_out) for p in people] == [
        ("ru", False, False),
        ("ky", False, False),
    ]
    assert all(p.created_at.tzinfo is not None for p in people)
    assert [(t.step, t.data, t.nonce) for t in talks] == [(None, {}, "")] * 2
    assert len({len(stamp) for stamp in stamps}) == 1, stamps  # one text form for both


async def test_a_wish_added_on_the_fast_path_is_stored_as_the_orm_stores_one(
    db: Database,
) -> None:
    """Every column of a wish added by `add_wish` reads back as one the ORM added with the
    same values (its defaults, the optimistic lock's first version, the time's form), and
    the object is the session's own, its place with it."""
    from storage import queries

    given: dict[str, Any] = {"kind": "change", "category": "roads", "text": "Жол", "channel": "sms"}

    async def add(session: AsyncSession) -> tuple[Wish, int]:
        person, _ = await queries.ensure_person(session, "sms", "+996555000555", "ky")
        place = await queries.municipality_by_key(session, "osh")
        assert place is not None
        fast = await queries.add_wish(
            session, municipality_id=place.id, person_id=person.id, **given
        )
        assert fast.municipality is place and fast in session
        orm = Wish(reference="0999002", municipality_id=place.id, person_id=person.id, **given)
        session.add(orm)
        await session.flush()
        return fast, orm.id

    fast, orm_id = await in_writer(db, add)
    columns = [c for c in Wish.__table__.columns if c.key not in ("id", "reference")]
    async with db.session() as session:
        rows = await session.execute(
            select(*(c.cast(Wish.text.type) for c in columns))
            .where(Wish.id.in_([fast.id, orm_id]))
            .order_by(Wish.id)
        )
        first, second = (dict(zip([c.key for c in columns], row, strict=True)) for row in rows)
    first.pop("created_at"), second.pop("created_at")
    assert first == second and first["version"] == "1"


async def test_a_persons_settings_are_written_at_once_and_read_as_stored(db: Database) -> None:
    """`change_person` writes by one statement and leaves nothing for the ORM to flush; an
    unknown setting (say, the channel) is refused."""
    from storage import queries

    async def change(session: AsyncSession) -> int:
        person, _ = await queries.ensure_person(session, "telegram", "626262", "ky")
        place = await queries.municipality_by_key(session, "naryn_city")
        await queries.change_person(
            session, person, municipality=place, language="en", language_confirmed=True
        )
        assert person.municipality is place and not session.dirty
        with pytest.raises(ValueError, match="channel"):
            await queries.change_person(session, person, channel="sms")
        with pytest.raises(ValueError, match="municipality_id"):
            await queries.change_person(session, person, municipality_id=1)
        return person.id

    person_id = await in_writer(db, change)
    async with db.session() as session:
        stored = await session.get(Person, person_id)
    assert stored is not None and stored.municipality is not None
    assert (stored.municipality.key, stored.language, stored.language_confirmed) == (
        "naryn_city",
        "en",
        True,
    )


async def test_a_change_writes_only_what_changed(db: Database, database_url: str) -> None:
    """A person's copy read before another writer marked them opted out (the outbox, when
    a chat has blocked the bot) changes their language: the opt-out stays."""
    from storage import queries

    async with db.session() as session, session.begin():
        person, _ = await queries.ensure_person(session, "telegram", "737373", "ky")
    async with db.session() as session:
        stale, _ = await queries.ensure_person(session, "telegram", "737373", "ky")
        await session.commit()  # the copy stays, as read
        await queries.mark_opted_out(session, "telegram", "737373")
        await session.commit()
        set_committed_value(stale, "opted_out", False)  # what this worker read before
        await queries.change_person(session, stale, language="ru")
        await session.commit()
    async with db.session() as session:
        stored = await session.get(Person, person.id)
    assert stored is not None and (stored.language, stored.opted_out) == ("ru", True)


async def test_driver_errors_are_sqlalchemy_errors(db: Database) -> None:
    """bot/channels/acks.py tells an outage (OperationalError) from a fault by SQLAlchemy's classes:
    the fast path raises the same ones."""
    missing = Prebuilt(
        select(InboundDelivery.reply).where(InboundDelivery.delivery_key == bindparam("key"))
    )

    async def no_person(session: AsyncSession) -> None:
        await ORPHAN.run(session, person_id=987654)

    with pytest.raises(IntegrityError):
        await in_writer(db, no_person)

    async def dropped(session: AsyncSession) -> None:
        connection = await session.connection()
        await connection.exec_driver_sql("ALTER TABLE inbound_deliveries RENAME TO gone")
        await missing.run(session, key="x")

    if db.writer is not None:  # PostgreSQL's DDL errors are ProgrammingError: not this path
        with pytest.raises(OperationalError):
            await in_writer(db, dropped)


async def test_statements_the_driver_path_cannot_run_are_refused(db: Database) -> None:
    expanding = Prebuilt(
        select(ReportQuota.count).where(
            ReportQuota.quota_key.in_(bindparam("keys", expanding=True))
        )
    )

    async def work(session: AsyncSession) -> Any:
        return await expanding.run(session, keys=["a"])

    if db.writer is None:  # Core runs anything: only the driver path must refuse
        await in_writer(db, work)
        return
    with pytest.raises(ValueError):
        await in_writer(db, work)


async def test_columns_that_need_converting_come_back_as_core_gives_them(db: Database) -> None:
    """A timestamp with its zone, booleans, JSON: through the types' own result processors."""
    from storage import queries

    expires = dt.datetime(2030, 5, 17, 8, 30, 15, 250000, tzinfo=dt.UTC)
    read = (
        select(
            ReportQuota.expires_at, Person.language_confirmed, Person.opted_out, Conversation.data
        )
        .join(Conversation, Conversation.person_id == Person.id)
        .join(ReportQuota, ReportQuota.quota_key == bindparam("key"))
        .where(Person.channel_user_id == bindparam("user"))
    )
    fast = Prebuilt(read)

    async def work(session: AsyncSession) -> tuple[Any, Any]:
        await ADD.run(session, key="t", expires=expires)
        person, _ = await queries.ensure_person(session, "sms", "+996555000333", "ky")
        talk = await queries.conversation_of(session, person.id, new=True)
        person.opted_out = True
        talk.data = {"wish": 7, "words": "Жол"}
        await queries.save_conversation(session, talk)
        await session.flush()
        values = {"key": "t", "user": "+996555000333"}
        core = tuple((await session.execute(read, values)).one())
        return (await fast.run(session, **values)).rows[0], core

    prebuilt, core = await in_writer(db, work)
    assert prebuilt == core == (expires, False, True, {"wish": 7, "words": "Жол"})


async def test_a_row_made_without_every_column_is_refused(db: Database) -> None:
    """A new sender's person is made from the values inserted, not loaded: one made without
    a column (say, one added to the model later) would read it lazily — an error under
    asyncio, at some later line. It is refused where it is made."""
    from storage.queries.loaded import as_loaded

    async with db.session() as session:
        with pytest.raises(ValueError, match="created_at"):
            values = {"id": 1, "channel": "sms", "channel_user_id": "+1", "language": "ky"}
            as_loaded(session, Person, values)
        with pytest.raises(ValueError, match="has no"):  # a key no column has, as the constructor
            as_loaded(session, Person, {**values, "languag": "ky"})


async def test_objects_made_from_fast_path_rows_are_the_sessions_own_and_current(
    db: Database, database_url: str
) -> None:
    """A known person and their place come from the fast path as the session's objects (one
    per row); a conversation is read afresh each time, with the row's current values (another
    worker may have changed it while this one waited for its lock)."""
    from storage import queries

    async with db.session() as session, session.begin():
        person, _ = await queries.ensure_person(session, "telegram", "424242", "ky")
        place = await queries.municipality_by_key(session, "naryn_city")
        assert place is not None
        person.municipality_id = place.id
        await queries.conversation_of(session, person.id, new=True)

    async with db.session() as session, session.begin():
        person, added = await queries.ensure_person(session, "telegram", "424242", "ru")
        again, _ = await queries.ensure_person(session, "telegram", "424242", "ru")
        assert not added and again is person and person.language == "ky"
        assert person.municipality is not None and person.municipality.key == "naryn_city"
        assert person.municipality.region.key == place.region.key
        await execute(
            database_url,
            update(Conversation)
            .where(Conversation.person_id == person.id)
            .values(step="elsewhere", data={"by": "another worker"}, nonce="n2"),
        )
        talk = await queries.conversation_of(session, person.id)
        assert (talk.step, talk.data, talk.nonce) == ("elsewhere", {"by": "another worker"}, "n2")
        assert not talk.changed()


async def test_a_place_named_later_reaches_the_wishes_the_session_holds_too(db: Database) -> None:
    """Wishes sent before the place was named move to it, in the database and in the
    session (an earlier action of the same group commit may have written one)."""
    from storage import queries

    async def work(session: AsyncSession) -> tuple[Wish, int | None]:
        person, _ = await queries.ensure_person(session, "sms", "+996555000444", "ky")
        wish = Wish(
            reference="0999001", kind="change", category="roads", text="Жол",
            person_id=person.id, channel="sms", created_at=utcnow(),
        )  # fmt: skip
        session.add(wish)
        await session.flush()
        place = await queries.municipality_by_key(session, "osh")
        assert place is not None
        await queries.attach_unplaced_wishes(session, person, place)
        return wish, place.id

    wish, place_id = await in_writer(db, work)
    assert wish.municipality_id == place_id
    async with db.session() as session:
        stored = await session.get(Wish, wish.id)
    assert stored is not None and stored.municipality_id == place_id


async def test_a_conversation_is_written_once_when_changed_and_read_back_as_written(
    db: Database, database_url: str
) -> None:
    """A job asking two of one resident's wishes in one session (handlers/mine.py) finds the
    step the first question wrote; a record saved unchanged writes nothing (here: it does
    not put back what another writer changed meanwhile)."""
    from storage import queries

    async with db.session() as session, session.begin():
        person, _ = await queries.ensure_person(session, "telegram", "515151", "ky")
        talk = await queries.conversation_of(session, person.id, new=True)
        talk.step, talk.nonce, talk.data = "followup", "n1", {"wish": 1}
        assert talk.changed()
        await queries.save_conversation(session, talk)
        again = await queries.conversation_of(session, person.id)
        assert (again.step, again.nonce, again.data) == ("followup", "n1", {"wish": 1})
        assert not talk.changed() and not again.changed()
    await execute(
        database_url,
        update(Conversation).where(Conversation.person_id == person.id).values(nonce="n2"),
    )
    async with db.session() as session, session.begin():
        await queries.save_conversation(session, talk)
    async with db.session() as session:
        stored = await session.get(Conversation, person.id)
    assert stored is not None and (stored.step, stored.nonce) == ("followup", "n2")


async def test_a_sender_is_read_in_one_statement_as_the_two_step_path_gives_them(
    db: Database,
) -> None:
    """open_sender reads a known sender's person, place and conversation together: the same
    objects and values as ensure_person and conversation_of, the session's own person."""
    from storage import queries

    async with db.session() as session, session.begin():
        person, talk, added = await queries.open_sender(session, "sms", "+996555000777", "ru")
        assert added and talk.step is None and not talk.changed()
        place = await queries.municipality_by_key(session, "naryn_city")
        await queries.change_person(session, person, municipality=place)
        talk.step, talk.data, talk.nonce = "wish.text", {"kind": "change"}, "n7"
        await queries.save_conversation(session, talk)

    async with db.session() as session, session.begin():
        person, talk, added = await queries.open_sender(session, "sms", "+996555000777", "ky")
        assert not added and person.language == "ru"
        assert person.municipality is not None and person.municipality.key == "naryn_city"
        assert person.municipality.region.name_ru
        assert (talk.step, talk.data, talk.nonce) == ("wish.text", {"kind": "change"}, "n7")
        assert not talk.changed()
        same, again, _ = await queries.open_sender(session, "sms", "+996555000777", "ky")
        assert same is person and again.nonce == "n7"
        known, _ = await queries.ensure_person(session, "sms", "+996555000777", "ky")
        assert known is person


async def test_a_second_action_of_one_sender_waits_and_reads_what_the_first_wrote(
    postgres_url: str,
) -> None:
    """On PostgreSQL the one statement still locks the conversation: a second worker's action
    on the same sender waits for the first to commit, then reads the step it wrote, and the
    place it gave the person (`ЖЕР 101` and the next SMS at once, on two workers)."""
    from bot.runtime.config import Settings
    from bot.runtime.database import prepare_database
    from storage import queries

    db = await prepare_database(Settings(database_url=postgres_url, secret_key=SECRET_KEY))
    try:
        async with db.session() as session, session.begin():
            await queries.open_sender(session, "telegram", "515151", "ky")
        first = db.session()
        async with first, first.begin():
            person, talk, _ = await queries.open_sender(first, "telegram", "515151", "ky")

            async def second() -> tuple[str | None, str | None]:
                async with db.session() as session, session.begin():
                    person, state, _ = await queries.open_sender(
                        session, "telegram", "515151", "ky"
                    )
                    place = person.municipality.key if person.municipality else None
                    return state.step, place

            waiting = asyncio.create_task(second())
            for _ in range(500):  # until the second is seen waiting for a lock (5 s at most)
                async with db.engine.connect() as look:
                    blocked = await look.scalar(
                        text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                    )
                if blocked:
                    break
                await asyncio.sleep(0.01)
            assert blocked and not waiting.done()
            talk.step, talk.nonce = "first", "n1"
            await queries.save_conversation(first, talk)
            place = await queries.municipality_by_key(first, "naryn_city")
            await queries.change_person(first, person, municipality=place)
        assert await waiting == ("first", "naryn_city")
    finally:
        await db.close()


async def test_two_senders_actions_that_each_add_a_row_for_the_other_do_not_deadlock(
    postgres_url: str,
) -> None:
    """Staff answering a resident's wish adds a notice for the resident while the resident's
    own action adds one for the staff member: each row points at the other's person, whose
    row the other's read has locked. The lock is not one foreign keys wait for."""
    from bot.runtime.config import Settings
    from bot.runtime.database import prepare_database
    from storage import queries

    db = await prepare_database(Settings(database_url=postgres_url, secret_key=SECRET_KEY))
    try:
        async with db.session() as session, session.begin():
            staff, _, _ = await queries.open_sender(session, "telegram", "616161", "ky")
            resident, _, _ = await queries.open_sender(session, "telegram", "626262", "ky")
            ids = {"616161": resident.id, "626262": staff.id}
        first, second = db.session(), db.session()
        async with first, second:
            for session, sender in ((first, "616161"), (second, "626262")):
                await session.begin()
                await queries.open_sender(session, "telegram", sender, "ky")

            async def notify_the_other(session: AsyncSession, sender: str) -> None:
                await queries.add_notice(session, ids[sender], "answer.notice", {})
                await session.commit()

            await asyncio.wait_for(
                asyncio.gather(
                    notify_the_other(first, "616161"), notify_the_other(second, "626262")
                ),
                timeout=10,
            )
    finally:
        await db.close()


async def test_a_flush_is_skipped_only_when_the_orm_holds_nothing_to_write(db: Database) -> None:
    """`flush_pending` flushes a new, changed or deleted object as `session.flush` does, and
    for a session holding only unchanged objects does not call it at all (the call alone is
    a trip through SQLAlchemy's greenlet)."""
    from storage import queries

    calls: list[str] = []

    async with db.session() as session, session.begin():
        flush = session.flush

        async def counted_flush(objects: Any = None) -> None:
            calls.append("flush")
            await flush(objects)

        session.flush = counted_flush  # type: ignore[method-assign]
        person, _ = await queries.ensure_person(session, "telegram", "515151", "ky")
        await flush_pending(session)  # loaded, unchanged
        assert calls == []
        person.language = "ru"
        await flush_pending(session)
        assert len(calls) == 1 and not session.dirty
        late = Person(channel="telegram", channel_user_id="515152", language="en")
        session.add(late)
        await flush_pending(session)
        assert len(calls) == 2 and late.id is not None
        await session.delete(late)
        await flush_pending(session)
        assert len(calls) == 3 and not session.deleted
        await flush_pending(session)
        assert len(calls) == 3

    async with db.session() as session:
        stored = await session.scalars(
            select(Person.language).where(Person.channel_user_id.in_(["515151", "515152"]))
        )
        assert list(stored) == ["ru"]


async def test_got_gives_the_sessions_object_as_get_does_and_reads_an_expired_one_again(
    db: Database,
) -> None:
    from storage import queries

    statements: list[str] = []

    async with db.session() as session, session.begin():
        person, _ = await queries.ensure_person(session, "telegram", "616161", "ky")
        event.listen(
            session.sync_session.get_bind(),
            "before_cursor_execute",
            lambda _c, _k, sql, *_: statements.append(sql),
        )
        person_id = person.id  # an expired object's own id would be read with SQL
        assert await got(session, Person, person_id) is person
        assert statements == []
        session.expire(person)
        assert await got(session, Person, person_id) is person
        assert len(statements) == 1 and person.language == "ky"
        session.expunge(person)
        assert (found := await got(session, Person, person_id)) is not person
        assert found is not None and found.channel_user_id == "616161"
        assert await got(session, Person, -1) is None


async def test_a_place_made_for_one_sender_serves_the_next_of_the_batch(db: Database) -> None:
    """The session holds its objects weakly: the place made for one sender stays for the
    next sender of the same place in the batch (one object, not one each), after the first
    person is let go."""
    from storage import queries
    from storage.models import Municipality
    from storage.queries.loaded import held

    async with db.session() as session, session.begin():
        place = await queries.municipality_by_key(session, "naryn_city")
        assert place is not None
        place_id = place.id
        for user_id in ("717171", "717172"):
            person, _, _ = await queries.open_sender(session, "telegram", user_id, "ky")
            await queries.change_person(session, person, municipality=place)
        del person, place

    async with db.session() as session, session.begin():
        first, _, _ = await queries.open_sender(session, "telegram", "717171", "ky")
        made = first.municipality
        assert made is not None and made.id == place_id
        del first, made
        gc.collect()
        assert held(session, Municipality, place_id) is not None
        second, _, _ = await queries.open_sender(session, "telegram", "717172", "ky")
        assert second.municipality is held(session, Municipality, place_id)


async def test_on_postgresql_every_prebuilt_statement_goes_straight_to_asyncpg(
    db: Database,
) -> None:
    """None goes through Core, not even a transaction's first (whose BEGIN the adapter sends,
    as Core's first statement would); they give what Core gives (the test above). On SQLite's
    reader connections, Core runs them all."""
    through_core: list[str] = []

    def seen(*args: Any) -> None:
        through_core.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:

        async def work(session: AsyncSession) -> int:
            await ADD.run(session, key="straight", expires=EXPIRES)
            await RAISE.run(session, key="straight", step=2)
            return (await COUNT.run(session, key="straight")).scalar()

        assert await in_session(db, work) == 3
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    prebuilt = [sql for sql in through_core if "report_quotas" in sql]
    expected = 0 if db.engine.dialect.driver == "asyncpg" else 3
    assert len(prebuilt) == expected, through_core


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # asyncpg's path
async def test_a_transaction_begun_by_its_first_prebuilt_statement_is_the_sessions(
    db: Database, database_url: str
) -> None:
    """The first statement straight to asyncpg begins a transaction, never autocommits: the
    session's rollback takes it back, its commit keeps it (seen from outside the pool), and
    a statement through Core after it is in the same transaction."""

    class Undo(Exception):
        pass

    async def rolled_back(session: AsyncSession) -> None:
        await ADD.run(session, key="undone", expires=EXPIRES)
        raise Undo

    with pytest.raises(Undo):
        await in_session(db, rolled_back)

    async def kept(session: AsyncSession) -> tuple[Any, Any]:
        await ADD.run(session, key="kept", expires=EXPIRES)
        core = (await session.execute(text("SELECT txid_current_if_assigned()"))).scalar()
        straight = (await TXID.run(session)).scalar()
        return core, straight

    core, straight = await in_session(db, kept)
    assert core is not None and core == straight  # one transaction, which wrote the row
    assert await committed_quotas(database_url) == ["kept"]


async def backend_of(session: AsyncSession) -> int:
    """The PostgreSQL backend (so the connection) the session's transaction runs on."""
    return (await BACKEND.run(session)).scalar()


async def committed_quotas(database_url: str) -> list[str]:
    """The quota keys committed, read on a connection of its own (outside the pool, where a
    transaction left open would show its own rows)."""

    outside = await raw_connection(database_url)
    try:
        rows = await outside.fetch("SELECT quota_key FROM report_quotas ORDER BY quota_key")
    finally:
        await outside.close()
    return [row["quota_key"] for row in rows]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # asyncpg's path
async def test_an_action_cancelled_while_its_begin_is_answered_leaves_no_open_transaction(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server stopping cancels an action whose BEGIN the server has taken but whose answer
    the adapter has not yet seen: the adapter has not recorded a transaction that the
    server holds. Its connection is let go, so that the next action commits on one that is
    not half in a transaction (on it, the next commit would have ended nothing)."""
    import asyncpg

    pid = await in_session(db, backend_of)  # the pool's one connection, idle

    async def first_statement(session: AsyncSession) -> None:
        await ADD.run(session, key="cancelled", expires=EXPIRES)

    began = asyncio.Event()
    sent = asyncpg.Connection.execute

    async def begin_then_wait(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        result = await sent(self, query, *args, **kwargs)
        if query.startswith("BEGIN"):  # the server has begun; the answer "not yet read"
            began.set()
            await asyncio.Event().wait()
        return result

    monkeypatch.setattr(asyncpg.Connection, "execute", begin_then_wait)
    task = asyncio.create_task(in_session(db, first_statement))
    await began.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.undo()

    async def next_action(session: AsyncSession) -> int:
        await ADD.run(session, key="next", expires=EXPIRES)
        return await backend_of(session)

    assert await in_session(db, next_action) != pid  # a new connection
    assert await committed_quotas(database_url) == ["next"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # asyncpg's path
async def test_a_connection_dropped_while_idle_fails_its_first_statement_as_the_database_away(
    db: Database, database_url: str
) -> None:
    """The server restarted while the bot was quiet: the pooled connection's first statement,
    whose BEGIN goes straight to asyncpg, fails as an invalidated connection (which
    handlers/dispatch.py runs once more and bot/channels/acks.py counts as the database away),
    and the next action gets a new one."""

    from bot.channels.acks import database_away

    pid = await in_session(db, backend_of)  # the pool keeps this connection
    killer = await raw_connection(database_url)
    try:
        await killer.execute("SELECT pg_terminate_backend($1)", pid)
        for _ in range(500):  # until the server has let it go: 5 s at most
            if not await killer.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid=$1", pid):
                break
            await asyncio.sleep(0.01)
    finally:
        await killer.close()

    async def first_statement(session: AsyncSession) -> None:
        await ADD.run(session, key="after-idle", expires=EXPIRES)

    with pytest.raises(DBAPIError) as caught:
        await in_session(db, first_statement)
    assert caught.value.connection_invalidated and database_away(caught.value)
    assert await in_session(db, backend_of) != pid


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite's: above
async def test_errors_on_the_asyncpg_path_are_sqlalchemys_and_a_dropped_connection_is_let_go(
    db: Database,
) -> None:
    """bot/channels/acks.py must tell an outage from a fault whichever path a statement took:
    a constraint broken is an IntegrityError; a connection the server dropped is an outage,
    invalidated, and the next transaction gets a working one."""
    from bot.channels.acks import database_away

    assert db.engine.dialect.driver == "asyncpg"

    async def no_person(session: AsyncSession) -> None:
        await ADD.run(session, key="first", expires=EXPIRES)
        await ORPHAN.run(session, person_id=987654)

    with pytest.raises(IntegrityError):
        await in_session(db, no_person)

    async def dropped(session: AsyncSession) -> None:
        await ADD.run(session, key="before", expires=EXPIRES)
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar()
        async with db.engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await RAISE.run(session, key="before", step=1)

    with pytest.raises(DBAPIError) as caught:
        await in_session(db, dropped)
    assert caught.value.connection_invalidated and database_away(caught.value)

    async def afterwards(session: AsyncSession) -> int:
        await ADD.run(session, key="after", expires=EXPIRES)
        return (await RAISE.run(session, key="after", step=1)).scalar()

    assert await in_session(db, afterwards) == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # asyncpg's path
async def test_a_statement_prepared_before_a_schema_change_fails_once_as_the_database_away(
    db: Database,
) -> None:
    """A column changed under a prepared statement (a migration by another worker): the
    action that meets it fails as the database away, so that its delivery is tried again
    and never given up for it, and the next one on the connection prepares it anew."""
    from bot.channels.acks import database_away

    async def step(session: AsyncSession) -> int:
        await ADD.run(session, key="k", expires=EXPIRES)
        return (await RAISE.run(session, key="k", step=1)).scalar()

    assert await in_writer(db, step) == 2
    async with db.engine.connect() as other:
        await other.execute(text("ALTER TABLE report_quotas ALTER COLUMN count TYPE bigint"))
        await other.commit()
    with pytest.raises(DBAPIError) as caught:
        await in_writer(db, step)
    assert database_away(caught.value) and not caught.value.connection_invalidated
    assert await in_writer(db, step) == 3  # the failed one's increment was rolled back


@pytest.mark.parametrize("run_in", [in_writer, in_session])
async def test_a_savepoint_begun_after_a_statement_takes_the_statements_within_it(
    db: Database, run_in: Any
) -> None:
    """`begin_nested` after a prebuilt statement: the next ones are within the savepoint, and
    its rollback takes them back (SQLAlchemy emits the SAVEPOINT when the connection is next
    asked for, which a statement's look-up of its connection now does)."""

    async def work(session: AsyncSession) -> None:
        await ADD.run(session, key="before", expires=EXPIRES)
        nested = await session.begin_nested()
        await ADD.run(session, key="undone", expires=EXPIRES)
        await nested.rollback()
        await ADD.run(session, key="after", expires=EXPIRES)

    await run_in(db, work)
    async with db.session() as session:
        found = set(await session.scalars(select(ReportQuota.quota_key)))
    assert {"before", "after"} <= found and "undone" not in found


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # asyncpg's path
async def test_a_server_that_dropped_every_connection_is_reached_again_at_the_next_action(
    db: Database, database_url: str
) -> None:
    """A connection found dropped on the asyncpg path is shown to Core, which lets the
    pool's other connections go with it (the server dropped them too): the next transaction
    gets a new one, as it would have after Core found the drop itself."""

    async def idle_in_the_pool() -> None:
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)

    await asyncio.gather(idle_in_the_pool(), idle_in_the_pool())  # two pooled connections

    async def dropped(session: AsyncSession) -> None:
        await ADD.run(session, key="before", expires=EXPIRES)
        killer = await raw_connection(database_url)
        try:
            await killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await killer.close()
        await RAISE.run(session, key="before", step=1)

    with pytest.raises(DBAPIError) as caught:
        await in_session(db, dropped)
    assert caught.value.connection_invalidated

    async def next_action(session: AsyncSession) -> int:
        await ADD.run(session, key="next", expires=EXPIRES)
        return (await RAISE.run(session, key="next", step=1)).scalar()

    assert await in_session(db, next_action) == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # asyncpg's path
async def test_a_statement_cancelled_on_the_asyncpg_path_leaves_a_working_connection(
    db: Database, database_url: str
) -> None:
    """A server stopping cancels the actions under way: one cancelled while asyncpg waits for
    its statement leaves nothing half-done on the connection the pool gets back (asyncpg
    cancels the statement on the server), and the next actions run on it at once."""

    sleep = Prebuilt(select(func.pg_sleep(bindparam("seconds"))))
    backend = Prebuilt(select(func.pg_backend_pid()))
    began: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def slow(session: AsyncSession) -> None:
        await ADD.run(session, key="slow", expires=EXPIRES)
        began.set_result((await backend.run(session)).scalar())
        await sleep.run(session, seconds=30)

    task = asyncio.create_task(in_session(db, slow))
    pid = await began
    # Watched from outside the pool, so that the pool holds the cancelled action's connection
    # alone: the server runs the sleep when asyncpg is waiting for it.
    watching = await raw_connection(database_url)
    try:
        for _ in range(1000):  # 10 s at most
            asleep = await watching.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep%'",
                pid,
            )
            if asleep:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the sleep never began")
    finally:
        await watching.close()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def next_action(session: AsyncSession) -> tuple[int, int]:
        await ADD.run(session, key="next", expires=EXPIRES)
        count = (await RAISE.run(session, key="next", step=1)).scalar()
        return count, (await backend.run(session)).scalar()

    # The pool's one connection, the cancelled action's own, serves the next at once.
    assert await asyncio.wait_for(in_session(db, next_action), 5) == (2, pid)
    async with db.session() as session:
        assert (
            await session.scalar(select(ReportQuota.count).where(ReportQuota.quota_key == "slow"))
            is None
        )
