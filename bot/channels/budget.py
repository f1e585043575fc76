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
from dataclasses import dataclass, field
from enum import Enum

PRUNE_ABOVE = 10_000  # senders remembered before the quiet ones are first forgotten


class Verdict(Enum):
    ANSWER = "answer"
    NOTICE = "notice"  # over the budget: say so, once
    QUIET = "quiet"  # over it, and told already


@dataclass(slots=True)
class _Sender:
    # A list, not a deque: most senders have one or two times in the window, and an empty
    # deque is 760 bytes against a list's 56, for each of 20,000 residents answering a poll.
    times: list[float] = field(default_factory=list)
    told: bool = False


class AnswerBudget:
    def __init__(self, answers: int, seconds: float) -> None:
        self.answers, self.seconds = answers, seconds
        self._senders: dict[Hashable, _Sender] = {}
        # The next look for quiet senders: when as many again are remembered as were left
        # after the last, so that a wave of new senders all answered within the window
        # (none to forget) costs one look per doubling, not a look at everyone per answer.
        self._prune_at = PRUNE_ABOVE

    def take(self, sender: Hashable) -> Verdict:
        now = time.monotonic()
        if len(self._senders) > self._prune_at:
            self._prune(now)
            self._prune_at = max(PRUNE_ABOVE, 2 * len(self._senders))
        state = self._senders.setdefault(sender, _Sender())
        del state.times[: bisect.bisect_right(state.times, now - self.seconds)]  # in order
        if len(state.times) < self.answers:
            state.times.append(now)
            state.told = False
            return Verdict.ANSWER
        if state.told:
            return Verdict.QUIET
        state.told = True
        return Verdict.NOTICE

    def _prune(self, now: float) -> None:
        for sender in [
            s for s, v in self._senders.items() if not v.times or v.times[-1] <= now - self.seconds
        ]:
            del self._senders[sender]
