"""Database tables. Every time is stored in UTC; every name comes in ky, ru and en."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Named:
    """Columns for something with a name in each of the bot's languages."""

    name_ky: Mapped[str] = mapped_column(String(200))
    name_ru: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))

    def name(self, language: str) -> str:
        return str(getattr(self, f"name_{language}", None) or self.name_ky)


class Region(Named, Base):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # The unit's code in the state classifier СОАТЕ (14 digits), where the shipped list has it.
    soate: Mapped[str | None] = mapped_column(String(14))


class District(Named, Base):
    """A district (район) of a region: how a resident narrows a long list of places."""

    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    soate: Mapped[str | None] = mapped_column(String(14))


class Municipality(Named, Base):
    __tablename__ = "municipalities"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    # Short number that SMS users type instead of the key (PLACE 101).
    code: Mapped[int] = mapped_column(Integer, unique=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    district: Mapped[str | None] = mapped_column(String(100))
    # Signatures a local initiative needs, as the municipality's charter sets it.
    initiative_threshold: Mapped[int | None] = mapped_column(Integer)
    # The district it lies in; none for a city of regional or republican significance (and
    # for a place whose district the data does not say): the region lists those itself.
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), index=True)
    soate: Mapped[str | None] = mapped_column(String(14))
    # People living there, where known (set by the operator): polls weigh answers by it.
    population: Mapped[int | None] = mapped_column(Integer)
    region: Mapped[Region] = relationship(lazy="joined")


class Village(Named, Base):
    """A village (or a city's quarter) of a municipality, as the operator lists it: polls
    ask residents which one they live in, send to some of them, and weigh answers by their
    population."""

    __tablename__ = "villages"
    __table_args__ = (UniqueConstraint("municipality_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)  # 1, 2, …: the number residents type
    population: Mapped[int | None] = mapped_column(Integer)


# Channels a message the bot starts can reach (answers, notices, follow-ups): a browser (the
# web chat) only hears the bot while it is open, and a paper card has no one (storage/channels.py).


class Person(Base):
    """A resident or official as seen by one channel (a Telegram user, a phone number)."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    # A chat id, a phone number in E.164, a WhatsApp user's business-scoped id, a keyed hash.
    channel_user_id: Mapped[str] = mapped_column(String(160))
    language: Mapped[str] = mapped_column(String(2), default="ky")
    # False until the resident confirms or picks a language; until then it is a guess.
    language_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    municipality_id: Mapped[int | None] = mapped_column(
        ForeignKey("municipalities.id", ondelete="SET NULL"), index=True
    )
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The street campaign whose link or poster brought them; their wishes carry it while it
    # runs.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    # What a resident chose to say at the end of a poll (never required): their village, an
    # age band ("18-29"…), a gender ("f", "m"). Copied into each answer; /forget removes them.
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id", ondelete="SET NULL"))
    age_band: Mapped[str | None] = mapped_column(String(8))
    gender: Mapped[str | None] = mapped_column(String(1))
    municipality: Mapped[Municipality | None] = relationship(lazy="joined")
    # Never loaded with the person (every inbound message loads one): the role queries read
    # roles themselves, and the database deletes them with the person (ON DELETE CASCADE).
    roles: Mapped[list[Role]] = relationship(
        back_populates="person", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )


class Campaign(Base):
    """A youth group's street campaign in one municipality: a link and poster of its own
    (/start c-CODE), a tag for SMS (#CODE); the wishes it brings carry it."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)  # in TIMEZONE
    ends_on: Mapped[date] = mapped_column(Date)  # the last day
    closed_on: Mapped[date | None] = mapped_column(Date)  # closed early by hand
    # When the end-of-campaign summary went to the municipality's officials (once).
    summarized_on: Mapped[date | None] = mapped_column(Date)
    # The kinds of card the stand takes ("change,great", or one of them).
    kinds: Mapped[str] = mapped_column(String(32), default="change,great")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    municipality: Mapped[Municipality] = relationship(lazy="joined")

    def running(self, today: date) -> bool:
        return self.starts_on <= today <= self.ends_on and self.closed_on is None

    def kinds_taken(self) -> tuple[str, ...]:
        return tuple(self.kinds.split(","))

    def takes(self, kind: str) -> bool:
        return kind in self.kinds_taken()

    def only_kind(self) -> str | None:
        """The one kind a campaign takes, if it takes one only (its cards then need no sign)."""
        taken = self.kinds_taken()
        return taken[0] if len(taken) == 1 else None


class Role(Base):
    """A person's role (deputy, staff, organizer, initiator), usually for one municipality."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("person_id", "role", "municipality_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    municipality_id: Mapped[int | None] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE")
    )
    # For an initiator: the initiative whose group they belong to.
    initiative_id: Mapped[int | None] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    person: Mapped[Person] = relationship(back_populates="roles")


class Wish(Base):
    """A resident's "I want to change…" or "This is great…"."""

    __tablename__ = "wishes"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # change | great
    category: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    # NULL while an SMS resident has not named their place yet; set when they do.
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipalities.id"), index=True)
    # The street campaign that brought it (a link, #CODE, a card), if it ran that day.
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # Kept so that staff answers reach the resident; set to NULL by /forget.
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))  # telegram | sms | whatsapp | card
    # A paper card typed at a street stand: the volunteer who typed it (never the passer-by,
    # who has no one to be told); /undo removes their last card by it.
    entered_by: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # When staff first answered; the weekly digest counts answers by it.
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer: Mapped[str | None] = mapped_column(Text)  # staff's latest answer to the resident
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # last change
    # Staff hid an abusive text: kept for the record, out of every quote and public output.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    # Status "duplicate": the wish it repeats (never itself a duplicate), by id.
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    # One more with every change (SQLAlchemy's version counter: an UPDATE names the version
    # it read, so two staff members' changes cannot both land); an older view's button is
    # stale.
    version: Mapped[int] = mapped_column(Integer, default=0)
    # Four weeks after "done" the resident is asked once whether it was: when, and "yes"/"no".
    followup_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    followup: Mapped[str | None] = mapped_column(String(8))
    # Where the problem is, if the resident showed it (rounded to about 100 m; never kept
    # unless they said it is the problem's place, not where they are).
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # Staff approved its photos and place for public outputs (page, Open311); until then
    # only staff and deputies see them.
    media_public: Mapped[bool] = mapped_column(Boolean, default=False)
    # The staff member a colleague gave it to in the console (issue 30); anyone may still act.
    assigned_to: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    municipality: Mapped[Municipality | None] = relationship(lazy="joined")
    # Read-only: a wish names its campaign by id (no foreign key, see the migration). Loaded
    # only where asked for (the export), not with every wish a digest reads.
    campaign: Mapped[Campaign | None] = relationship(
        primaryjoin="foreign(Wish.campaign_id) == Campaign.id", viewonly=True, lazy="raise"
    )

    # Read once, when the class is mapped (SQLAlchemy copies it): a read-only mapping.
    __mapper_args__ = MappingProxyType({"version_id_col": version})


class WishPhoto(Base):
    """A photo that came with a wish: its file in the file store (storage/files.py), by the
    SHA-256 of its re-encoded bytes; the file is shared by rows with the same key."""

    __tablename__ = "wish_photos"
    __table_args__ = (UniqueConstraint("wish_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    wish_id: Mapped[int] = mapped_column(ForeignKey("wishes.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(80), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WishAnswer(Base):
    """What staff did with a wish: a status and what they told the resident, kept in order
    (the digest counts them by status; the wish holds the latest)."""

    __tablename__ = "wish_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    wish_id: Mapped[int] = mapped_column(ForeignKey("wishes.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))  # where staff answered from
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Announcement(Base):
    """Staff's "you said, we did": one message to everyone who wrote on a topic lately. One
    per municipality, topic and week (the unique key holds it across workers)."""

    __tablename__ = "announcements"
    __table_args__ = (UniqueConstraint("municipality_id", "category", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE")
    )
    category: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(10))  # the ISO week it went out: 2026-W48
    text: Mapped[str] = mapped_column(Text)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    recipients: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboundDelivery(Base):
    """An inbound update already processed, so that a redelivery does nothing twice.

    Only a keyed hash of (channel, update id or MessageSid) is kept, and only for a few days:
    any update may belong to a bribe report, and those must leave no message id behind.
    """

    __tablename__ = "inbound_deliveries"

    delivery_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The answer given, for channels that expect the same answer to a redelivery (Twilio).
    reply: Mapped[str | None] = mapped_column(Text)


class OutboundMessage(Base):
    """A message we sent through a provider, and how far its delivery got. No body is kept."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[int | None] = mapped_column(Integer)
    # Why it went another way than the person's channel or as a template (WhatsApp's window).
    note: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Conversation(Base):
    """Where a person is in a guided flow; kept here so that a restart resumes it."""

    __tablename__ = "conversations"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Changes with every new flow; buttons carry it, so a press on an old message is noticed.
    # (No timestamp: when a person last acted is not worth keeping next to report drafts.)
    nonce: Mapped[str] = mapped_column(String(8), default="")


def _report_id() -> str:
    return secrets.token_hex(8)


class BribeReport(Base):
    """Where a resident was asked for a bribe, or served honestly. Nothing here points at who
    reported: no person, chat, phone, message or update id, no time finer than the day, and
    a random id, so that not even the order of reports is kept."""

    __tablename__ = "bribe_reports"

    id: Mapped[str] = mapped_column(String(16), primary_key=True, default=_report_id)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    service: Mapped[int] = mapped_column(Integer)  # code 0–9 from domain.yaml
    outcome: Mapped[str] = mapped_column(String(12))  # paid | refused | not_asked | asked
    amount: Mapped[int | None] = mapped_column(Integer)  # som
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM, when it happened
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # telegram | sms | whatsapp
    text: Mapped[str | None] = mapped_column(Text)  # scrubbed of numbers and e-mails
    created_on: Mapped[date] = mapped_column(Date)  # the day, in TIMEZONE
    municipality: Mapped[Municipality] = relationship(lazy="joined")


class ReportQuota(Base):
    """How many reports one sender gave today, under a keyed hash of sender and day; rows
    expire with the day."""

    __tablename__ = "report_quotas"

    quota_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Initiative(Base):
    """A citizens' initiative collecting signatures: a draft law (10,000), a constitutional
    amendment (300,000) or a local initiative under a municipality's charter."""

    __tablename__ = "initiatives"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # upper case: WATER2026
    kind: Mapped[str] = mapped_column(String(16))  # law | constitution | local
    title_ky: Mapped[str | None] = mapped_column(String(300))
    title_ru: Mapped[str | None] = mapped_column(String(300))
    title_en: Mapped[str | None] = mapped_column(String(300))
    summary_ky: Mapped[str | None] = mapped_column(Text)
    summary_ru: Mapped[str | None] = mapped_column(Text)
    summary_en: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(500))  # the full text
    registration: Mapped[str | None] = mapped_column(String(64))  # Ministry of Justice number
    published_on: Mapped[date] = mapped_column(Date)
    opens_on: Mapped[date] = mapped_column(Date)  # first day of signing
    closes_on: Mapped[date] = mapped_column(Date)  # last day of signing
    threshold: Mapped[int] = mapped_column(Integer)
    municipality_id: Mapped[int | None] = mapped_column(
        ForeignKey("municipalities.id"), index=True
    )  # local initiatives only
    requires_address: Mapped[bool] = mapped_column(Boolean, default=True)
    closed_on: Mapped[date | None] = mapped_column(Date)  # closed early by the operator
    signed: Mapped[int] = mapped_column(Integer, default=0)  # counted signatures, kept current
    milestone: Mapped[int] = mapped_column(Integer, default=0)  # last announced: 33, 66, 100
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    municipality: Mapped[Municipality | None] = relationship(lazy="joined")

    def title(self, language: str) -> str:
        return _in_language(self, "title", language) or self.code

    def summary(self, language: str) -> str:
        return _in_language(self, "summary", language)


def _in_language(row: object, field: str, language: str) -> str:
    """A text in the reader's language, else in the first language it exists in."""
    for code in (language, "ky", "ru", "en"):
        value = getattr(row, f"{field}_{code}", None)
        if value:
            return str(value)
    return ""


class Signature(Base):
    """One pledged signature. The signer's name, PIN and address are sealed (encrypted with a
    key derived from SECRET_KEY); keyed hashes of the PIN, and of PIN and name, find repeats
    without opening anything. A withdrawn signature keeps only its status and dates."""

    __tablename__ = "signatures"
    __table_args__ = (
        # One counted signature per PIN and initiative, whatever two workers do at once.
        Index(
            "ux_signatures_counted_pin",
            "initiative_id",
            "pin_key",
            unique=True,
            sqlite_where=text("status = 'counted'"),
            postgresql_where=text("status = 'counted'"),
        ),
        # A PIN's signatures to one initiative, found without reading all of its signatures;
        # also an initiative's signatures (no index on either column alone: migration 0020).
        Index("ix_signatures_initiative_pin", "initiative_id", "pin_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id", ondelete="CASCADE"))
    pin_key: Mapped[str | None] = mapped_column(String(64))
    signer_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))  # counted | disputed | withdrawn
    sealed: Mapped[str | None] = mapped_column(Text)
    pin_note: Mapped[str | None] = mapped_column(String(16))  # odd_date: no readable birth date
    channel: Mapped[str] = mapped_column(String(16))
    signed_on: Mapped[date] = mapped_column(Date)  # in TIMEZONE
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    # So that /forget can withdraw; SET NULL when the person is deleted.
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )


class Invite(Base):
    """A single-use code that makes whoever redeems it an official, organizer or initiator."""

    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # deputy | staff | organizer | initiator
    municipality_id: Mapped[int | None] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE")
    )
    initiative_id: Mapped[int | None] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE")
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    municipality: Mapped[Municipality | None] = relationship(lazy="joined")
    initiative: Mapped[Initiative | None] = relationship(lazy="joined")


class Notice(Base):
    """A message to one person that is not an answer (an initiative's milestone, say): written
    in the transaction that causes it, sent afterwards by bot/channels/notices.py (at least
    once: see storage/queries/notices.py)."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # A worker holds it while sending; a claim older than the lease is a dead worker's.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class DigestPeriod(Base):
    """A week whose digests have been planned: a start after downtime plans the week it
    missed, and only that one."""

    __tablename__ = "digest_periods"

    period: Mapped[str] = mapped_column(String(8), primary_key=True)  # 2026-W47
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DigestDelivery(Base):
    """One digest for one official: planned once per (municipality, week, person), claimed
    before it is sent, so that no run and no second worker sends it twice.

    status: pending (waiting, maybe for a retry at next_attempt_at) → sending (claimed) →
    sent | skipped (blocked the bot, opted out) | failed (gave up after retries) |
    interrupted (the sender died mid-way; not resent, since it may have arrived).
    """

    __tablename__ = "digest_deliveries"
    __table_args__ = (
        UniqueConstraint("municipality_id", "period", "person_id"),
        Index("ix_digest_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE")
    )
    period: Mapped[str] = mapped_column(String(8))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # deputy | staff: staff also get the CSV
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)  # parts sent so far
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    person: Mapped[Person] = relationship(lazy="joined")
    municipality: Mapped[Municipality] = relationship(lazy="joined")


class Poll(Base):
    """A question to a municipality's residents: one choice of 2–9 options ("single"), up to
    `max_choices` of them ("priority"), or a participatory budget ("budget": options with a
    cost, chosen while their sum fits `budget_total`).

    status: draft → pending (a deputy's, waiting for staff) → open (sent) → closed. Residents
    answer while it is open and `opens_at` ≤ now < `closes_at`.
    """

    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # digits: СУРОО 412 2
    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8), default="single")  # single | priority | budget
    max_choices: Mapped[int] = mapped_column(Integer, default=1)
    budget_total: Mapped[int | None] = mapped_column(Integer)  # som, a budget round only
    question_ky: Mapped[str] = mapped_column(Text)
    question_ru: Mapped[str | None] = mapped_column(Text)
    question_en: Mapped[str | None] = mapped_column(Text)
    # Village ids the poll is sent to ([] or NULL: the whole municipality).
    villages: Mapped[list[int] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(8), default="draft")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # SMS messages the sending may cost at most (NULL: no cap); those past it are not sent.
    sms_cap: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # sending planned (once)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    results_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # to who answered
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    municipality: Mapped[Municipality] = relationship(lazy="joined")

    def question(self, language: str) -> str:
        return _in_language(self, "question", language)

    def answering(self, now: datetime) -> bool:
        return self.status == "open" and self.opens_at <= now < self.closes_at


class PollOption(Base):
    """One option of a poll, numbered from 1; a budget round's item, with its cost."""

    __tablename__ = "poll_options"
    __table_args__ = (UniqueConstraint("poll_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    label_ky: Mapped[str] = mapped_column(String(200))
    label_ru: Mapped[str | None] = mapped_column(String(200))
    label_en: Mapped[str | None] = mapped_column(String(200))
    description_ky: Mapped[str | None] = mapped_column(Text)
    description_ru: Mapped[str | None] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[int | None] = mapped_column(Integer)  # som, a budget item only
    # A budget item: funded when the round closed, and staff's word on how far it got.
    funded: Mapped[bool | None] = mapped_column(Boolean)
    progress: Mapped[str | None] = mapped_column(Text)

    def label(self, language: str) -> str:
        return _in_language(self, "label", language)

    def description(self, language: str) -> str:
        return _in_language(self, "description", language)


class PollAnswer(Base):
    """One person's answer to one poll, under a keyed pseudonym of person and poll (never the
    person: no export, page or digest can link it back), or one paper ballot typed in.

    `choices`: option positions, space-separated, as chosen ("2 5 7"). Answering again
    replaces it while the poll is open: the last counts.
    """

    __tablename__ = "poll_answers"
    __table_args__ = (UniqueConstraint("poll_id", "voter_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    # handlers/ballots.voter_key for a person; a random one for a paper ballot.
    voter_key: Mapped[str] = mapped_column(String(64))
    choices: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))  # telegram | sms | whatsapp | web | paper
    village_id: Mapped[int | None] = mapped_column(
        ForeignKey("villages.id", ondelete="SET NULL"), index=True
    )
    age_band: Mapped[str | None] = mapped_column(String(8))
    gender: Mapped[str | None] = mapped_column(String(1))
    # The person joined the bot after the poll opened (counted, and flagged in the results).
    joined_during: Mapped[bool] = mapped_column(Boolean, default=False)
    # A paper ballot: the volunteer who typed it (never the voter), for /undo.
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    answered_on: Mapped[date] = mapped_column(Date)  # in TIMEZONE; no finer time is kept


class PollSend(Base):
    """One poll to one person: planned once (the unique key), claimed before it is sent and
    settled after, so that no worker sends it twice and a dead worker's is sent again.

    status: pending → sent | skipped (opted out, unreachable, over the SMS cap) | failed."""

    __tablename__ = "poll_sends"
    __table_args__ = (
        UniqueConstraint("poll_id", "person_id"),
        Index("ix_poll_sends_due", "status", "channel", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8), default="pending")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(32))  # why skipped or failed


class Appeal(Base):
    """A wish the resident made a formal appeal under the law on citizens' appeals (No. 67 of
    2007): their full name and address sealed (as signers' are: only that municipality's
    staff open them, never deputies, exports or public data), a registration number, and a
    due date in working days (handlers/working_days.py).

    The clock: `due_on` moves only by an extension with its reason (`extended_reason`, the
    first due date kept in `first_due_on`); an answer stops it (`answered_on`). Each
    reminder and the overdue mark is stamped once, so a job run twice sends nothing twice.
    """

    __tablename__ = "appeals"
    __table_args__ = (UniqueConstraint("municipality_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    wish_id: Mapped[int] = mapped_column(ForeignKey("wishes.id", ondelete="CASCADE"), unique=True)
    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(24))  # registration number, per municipality
    sealed: Mapped[str | None] = mapped_column(Text)  # full name and address; NULL after /forget
    registered_on: Mapped[date] = mapped_column(Date)  # in TIMEZONE
    due_on: Mapped[date] = mapped_column(Date, index=True)
    first_due_on: Mapped[date] = mapped_column(Date)
    extended_reason: Mapped[str | None] = mapped_column(Text)
    answered_on: Mapped[date | None] = mapped_column(Date)
    reminded_before_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # 3 days before
    reminded_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # on the day
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # marked, resident told
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    wish: Mapped[Wish] = relationship(lazy="joined")


class ConsoleLink(Base):
    """A one-time link to the staff console that the bot sent (/web, SMS ВЕБ): only a keyed
    hash of its token is kept; valid 10 minutes, used once."""

    __tablename__ = "console_links"

    token_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsoleSession(Base):
    """A signed-in browser: a keyed hash of its cookie, its CSRF token, and when it was last
    seen (it expires after inactivity) or ended (logout)."""

    __tablename__ = "console_sessions"

    session_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """One action by staff or a deputy (who, what, when), for the operator's `civicbot
    audit`. `subject` names what was acted on (a wish's or appeal's reference), never a
    resident."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    municipality_id: Mapped[int | None] = mapped_column(
        ForeignKey("municipalities.id", ondelete="SET NULL"), index=True
    )
    via: Mapped[str] = mapped_column(String(16))  # console | telegram | sms | cli
    action: Mapped[str] = mapped_column(String(32))  # login, answer, assign, move_topic…
    subject: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
