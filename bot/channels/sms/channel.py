"""The SMS and WhatsApp channel through Twilio: signed inbound webhooks answered with TwiML,
delivery status callbacks, and sending messages we start (answers, digests).

One inbound message is one action: the keyword grammar turns it into an `Inbound` for the
same handlers Telegram uses, and their replies are rendered in the short SMS wording.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.channels import pictures
from bot.channels.acks import Failures
from bot.channels.budget import AnswerBudget, Verdict
from bot.channels.ordering import KeyedLocks
from bot.channels.outbox import Outbox, Pacer, PermanentFailure, RecipientBlocked, StillFailing
from bot.channels.sms import keywords
from bot.channels.sms.media import TwilioMedia, location_of, media_of
from bot.channels.sms.provider import SendFailed, SmsProvider, sms_verdict
from bot.channels.sms.twilio_api import signed, twiml
from bot.runtime import metrics
from bot.runtime.config import Settings
from bot.runtime.i18n import Catalogues
from handlers import dispatch
from handlers.context import guess_language
from handlers.pseudonyms import Pseudonyms
from handlers.types import Inbound, Outcome, Text
from storage import queries
from storage.channels import SMS
from storage.db import Database
from storage.files import FileStore
from storage.models import OutboundMessage, Person

INBOUND_PATH = "/sms/twilio"
STATUS_PATH = "/sms/twilio/status"
WHATSAPP_PREFIX = "whatsapp:"
# A WhatsApp user with a username may reach us without a phone number, as a business-scoped
# user id: a country code, a dot, letters and digits ("KG.1502576394655843"; a parent id
# "US.ENT.1181…"). Twilio gives it as From=whatsapp:KG.…; we answer to the same address.
BSUID = re.compile(r"[A-Z]{2}(\.[A-Za-z0-9]{1,128}){1,2}")
ADDRESS_LENGTH = 160  # people.channel_user_id
VARIANT = "sms"  # the catalogues' short wording
ANSWERS, WINDOW = 30, 600.0  # answers to one phone in ten minutes (bot/channels/budget.py)
PROVIDER_ID_LENGTH = 64  # OutboundMessage.provider_id
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)  # seconds before each retry of a 429, 5xx or network error

log = logging.getLogger(__name__)


def e164(raw: str, region: str | None = None) -> str:
    """A phone number in E.164 (+996555123456), or ValueError; `region` reads a national
    number (a phone gateway may give 0555 123 456)."""
    # phonenumbers (1 MB) is imported at the first number read, not with this module: a
    # worker with SMS off builds the channel's registration but never reads a number.
    import phonenumbers

    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as error:
        raise ValueError("not a phone number") from error
    if not phonenumbers.is_possible_number(number):
        raise ValueError("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def address_of(sender: str) -> str:
    """Twilio's From: a phone number (SMS, or whatsapp:+…) in E.164, or a WhatsApp user's
    business-scoped id as given; ValueError for anything else."""
    if sender.startswith(WHATSAPP_PREFIX):
        address = sender.removeprefix(WHATSAPP_PREFIX)
        if BSUID.fullmatch(address) and len(address) <= ADDRESS_LENGTH:
            return address
        return e164(address)
    return e164(sender)


def has_phone(person: Person) -> bool:
    """Whether the person's address is a phone number (an SMS can reach it)."""
    return person.channel_user_id.startswith("+")


@dataclass(frozen=True)
class InboundMessage:
    """The fields of Twilio's inbound webhook that we use."""

    sid: str
    channel: str  # "sms" or "whatsapp"
    # Who wrote: a phone number in E.164 (without the whatsapp: prefix), or on WhatsApp a
    # business-scoped user id (`BSUID`), which has no phone number behind it that we know.
    address: str
    body: str
    media: tuple[tuple[str, str], ...] = ()  # (URL, content type) of each image, video…
    location: tuple[float, float] | None = None  # a WhatsApp location
    media_problem: str | None = None  # why pictures that came cannot be had (a gateway's MMS)

    @classmethod
    def from_form(cls, form: Mapping[str, object]) -> InboundMessage:
        sid = str(form.get("MessageSid") or form.get("SmsSid") or "")
        if not sid or len(sid) > 64:
            raise ValueError("MessageSid missing")
        sender = str(form.get("From") or "")
        channel = "whatsapp" if sender.startswith(WHATSAPP_PREFIX) else "sms"
        media = str(form.get("NumMedia") or "0")
        if not media.isdigit():
            raise ValueError("NumMedia is not a number")
        return cls(
            sid=sid,
            channel=channel,
            address=address_of(sender),
            body=str(form.get("Body") or ""),
            media=media_of(form, int(media)),
            location=location_of(form),
        )

    def inbound(self, timezone: str, public_base_url: str | None = None) -> Inbound:
        parsed = keywords.parse(self.body)
        common: dict[str, Any] = {
            "timezone": timezone,
            "public_base_url": public_base_url,
            "channel": self.channel,
            "user_id": self.address,
            "delivery_id": self.sid,
            "language_hint": parsed.language,
            "language_guess": parsed.guess,
            "guided": False,
            "clears_opt_out": False,
        }
        if self.location is not None:
            return Inbound(location=self.location, **common)
        if parsed.action is not None:
            return Inbound(command=parsed.action, argument=parsed.argument, **common)
        if self.media:  # pictures, perhaps with words: the channel fetches them first
            return Inbound(text=parsed.argument or None, **common)
        return Inbound(text=parsed.argument, **common)


# Why a WhatsApp resident's message went another way (kept with its record).
WINDOW_TEMPLATE = "template: 24-hour window closed"
WINDOW_SMS = "sms: 24-hour window closed, no template"
# Why a message could not go at all (kept with its failed record; bot/channels/notices.py
# tells staff).
NO_SENDER = "unreachable: no sender configured"  # TWILIO_WHATSAPP_FROM unset, say
NO_PHONE = "unreachable: window closed, no phone number"  # a BSUID: no SMS to fall back on


@dataclass(frozen=True)
class _Route:
    channel: str  # sms | whatsapp
    to: str
    sender: str | None
    template: str | None = None
    note: str | None = None


# Twilio's delivery statuses in the order they can happen; a callback never moves back.
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
    "read": 4,
}


class SmsChannel:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        catalogues: Catalogues,
        pseudonyms: Pseudonyms,
        provider: SmsProvider,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        whatsapp: SmsProvider | None = None,
        files: FileStore | None = None,
    ) -> None:
        """`provider` sends SMS (and WhatsApp, unless `whatsapp` is given: a phone gateway
        for SMS beside Twilio for WhatsApp)."""
        self.settings = settings
        self.db = db
        self.pseudonyms = pseudonyms
        self.catalogues = catalogues
        self.provider = provider
        self.files = files  # residents' photos (runtime/database.py); None: sending only
        self.media = TwilioMedia(settings)  # MMS and WhatsApp images
        self.failures = Failures()  # inbound messages that failed, by MessageSid
        self.senders = KeyedLocks()  # one phone's messages handled one after another
        self._answering: set[asyncio.Task[None]] = set()  # relayed messages' answers
        # Every answer is a billable message: a phone gets ANSWERS answers in WINDOW.
        self.budget = AnswerBudget(ANSWERS, WINDOW)
        self.outbox = self._outbox(provider, retry_delays)
        self.whatsapp = whatsapp or provider
        self._outboxes = {"sms": self.outbox, "whatsapp": self.outbox}
        if whatsapp is not None:
            self._outboxes["whatsapp"] = self._outbox(whatsapp, retry_delays)

    def _outbox(self, provider: SmsProvider, retry_delays: tuple[float, ...]) -> Outbox[Any]:
        return Outbox(
            provider,
            self._opt_out,
            classify=sms_verdict,
            pacer=Pacer(provider.send_rate),
            network_backoff=retry_delays,
            channel="sms",
            give_up_after=self.settings.send_give_up_minutes * 60,
        )

    @property
    def can_start_whatsapp(self) -> bool:
        """Whether messages we start (answers, notices, digests) can go to WhatsApp people:
        Twilio carries WhatsApp, and it needs a sender for them. (Without Twilio there is no
        WhatsApp here at all, and a WhatsApp person left from before hears nothing: their
        staff are told so, bot/channels/notices.py.)"""
        return not self.whatsapp.needs_whatsapp_sender or bool(self.settings.twilio_whatsapp_from)

    @property
    def providers(self) -> list[SmsProvider]:
        return list(dict.fromkeys((self.provider, self.whatsapp)))

    async def close(self) -> None:
        for provider in self.providers:
            await provider.close()
        await self.media.close()

    def signed(self, path: str, form: Mapping[str, str], signature: str | None) -> bool:
        """Whether Twilio signed this request for {PUBLIC_BASE_URL}{path}, with or without
        the connection overrides (#rc=…) configured on that URL."""
        url = self.settings.public_url(path)
        token = self.settings.twilio_auth_token
        if not url or not signature or not token:
            return False
        urls = [url]
        if self.settings.twilio_webhook_overrides:
            urls.append(f"{url}#{self.settings.twilio_webhook_overrides}")
        return any(signed(token, each, form, signature) for each in urls)

    # --- inbound ---------------------------------------------------------------------------

    async def receive(self, message: InboundMessage) -> str:
        """Handle one inbound message; the TwiML answer. A redelivered MessageSid gets the
        answer it got the first time, and changes nothing."""
        outcome, text = await self._handled(message)
        if message.channel == "sms" and keywords.twilio_opt_out(message.body):
            return twiml("")  # Twilio confirms its own opt-out words, and refuses our answer
        if outcome is None:
            previous = await dispatch.previous_reply(
                self.db, self.pseudonyms, message.channel, message.sid
            )
            return twiml(previous or "")
        return twiml(text)

    async def _handled(self, message: InboundMessage) -> tuple[Outcome | None, str]:
        """Handle a message (committed when this returns); the outcome (None: handled
        before) and the answer's text ("" for none: opted out, over the answer budget)."""
        inbound = message.inbound(self.settings.timezone, self.settings.public_base_url)
        sender = (message.channel, message.address)
        async with self.senders.hold(sender):
            if message.media:
                fetches = self.media.fetches(message.media)
                taken, problem = await pictures.fetch_if_taken(
                    self.db, self.pseudonyms, inbound, fetches
                )
                inbound = replace(inbound, pictures=taken, picture_problem=problem)
            elif message.media_problem:
                inbound = replace(inbound, picture_problem=message.media_problem)
            outcome = await dispatch.handle(
                self.db,
                self.pseudonyms,
                inbound,
                render=lambda outcome: kept_text(self.catalogues, outcome),
                files=self.files,
            )
        metrics.counted(message.channel, metrics.kind_of(inbound), outcome)
        if outcome is None:
            return None, ""
        if outcome.silent:
            return outcome, ""
        verdict = self.budget.take(sender)
        if verdict is Verdict.QUIET:
            return outcome, ""
        if verdict is Verdict.NOTICE:
            return outcome, self.catalogues.text(outcome.language, Text("flood.messages"), VARIANT)
        return outcome, answer_text(self.catalogues, outcome)

    def apology(self, message: InboundMessage) -> str:
        """The TwiML for when handling failed: short, in the keyword's language."""
        language = guess_language(keywords.parse(message.body).language)
        return twiml(self.catalogues.text(language, Text("error.internal"), VARIANT))

    # --- outbound ----------------------------------------------------------------------------

    async def send(
        self,
        person: Person,
        body: str,
        window_open: bool = True,
        deadline: float | None = None,
    ) -> OutboundMessage | None:
        """Send a message we start, and record it (no body is kept). None when the person
        has opted out: nothing is sent to them. `window_open`: the resident wrote to us in
        the last 24 hours, so WhatsApp takes free text; else it takes only an approved
        template (TWILIO_WHATSAPP_CONTENT_SID), and without one the text goes by SMS to the
        same number — the record says which, and why. Given up at `deadline` (monotonic)."""
        if person.opted_out:
            return None
        route = self._route(person, window_open)
        return await self._deliver(route, body, person.id, deadline)

    async def _deliver(
        self, route: _Route, body: str, person_id: int | None, deadline: float | None = None
    ) -> OutboundMessage:
        """One message through the outbox (queued per person, or per number for someone
        with no row), and its record."""
        outbox = self._outboxes[route.channel]
        record = OutboundMessage(
            provider=outbox.client.name, person_id=person_id, channel=route.channel, note=route.note
        )
        try:
            if not route.sender:  # no way at all: no WhatsApp sender, or no number for SMS
                record.note = NO_PHONE if route.note == NO_PHONE else NO_SENDER
                raise SendFailed(f"cannot send by {route.channel}: {record.note}")
            sent = await outbox.send(
                person_id if person_id is not None else route.to,
                lambda provider: provider.send(
                    route.to,
                    route.sender or "",
                    body,
                    self.settings.public_url(STATUS_PATH),
                    route.template,
                ),
                deadline=deadline,
            )
            record.provider_id, record.status = sent.provider_id, sent.status
        except (SendFailed, RecipientBlocked, PermanentFailure, StillFailing) as error:
            log.warning("sending by %s failed: %s", route.channel, error)
            cause = error.__cause__ if error.__cause__ is not None else error
            record.status, record.error_code = "failed", getattr(cause, "code", None)
        async with self.db.session() as session, session.begin():
            session.add(record)
        return record

    def _route(self, person: Person, window_open: bool) -> _Route:
        settings = self.settings
        if person.channel != "whatsapp":
            return _Route("sms", person.channel_user_id, self._sms_sender())
        whatsapp = WHATSAPP_PREFIX + person.channel_user_id
        if window_open:
            return _Route("whatsapp", whatsapp, settings.twilio_whatsapp_from)
        if settings.twilio_whatsapp_content_sid:
            template = settings.twilio_whatsapp_content_sid
            return _Route(
                "whatsapp", whatsapp, settings.twilio_whatsapp_from, template, WINDOW_TEMPLATE
            )
        if not has_phone(person):  # a WhatsApp user id: no number to send an SMS to
            return _Route("whatsapp", whatsapp, None, note=NO_PHONE)
        log.info("WhatsApp's 24-hour window is closed and no template is set: sending by SMS")
        return _Route("sms", person.channel_user_id, self._sms_sender(), None, WINDOW_SMS)

    def _sms_sender(self) -> str | None:
        """Twilio sends from TWILIO_FROM_NUMBER; a gateway phone from its own SIM."""
        return self.provider.sms_from

    async def status(self, form: Mapping[str, object]) -> None:
        """Twilio's delivery status callback."""
        sid, status = str(form.get("MessageSid") or ""), str(form.get("MessageStatus") or "")
        await self.record_status("twilio", sid, status, str(form.get("ErrorCode") or ""))

    async def record_status(
        self, provider: str, sid: str, status: str, error_code: str = ""
    ) -> None:
        """A delivery status from a provider: move the message's status forward, never
        back. An id no provider writes (a NUL, which PostgreSQL refuses, or one too long)
        names no message of ours."""
        if not (0 < len(sid) <= PROVIDER_ID_LENGTH and sid.isascii() and sid.isprintable()):
            return
        async with self.db.session() as session, session.begin():
            record = await queries.outbound_by_provider_id(session, provider, sid)
            if record is None:
                return
            if STATUS_RANK.get(status, -1) > STATUS_RANK.get(record.status, -1):
                record.status = status
            if error_code.isascii() and error_code.isdigit() and len(error_code) <= 9:
                record.error_code = int(error_code)
                if int(error_code) == 21610 and record.person_id is not None:
                    await queries.mark_person_opted_out(session, record.person_id)

    # --- a gateway's relayed messages: no TwiML, the answer is sent ---------------------------

    async def receive_relayed(self, message: InboundMessage) -> None:
        """Handle a message a gateway relayed (SMS Gateway for Android); its answer goes back
        through the provider, after the commit, as a message we start. A message handled
        before gets nothing: its answer went then."""
        outcome, text = await self._handled(message)
        if outcome is not None and text:
            task = asyncio.create_task(self._answer_by_number(message.address, text))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)

    async def _answer_by_number(self, number: str, text: str) -> None:
        """The answer to what the number just sent — as Twilio's TwiML would carry it, so
        also to someone who just sent STOP or FORGET (the confirmation is that answer)."""
        async with self.db.session() as session:
            person = await queries.find_person(session, "sms", number)
        route = _Route("sms", number, self._sms_sender())
        await self._deliver(route, text, person.id if person is not None else None)

    async def drain(self) -> None:
        """Wait for the answers under way (a stop)."""
        if self._answering:
            await asyncio.gather(*self._answering, return_exceptions=True)

    async def _opt_out(self, person_id: object) -> None:
        if not isinstance(person_id, int):  # a number with no person: nothing to mark
            return
        async with self.db.session() as session, session.begin():
            await queries.mark_person_opted_out(session, person_id)


def answer_text(catalogues: Catalogues, outcome: Outcome) -> str:
    """An outcome's answer in the SMS wording, one message ("" when the person opted out)."""
    if outcome.silent:
        return ""
    texts = [
        catalogues.reply(outcome.language, reply, VARIANT, separator=" ")
        for reply in outcome.replies
    ]
    return " ".join(texts)


# What a redelivered private message is answered (a bribe report, a console link, an
# appellant's name or address, a poll's profile step): nothing of the first answer.
PRIVATE_REPEAT = "private.already_answered"


def kept_text(catalogues: Catalogues, outcome: Outcome) -> str:
    """The answer kept for a redelivery. A private answer (a bribe report's reference, a
    console link's token) must not sit beside anything derived from the message: keep a
    generic one that fits every private step."""
    if outcome.private and not outcome.silent:
        return catalogues.text(outcome.language, Text(PRIVATE_REPEAT), VARIANT)
    return answer_text(catalogues, outcome)


def running(channels: Mapping[str, object]) -> SmsChannel | None:
    """The SMS channel among those turned on (Runtime.channels), if it is."""
    channel = getattr(channels.get(SMS), "channel", None)
    return channel if isinstance(channel, SmsChannel) else None
