"""Our own Twilio code (bot/channels/sms/twilio_api.py) against the `twilio` package it
replaces at run time, installed for the tests (the `dev` extra) as the reference: the same
signatures accepted and refused, the same TwiML; and the Messages API's errors over the wire
read as TwilioProvider read twilio's exceptions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.sms.provider import (
    RecipientOptedOut,
    SendFailed,
    TwilioProvider,
    Unavailable,
)
from bot.channels.sms.twilio_api import signature, signed, twiml
from bot.runtime.config import Settings
from tests.twilio import FakeTwilio, twilio_settings

EXAMPLES = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])

# --- signatures ----------------------------------------------------------------------------

NAME = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
ASCII_WORD = st.text("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789-_.~%", min_size=1, max_size=10)
HOSTS = st.builds(
    ".".join,
    st.lists(
        st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8),
        min_size=1,
        max_size=3,
    ),
)
QUERY = st.lists(
    st.tuples(st.sampled_from(["a", "b", "bodySHA256", "x y"]), ASCII_WORD), max_size=3
).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))
# The connection overrides the bot accepts after '#' (TWILIO_WEBHOOK_OVERRIDES), and others.
FRAGMENT = st.sampled_from(["", "rc=5&rp=all", "rc=3", "ct=1000&rt=15000&rp=ct,rt", "x"])


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https", "http"]))
    host = draw(HOSTS)
    port = draw(st.none() | st.sampled_from([80, 443, 8080]) | st.integers(1, 65535))
    path = "/".join(draw(st.lists(ASCII_WORD, max_size=3)))
    query = draw(st.none() | QUERY)
    fragment = draw(FRAGMENT)
    url = f"{scheme}://{host}{'' if port is None else f':{port}'}/{path}"
    url += "" if query is None else f"?{query}"
    return url + (f"#{fragment}" if fragment else "")


# A form as the webhook reads it: names may repeat, values may be empty or any text.
FORMS = st.lists(st.tuples(NAME, st.text(st.characters(codec="utf-8"), max_size=20)), max_size=8)


@st.composite
def signature_cases(draw: st.DrawFn) -> tuple[str, str, MultiDict[str], str]:
    token = draw(st.text(st.characters(codec="utf-8"), min_size=1, max_size=34))
    url = draw(urls())
    form = MultiDict(draw(FORMS))
    reference = RequestValidator(token)
    kind = draw(st.sampled_from(["as-is", "other-port", "tampered", "other-form", "garbage"]))
    if kind == "as-is":
        given = reference.compute_signature(url, form)
    elif kind == "other-port":  # signed with the port written (or left out) the other way
        given = reference.compute_signature(draw(st.sampled_from(_port_variants(url))), form)
    elif kind == "tampered":
        good = reference.compute_signature(url, form)
        at = draw(st.integers(0, len(good) - 1))
        given = good[:at] + ("A" if good[at] != "A" else "B") + good[at + 1 :]
    elif kind == "other-form":
        given = reference.compute_signature(url, MultiDict([*form.items(), ("Extra", "1")]))
    else:
        given = draw(st.text(max_size=40))
    return token, url, form, given


def _port_variants(url: str) -> list[str]:
    from urllib.parse import urlparse

    parts = urlparse(url)
    host = parts.netloc.rpartition(":")[0] if parts.port else parts.netloc
    return [parts._replace(netloc=host).geturl(), parts._replace(netloc=f"{host}:443").geturl()]


@EXAMPLES
@given(signature_cases())
def test_our_signature_check_agrees_with_twilios(
    case: tuple[str, str, MultiDict[str], str],
) -> None:
    token, url, form, given = case
    reference = RequestValidator(token)
    assert signature(token, url, form) == reference.compute_signature(url, form)
    assert signed(token, url, form, given) is reference.validate(url, form, given)


def test_the_webhooks_own_url_is_accepted_with_and_without_its_port() -> None:
    """Not only agreement: a genuine signature passes (the property's cases could all be
    refusals if its strategies were wrong)."""
    form = MultiDict([("Body", "Салам <3 & 🙂"), ("From", "+996555000111"), ("Body", "")])
    for signed_url, checked_url in [
        ("https://bot.example.kg/sms/twilio", "https://bot.example.kg:443/sms/twilio"),
        (
            "https://bot.example.kg:443/sms/twilio#rc=5&rp=all",
            "https://bot.example.kg/sms/twilio#rc=5&rp=all",
        ),
    ]:
        assert signed("token", checked_url, form, signature("token", signed_url, form))
    assert not signed("token", "https://bot.example.kg/sms/twilio", form, "")
    assert not signed(
        "other",
        "https://bot.example.kg/sms/twilio",
        form,
        signature("token", "https://bot.example.kg/sms/twilio", form),
    )


# --- TwiML ---------------------------------------------------------------------------------

# Text XML 1.0 can carry, carriage returns left out (a parser reads them as line feeds), with
# what needs escaping, Kyrgyz and Russian letters and emoji drawn often.
XML_TEXT = st.text(
    st.sampled_from(list("<>&\"'; ӨөҮүҢңЖжЁё🙂\n\t]]>"))
    | st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"])
    | st.sampled_from(["\t", "\n"]),
    min_size=1,
    max_size=60,
).filter(lambda text: "\ufffe" not in text and "\uffff" not in text)


@EXAMPLES
@given(XML_TEXT)
def test_twiml_carries_the_text_exactly_and_as_twilio_writes_it(text: str) -> None:
    answer = twiml(text)
    message = ElementTree.fromstring(answer).find("Message")
    assert message is not None and message.text == text
    reference = MessagingResponse()
    reference.message(text)
    assert answer == str(reference)


def test_an_empty_answer_is_an_empty_response_and_control_characters_are_left_out() -> None:
    assert twiml("") == twiml("\x00\x1b") == str(MessagingResponse())
    message = ElementTree.fromstring(twiml("a\x00b\x1bc\x7f")).find("Message")
    assert message is not None and message.text == "abc\x7f"


# --- the Messages API's errors -------------------------------------------------------------


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.mark.parametrize(
    ("answer", "raised", "said"),
    [
        ((400, 21610), RecipientOptedOut, "recipient opted out"),
        ((429, 20429), Unavailable, "Twilio answered 429, error 20429"),
        ((503, None), Unavailable, "Twilio answered 503"),
        ((400, 21211), SendFailed, "Twilio refused: 400, error 21211"),
        ((404, 20404), SendFailed, "Twilio refused: 404, error 20404"),
    ],
)
async def test_twilios_errors_are_read_as_the_outbox_expects(
    fake_twilio: FakeTwilio, answer: tuple[int, int | None], raised: type[Exception], said: str
) -> None:
    fake_twilio.failures = [answer]
    provider = TwilioProvider(Settings(**twilio_settings(fake_twilio.base_url)))
    try:
        with pytest.raises(raised) as error:
            await provider.send("+996555000111", "+15005550006", "Салам", None)
    finally:
        await provider.close()
    assert type(error.value) is raised and str(error.value) == said
    assert error.value.code == answer[1]  # type: ignore[attr-defined]


async def test_a_proxys_page_in_another_charset_is_twilio_unavailable(
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.proxy_pages = [(502, b"<html>\xcf\xf0\xee\xea\xf1\xe8 \xff</html>")]
    provider = TwilioProvider(Settings(**twilio_settings(fake_twilio.base_url)))
    try:
        with pytest.raises(Unavailable, match="Twilio answered 502"):
            await provider.send("+996555000111", "+15005550006", "Салам", None)
    finally:
        await provider.close()


async def test_the_message_is_posted_as_twilio_documents(fake_twilio: FakeTwilio) -> None:
    provider = TwilioProvider(Settings(**twilio_settings(fake_twilio.base_url)))
    try:
        sent = await provider.send(
            "whatsapp:+996555000111",
            "whatsapp:+15005550006",
            "Салам & <3",
            "https://bot.example.kg/sms/twilio/status",
            template="HX123",
        )
    finally:
        await provider.close()
    assert (sent.provider_id, sent.status) == (fake_twilio.sent[0]["Sid"], "queued")
    assert fake_twilio.sent[0] == {
        "To": "whatsapp:+996555000111",
        "From": "whatsapp:+15005550006",
        "StatusCallback": "https://bot.example.kg/sms/twilio/status",
        "ContentSid": "HX123",
        "ContentVariables": '{"1": "\\u0421\\u0430\\u043b\\u0430\\u043c & <3"}',
        "Sid": sent.provider_id,
    }


async def test_twilio_out_of_reach_is_unavailable() -> None:
    provider = TwilioProvider(Settings(**twilio_settings("http://127.0.0.1:9")))
    try:
        with pytest.raises(Unavailable, match="Twilio unreachable"):
            await provider.send("+996555000111", "+15005550006", "Салам", None)
    finally:
        await provider.close()


def test_a_url_whose_port_is_not_a_number_is_checked_as_written() -> None:
    """No URL Twilio posts to, but a misconfigured PUBLIC_BASE_URL must not be a 500: the
    signature of the URL as written is taken, any other refused."""
    url, form = "https://bot.example.kg:port/sms/twilio", {"Body": "КОЛ", "From": "+996555000111"}
    assert signed("token", url, form, signature("token", url, form))
    assert not signed(
        "token", url, form, signature("token", "https://bot.example.kg/sms/twilio", form)
    )
