"""The table of SMS cases (sms_cases.yaml), read once for the three places that run it: the
conversation level (tests/test_sms_conversation.py: every case about the conversation, with
Twilio's and the Android gateway's parsing) and the real wire (tests/test_sms_webhook.py,
tests/test_sms_android.py: the cases about the request itself, and a few end to end)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bot.runtime.i18n import Catalogues
from handlers.types import Text
from storage.models import BribeReport, Person, Wish

DATA = yaml.safe_load(Path(__file__).with_name("sms_cases.yaml").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DATA["cases"]
TABLES = ("wishes", "people", "bribes")


def about_the_request(case: dict[str, Any]) -> bool:
    """A case about the webhook itself: its signature, its status, its form's fields."""
    return "signature" in case or "status" in case or bool(case.get("form"))


# Every case about the conversation runs there; on the wire, those about the request and
# the few marked `wire` (the TwiML, WhatsApp's address, a redelivered MessageSid end to end).
CONVERSATION_CASES = [case for case in CASES if not about_the_request(case)]
WIRE_CASES = [case for case in CASES if about_the_request(case) or case.get("wire")]


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


def this_month() -> str:
    return datetime.now(ZoneInfo("Asia/Bishkek")).strftime("%Y-%m")


def body_of(case: dict[str, Any]) -> str:
    if "fill" in case:
        fill = case["fill"]
        return fill["prefix"] + fill["letter"] * (fill["total"] - len(fill["prefix"]))
    return str(case["body"])


def expected_reply(
    spec: dict[str, Any] | str, catalogues: Catalogues, references: dict[str, str | None]
) -> str:
    """The SMS answer a case expects; a saved item's reference is read from the database."""
    if spec == "":
        return ""
    assert isinstance(spec, dict)
    texts = []
    for message in spec["messages"]:
        if isinstance(message, str):
            key, values = message, {}
        else:
            key, values = message["key"], message["values"]
        if key in references:
            values = {"reference": references[key]}
        texts.append(catalogues.text(spec["language"], Text(key, values), variant="sms"))
    return " ".join(texts)


def expected_rows(case: dict[str, Any], table: str) -> list[dict[str, Any]]:
    """A case's rows of a table as stored (month "this" is the current month)."""
    return [
        {**row, "month": this_month()} if row.get("month") == "this" else row for row in case[table]
    ]


def shown(wishes: list[Wish], people: list[Person], bribes: list[BribeReport]) -> dict[str, Any]:
    """Rows as the table writes them, and the references of the saved wishes and reports."""
    return {
        "wishes": [
            {
                "kind": w.kind,
                "category": w.category,
                "text": w.text,
                "municipality": w.municipality.key if w.municipality else None,
                "channel": w.channel,
            }
            for w in wishes
        ],
        "people": [
            {
                "channel": p.channel,
                "language": p.language,
                "municipality": p.municipality.key if p.municipality else None,
                "opted_out": p.opted_out,
            }
            for p in people
        ],
        "bribes": [
            {
                "service": b.service,
                "outcome": b.outcome,
                "amount": b.amount,
                "month": b.month,
                "municipality": b.municipality.key,
                "channel": b.channel,
                "text": b.text,
            }
            for b in bribes
        ],
        "wish.saved": [w.reference for w in wishes],
        "bribe.saved": [b.reference for b in bribes],
    }


def references(rows: dict[str, Any]) -> dict[str, str | None]:
    """The newest saved wish's and report's references (the ones a reply names; an appeal's
    first answer names the wish it makes an appeal of)."""
    newest = {key: (rows[key] or [None])[-1] for key in ("wish.saved", "bribe.saved")}
    return {**newest, "appeal.intro": newest["wish.saved"]}
