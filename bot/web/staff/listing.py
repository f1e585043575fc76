"""A console list's address: its filters and page, read strictly (a value the list does not
know is a 400, never a guess and never a 500), and written back for links that keep them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from bot.web.http_input import CONTROL
from handlers.inbox import FILTER_STATUSES, SEARCH_LENGTH
from handlers.validation import small_number
from storage.domain import wish_categories
from storage.queries.answers import RECEIVED
from storage.queries.console import OVERDUE, THIS_WEEK, Listing

PAGE = 25
MAX_PAGE = 10_000
ANY = "all"  # the status filter's "any status"; without one the list is the waiting wishes
DUES = (OVERDUE, THIS_WEEK)
FIELDS = ("status", "topic", "due", "mine", "village", "q", "page")


class Malformed(ValueError):
    """A filter the list cannot read; its message is the field's name (the address's own
    word, the same in every language)."""


@dataclass(frozen=True)
class Asked:
    listing: Listing
    page: int  # from 1
    query: dict[str, str]  # the filters as given, to keep in links (the page left out)

    @property
    def query_string(self) -> str:
        return urlencode(self.query)


def read(query: Mapping[str, str], person_id: int) -> Asked:
    """The list an address asks for. Without a status: the waiting wishes, or, with a
    search, any (a reference searched for is found whatever became of it)."""
    given = {name: query[name].strip() for name in FIELDS if query.get(name, "").strip()}
    for name, value in given.items():
        if CONTROL.search(value):  # PostgreSQL refuses a NUL
            raise Malformed(name)
    search = " ".join(given.get("q", "").split())
    if len(search) > SEARCH_LENGTH:
        raise Malformed("q")
    status = given.get("status")
    if status is not None and status != ANY and status not in FILTER_STATUSES:
        raise Malformed("status")
    topic = given.get("topic")
    if topic is not None and topic not in wish_categories():
        raise Malformed("topic")
    due = given.get("due")
    if due is not None and due not in DUES:
        raise Malformed("due")
    mine = given.get("mine")
    if mine is not None and mine != "1":
        raise Malformed("mine")
    village = small_number(given["village"]) if "village" in given else None
    if "village" in given and village is None:
        raise Malformed("village")
    page_text = given.pop("page", "1")
    if not (page_text.isascii() and page_text.isdigit()) or not 1 <= int(page_text) <= MAX_PAGE:
        raise Malformed("page")
    if status is None:
        status = ANY if search else RECEIVED
    listing = Listing(
        status=None if status == ANY else status,
        category=topic,
        due=due,
        assigned_to=person_id if mine else None,
        search=search,
        village=village,
    )
    return Asked(listing, int(page_text), given)
