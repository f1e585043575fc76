"""Generated input for both webhooks (hypothesis): Telegram updates that are mostly right and
a little wrong in every way a client can get them wrong, and SMS bodies built around our
keywords. Shared by tests/test_fuzz.py (a few hundred in CI) and bench/fuzz.py (10,000)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from bot.channels.sms.keywords import KEYWORDS
from handlers.router import COMMANDS as ROUTER_COMMANDS
from handlers.router import INFO_COMMANDS

USERS = st.integers(min_value=1, max_value=40)  # few chats, so that flows carry on
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
WORDS = [spelling for languages in KEYWORDS.values() for s in languages.values() for spelling in s]
COMMANDS = [*ROUTER_COMMANDS, *INFO_COMMANDS, "x"]  # and one no bot knows
TEXTS = st.one_of(
    st.text(max_size=60),
    st.text(max_size=1200),
    st.sampled_from(["0", "101", "tokmok", "99999999999999999999", "²", "\x00", "🙂", " "]),
    st.builds(lambda c, a: f"/{c} {a}", st.sampled_from(COMMANDS), st.text(max_size=20)),
    st.builds(lambda p: f"/start {p}", st.sampled_from(["m-tokmok", "m-", "i-X", "inv-1", "c-Z"])),
)


def _chat(user: int) -> dict[str, Any]:
    return {"id": user, "type": "private", "first_name": "Fuzz"}


def _user(user: int, language: str | None) -> dict[str, Any]:
    user_data: dict[str, Any] = {"id": user, "is_bot": False, "first_name": "Fuzz"}
    if language is not None:
        user_data["language_code"] = language
    return user_data


@st.composite
def telegram_updates(
    draw: st.DrawFn, update_id: int, users: st.SearchStrategy[int] = USERS
) -> dict[str, Any]:
    """One update: a message or a button press, with a chance of a field that is missing,
    of the wrong type, or of an odd value."""
    user = draw(users)
    language = draw(st.sampled_from([None, "ky", "ru", "en", "de", "", "x" * 40]))
    if draw(st.booleans()):
        text = draw(TEXTS)
        message: dict[str, Any] = {
            "message_id": draw(st.integers(min_value=1, max_value=2**31)),
            "date": 1_764_000_000,
            "chat": _chat(user),
            "from": _user(user, language),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        body: dict[str, Any] = {"message": message}
    else:
        nonce = draw(st.sampled_from(["", "abc", "x" * 6]))
        value = draw(st.text(max_size=20) | st.sampled_from(["ky", "ru", "naryn", "roads", "1"]))
        query: dict[str, Any] = {
            "id": f"cb{update_id}",
            "from": _user(user, language),
            "chat_instance": "ci",
            "data": f"{nonce}:{value}"[:64],
        }
        if draw(st.booleans()):
            query["message"] = {"message_id": 1, "date": 0, "chat": _chat(user), "text": "old"}
        body = {"callback_query": query}
    update: dict[str, Any] = {"update_id": update_id, **body}
    if draw(st.integers(min_value=0, max_value=4)) == 0:  # now and then, spoil a field
        part = next(iter(body.values()))
        field = draw(st.sampled_from(sorted(part)))
        part[field] = draw(ANY_JSON)
    return update


@st.composite
def sms_bodies(draw: st.DrawFn) -> str:
    """A keyword (any spelling, any case) and then anything, or no keyword at all."""
    keyword = draw(st.sampled_from(["", *WORDS]))
    if draw(st.booleans()):
        keyword = keyword.lower()
    rest = draw(
        st.one_of(
            st.text(max_size=80),
            st.sampled_from(
                ["101", "tokmok", "1 3000", "0 0", "ru", "X 1 2", "99999999999999999999"]
            ),
        )
    )
    return f"{keyword} {rest}".strip()


SENDERS = st.sampled_from(
    ["+996555000001", "+996555000002", "whatsapp:+996700000003", "+15005550006", "not a number"]
)
# Many phones, for long runs that must stay under each one's flood limit.
MANY_SENDERS = st.builds("+99655{:07d}".format, st.integers(min_value=0, max_value=9_999_999))
