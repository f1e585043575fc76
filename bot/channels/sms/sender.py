"""How notices and digests reach an SMS or WhatsApp resident: in the catalogues' short
wording, through the SMS channel's providers (bot/channels/sms/channel.py `SmsChannel.send`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.channels.registration import FAILED, OPTED_OUT, Broadcast, DigestSource, OptedOut, Outgoing
from bot.channels.sms.channel import NO_PHONE, NO_SENDER, VARIANT, SmsChannel
from bot.channels.sms.provider import TWILIO_OPTED_OUT

if TYPE_CHECKING:
    from storage.models import DigestDelivery, Person

# Why a message could not go at all, as staff read it (UNREACHED's {why}).
WHY_FAILED = {NO_SENDER: "unreached.not_configured", NO_PHONE: "unreached.no_phone"}


class SmsSender:
    connected: asyncio.Event | None = None  # nothing to connect: it can always try
    pacer: Broadcast | None = None  # each provider keeps its own pace

    def __init__(self, sms: SmsChannel) -> None:
        self.sms = sms

    async def notify(self, person: Person, outgoing: Outgoing, deadline: float) -> str | None:
        text = self.sms.catalogues.text(person.language, outgoing.message, VARIANT)
        record = await self.sms.send(person, text, outgoing.window_open, deadline)
        if record is None or record.error_code == TWILIO_OPTED_OUT:
            return OPTED_OUT
        if record.status == "failed":
            return WHY_FAILED.get(record.note or "", FAILED)
        return None

    async def send_digest(self, delivery: DigestDelivery, source: DigestSource) -> None:
        summary = await source.summary(delivery)
        await source.paced()  # one pace for everything broadcast
        # A weekly digest is never an answer within WhatsApp's 24 hours: it goes as the
        # approved template, or without one by SMS to the same number (SmsChannel.send).
        record = await self.sms.send(delivery.person, summary, window_open=False)
        if record is None or record.error_code == TWILIO_OPTED_OUT:
            raise OptedOut  # SmsChannel has marked the person
        if record.status == "failed":
            raise OSError(f"SMS failed ({record.error_code})")
