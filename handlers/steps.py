"""A step of a guided flow, with its traits as fields: each flow declares its own steps, and
handlers/router.py joins them into the one table of the conversation graph."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from handlers.context import Context
from handlers.types import Reply

Replies = list[Reply]


@dataclass(frozen=True)
class Step:
    prompt: Callable[[Context], Awaitable[Reply]]  # asks the step's question (again)
    on_choice: Callable[[Context, str], Awaitable[Replies | None]] | None = None  # None: stale
    on_text: Callable[[Context, str], Awaitable[Replies]] | None = None
    # Nothing said at this step, or in answer to it, is kept for a redelivery
    # (docs/architecture.md §8): a bribe report's answers echo its service, outcome, amount.
    private: bool = False
    # A one-message channel (SMS) can be at this step: its next plain message answers it.
    one_shot: bool = False
    # What /cancel says at this step (it ends the flow, and says how to come back); None:
    # the general "cancelled" (handlers/account.py).
    on_cancel: Callable[[Context], Awaitable[Replies]] | None = None
