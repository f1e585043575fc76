"""Which provider carries SMS, and which WhatsApp, as the settings say: the one place that
knows both implementations (bot/channels/sms/provider.py: Twilio; bot/channels/sms/android.py:
a phone)."""

from __future__ import annotations

from bot.channels.sms.android import PROVIDER, AndroidProvider
from bot.channels.sms.provider import SmsProvider, TwilioProvider
from bot.runtime.config import Settings


def providers_for(settings: Settings) -> tuple[SmsProvider, SmsProvider | None]:
    """(for SMS, for WhatsApp when another): the provider SMS_PROVIDER names — Twilio, or a
    phone with SMS Gateway for Android, then Twilio beside it for WhatsApp when Twilio is
    set up too."""
    if settings.sms_provider != PROVIDER:
        return TwilioProvider(settings), None
    twilio = settings.twilio_account_sid and settings.twilio_auth_token
    return AndroidProvider(settings), TwilioProvider(settings) if twilio else None


def sms_enabled(settings: Settings) -> bool:
    """Whether the provider SMS_PROVIDER names has what it needs to carry SMS."""
    if settings.sms_provider == PROVIDER:
        return bool(
            settings.android_gateway_login
            and settings.android_gateway_password
            and settings.android_gateway_signing_key
        )
    return bool(
        settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number
    )
