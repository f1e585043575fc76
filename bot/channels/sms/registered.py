"""The SMS and WhatsApp channel's registration (bot/channels/registry.py): on when a provider
is set up (Twilio, or a phone with SMS Gateway for Android: bot/channels/sms/providers.py);
each provider's webhooks; one sender for SMS and WhatsApp people."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.registration import DigestsOnRequest, Sender
from bot.channels.sms import android, twilio
from bot.channels.sms.channel import SmsChannel
from bot.channels.sms.provider import TwilioProvider
from bot.channels.sms.providers import providers_for, sms_enabled
from bot.channels.sms.sender import SmsSender
from handlers.log_fields import HINT, fields
from storage.channels import SMS, WHATSAPP

if TYPE_CHECKING:
    from bot.runtime.served import Served

log = logging.getLogger(__name__)

SMS_OFF = (
    "SMS channel is off: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER "
    "(and PUBLIC_BASE_URL) to turn it on, or SMS_PROVIDER=android and the ANDROID_GATEWAY_* "
    "settings for a phone."
)
WHATSAPP_UNSENT = (
    "WhatsApp: TWILIO_WHATSAPP_FROM is not set, so staff answers, notices and digests cannot "
    "reach WhatsApp residents (their own messages are still answered)."
)
SMS_UNSIGNED = (
    "SMS: PUBLIC_BASE_URL is not set, so Twilio's signatures cannot be checked "
    "and every inbound message is refused (403)."
)


class Running:
    def __init__(self, channel: SmsChannel) -> None:
        self.channel = channel
        sender = SmsSender(channel)
        self.senders: Mapping[str, Sender] = {SMS: sender, WHATSAPP: sender}

    async def start(self, base_url: str) -> None:
        settings = self.channel.settings
        if not settings.public_base_url and settings.sms_provider == TwilioProvider.name:
            log.info(SMS_UNSIGNED, extra=fields(HINT))
        if not self.channel.can_start_whatsapp:
            log.info(WHATSAPP_UNSENT, extra=fields(HINT))

    async def stop(self) -> None:
        await self.channel.drain()  # answers to relayed messages under way
        await self.channel.close()

    def serve_digests(self, digests: DigestsOnRequest) -> None:
        """SMS has no /digest."""


class Sms:
    name = SMS
    off = SMS_OFF

    def enabled(self, served: Served) -> bool:
        return sms_enabled(served.settings)

    def build(self, served: Served) -> Running:
        provider, whatsapp = providers_for(served.settings)
        return Running(
            SmsChannel(
                served.settings,
                served.db,
                served.catalogues,
                served.pseudonyms,
                provider,
                whatsapp=whatsapp,
                files=served.files,
            )
        )

    def routes(self, served: Served) -> list[web.RouteDef]:
        return twilio.routes(served) + android.routes(served)


def sender_for(sms: SmsChannel) -> Mapping[str, Sender]:
    """Senders for a command that sends on its own (civicbot digests send)."""
    return Running(sms).senders


REGISTRATION = Sms()
