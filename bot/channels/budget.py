"""How many answers one sender gets in a while, so that a script (or a stuck phone) sending
hundreds of messages gets neither hundreds of answers nor, on SMS, a bill for them.

What the sender sent is still handled and kept as usual (the flood limits of each kind of
message apply there, handlers/flood.py); only the answers stop. The first message over the
budget is told so once; the next ones get nothing until the window has room again. Kept in
memory, per process: a second worker gives a flooder a second budget, which is fine for its
purpose.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Hashable
from enum import Enum

PRUNE_ABOVE = 10_000  # senders remembered before the quiet ones are first forgotten


class Verdict(Enum):
    ANSWER = "answer"
    NOTICE = "notice"  # over the budget: say so, once
    QUIET = "quiet"  # over it, and told already


class AnswerBudget:
    def __init__(self, answers: int, seconds: float) -> None:
        self.answers, self.seconds = answers, seconds
        # A sender's answers in the window, oldest first. A tuple of floats, which the garbage
        # collector stops tracking: an object and a list per sender were two tracked objects
        # each, and with 300,000 signers in the window every full collection walked them all
        # (100–200 ms a collection, every update in flight waiting; docs/decisions.md).
        self._senders: dict[Hashable, tuple[float, ...]] = {}
        self._told: set[Hashable] = set()  # over the budget, and told so
        # The next look for quiet senders: when as many again are remembered as were left
        # after the last, so that a wave of new senders all answered within the window
        # (none to forget) costs one look per doubling, not a look at everyone per answer.
        self._prune_at = PRUNE_ABOVE

    def take(self, sender: Hashable) -> Verdict:
        now = time.monotonic()
        if len(self._senders) > self._prune_at:
            self._prune(now)
            self._prune_at = max(PRUNE_ABOVE, 2 * len(self._senders))
        times = self._senders.get(sender, ())
        times = times[bisect.bisect_right(times, now - self.seconds) :]  # in order
        if len(times) < self.answers:
            self._senders[sender] = (*times, now)
            self._told.discard(sender)
            return Verdict.ANSWER
        self._senders[sender] = times
        if sender in self._told:
            return Verdict.QUIET
        self._told.add(sender)
        return Verdict.NOTICE

    def _prune(self, now: float) -> None:
        for sender in [s for s, t in self._senders.items() if not t or t[-1] <= now - self.seconds]:
            del self._senders[sender]
            self._told.discard(sender)
