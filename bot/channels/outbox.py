"""One outbox for everything the bot sends: answers, notices, digests — one class, one
instance per channel (Telegram; SMS and WhatsApp through the SMS provider), each given its
client and how to read that client's errors (a `Verdict`). It knows no channel's library:
Telegram's side (the Bot API's errors read, the messages' calls) is bot/channels/telegram/outbox.py.

Telegram's limits (core.telegram.org/bots/faq): about one message a second in one chat, with
short bursts allowed, and about 30 messages a second when broadcasting to many people.

- An answer goes at once, in order after whatever that chat is already waiting for. Once
  Telegram has answered 429 for a chat, it waits out retry_after and everything that chat
  is sent in a row is spaced from then on (the first message of each answer at once, the
  rest at CHAT_RATE a second after a burst of CHAT_BURST) until the chat has been quiet
  long enough to fill its burst again. Spacing every chat from the start would slow every
  resident who taps quickly, to spare a 429 that Telegram sends rarely and we wait out.
- Broadcasts (notices, digests) also wait their turn at one pace of RATE a second for the
  whole process, so that answers to residents keep flowing while a digest goes out.
- A 429 holds that chat (and, for broadcasts, the common pace) for its retry_after and the
  message is sent again, for as long as the rate limit lasts up to SEND_GIVE_UP_MINUTES (a
  limit that ends loses nothing); a network error or a 5xx is retried with back-off; a chat
  that blocked the bot (403) is marked opted out and its queue dropped; a message Telegram
  refuses (400) is logged with its reason and counted, and the next one goes.
- A message given up (refused, or still failing when its time is up) is never dropped
  silently: logged as an error, counted (civicbot_outbox_given_up_total), and recorded for
  its person (`on_given_up`).

SMS (bot/channels/sms/channel.py) goes through the same class: the provider's 429s, 5xx and network
errors are retried with back-off, a recipient who opted out with the carrier is marked, a
refused message is recorded; broadcasts keep to the SMS pace.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bot.runtime import metrics
from handlers.log_fields import fields

RATE = 30.0  # broadcast messages per second, all recipients together
JITTER_MARGIN = 0.05
CHAT_BURST = 3  # messages one chat may get at once (Telegram allows short bursts)
CHAT_RATE = 1.0  # messages per second to one chat after a burst
GIVE_UP_AFTER = 600.0  # seconds a message waits out 429s before it fails (SEND_GIVE_UP_MINUTES)
NETWORK_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds before each retry of a failed call
DRAIN_WAIT = 10.0  # seconds a stopping outbox waits for queued answers
PRUNE_ABOVE = 1000  # idle chats remembered before their pacing state is dropped
PACED_WORKERS = 64  # chats sending paced batches at once (a task each), however many wait
# Telegram's limit on a message's text (the Bot API's sendMessage: 1-4096 characters): the
# answers of every channel are split under it (tests/test_footprint.py holds it equal to
# python-telegram-bot's constant).
TEXT_LIMIT = 4096

C = TypeVar("C")  # the channel's client: a Telegram BotApi, an SMS provider
R = TypeVar("R")

log = logging.getLogger(__name__)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split a long text into pieces under Telegram's limit, preferring line breaks."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text else pieces


class PermanentFailure(Exception):
    """The channel refused the message itself (Telegram's 400): sending it again would not
    help."""


class RecipientBlocked(Exception):
    """The recipient blocked the bot or opted out with the carrier; they are marked opted out
    and get nothing more until they write again."""


class StillFailing(OSError):
    """Sending kept failing (network, 5xx, 429s) after every retry; it may work later."""


# --- how a channel's error is read ----------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    """Rate-limited: wait this long, then send again."""

    seconds: float


@dataclass(frozen=True)
class Blocked:
    """The recipient refuses our messages: mark them, send nothing more."""


@dataclass(frozen=True)
class Refused:
    """This message will never be taken."""

    reason: str


@dataclass(frozen=True)
class Transient:
    """Worth trying again after a pause."""


Verdict = Hold | Blocked | Refused | Transient
# None: not a sending error at all (a bug), raised as it is.
Classify = Callable[[Exception], Verdict | None]


class Pacer:
    """Lets one message through every 1/rate seconds (and a little: network jitter would
    otherwise bunch 31 into some second), however many tasks ask."""

    def __init__(self, rate: float = RATE) -> None:
        self.interval = (1.0 + JITTER_MARGIN) / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval

    def hold(self, seconds: float) -> None:
        """Telegram said "too many requests": nobody sends for `seconds`."""
        self._next = max(self._next, time.monotonic() + seconds)


class ChatPace:
    """One chat's pace: free until a 429, then a token bucket (a short burst, then CHAT_RATE
    a second) until the bucket is full again."""

    __slots__ = ("burst", "rate", "spaced", "stamp", "tokens", "until")

    def __init__(self, burst: int = CHAT_BURST, rate: float = CHAT_RATE) -> None:
        self.burst, self.rate = burst, rate
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.until = 0.0  # held by a 429 until then
        self.spaced = False  # since a 429, until the bucket fills again

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    async def wait(self, first: bool = False) -> None:
        """Wait for this chat's turn; the `first` message of an answer only waits out a 429."""
        now = time.monotonic()
        if self.until > now:
            await asyncio.sleep(self.until - now)
            now = time.monotonic()
        self._refill(now)
        if self.spaced and self.tokens >= self.burst:
            self.spaced = False
        if first or not self.spaced:
            self.tokens = max(self.tokens - 1, 0.0)
            return
        if self.tokens < 1:
            await asyncio.sleep((1 - self.tokens) / self.rate)
            self._refill(time.monotonic())
        self.tokens -= 1

    def hold(self, seconds: float) -> None:
        self.until = max(self.until, time.monotonic() + seconds)
        self.tokens = min(self.tokens, 0.0)
        self.spaced = True

    def idle(self) -> bool:
        self._refill(time.monotonic())
        return self.tokens >= self.burst and self.until <= time.monotonic()


@dataclass(slots=True)  # slots: one of each per chat with something queued (20,000 at once)
class _Batch:
    calls: Sequence[Callable[[Any], Awaitable[object]]]
    done: asyncio.Future[bool] | None  # None: a follow-up nobody waits for (`follow`)

    @property
    def paced(self) -> bool:
        """At the broadcast pace: what follows an answer, which nobody waits for, does."""
        return self.done is None

    def settle(self, sent_all: bool) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(sent_all)


@dataclass(slots=True)
class _Chat:
    pace: ChatPace = field(default_factory=ChatPace)
    # A list, not a deque: a chat's queue is a few batches, and an empty deque is 760 bytes
    # against a list's 56, for each of the 20,000 chats a wave of follow-ups leaves queued.
    queue: list[_Batch] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None
    waiting: bool = False  # in the line of chats with paced batches only (`_start_paced`)


class Outbox(Generic[C]):
    def __init__(
        self,
        client: C,
        on_blocked: Callable[[Any], Awaitable[None]],
        *,
        classify: Classify,
        channel: str,
        pacer: Pacer | None = None,
        network_backoff: Sequence[float] = NETWORK_BACKOFF,
        give_up_after: float = GIVE_UP_AFTER,
        on_given_up: Callable[[Any, str], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.on_blocked = on_blocked  # marks the recipient opted out (see `marks_blocked`)
        self.give_up_after = give_up_after
        # Records a message given up for its recipient (see `records_given_up`); None where
        # the caller records every send itself (SMS).
        self.on_given_up = on_given_up
        self.classify = classify
        self.pacer = pacer or Pacer()
        self.network_backoff = tuple(network_backoff)
        self.channel = channel
        self._chats: dict[Hashable, _Chat] = {}
        self._prune_at = PRUNE_ABOVE  # see `_chat`
        self._depth = metrics.OUTBOX_DEPTH.labels(channel)
        # Chats with nothing queued but paced batches, nobody waiting for them: their workers
        # are started PACED_WORKERS at a time, so that 20,000 follow-ups waiting for the pace
        # are entries of a line, not 20,000 tasks (bot/channels/telegram/channel.py).
        self._line: deque[Hashable] = deque()
        self._slots = asyncio.Semaphore(PACED_WORKERS)
        self._starter: asyncio.Task[None] | None = None

    @property
    def bot(self) -> C:  # the Telegram outbox's client, by its usual name
        return self.client

    # --- answers: queued per chat, in order -------------------------------------------------

    def post(
        self,
        chat_id: Hashable,
        calls: Sequence[Callable[[C], Awaitable[object]]],
    ) -> asyncio.Future[bool]:
        """Queue messages for a chat, after whatever it is already waiting for. The future
        is True once all were sent, False if the chat blocked the bot or one was given up."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if not calls:
            done.set_result(True)
            return done
        self._queue(chat_id, _Batch(calls, done))
        return done

    def follow(self, chat_id: Hashable, calls: Sequence[Callable[[C], Awaitable[object]]]) -> None:
        """Queue messages that follow an answer, which nobody waits for: after whatever the
        chat is already waiting for, each at the broadcast pace. Given up, they are recorded
        as any message is (`_give_up`); there is no future to tell."""
        if calls:
            self._queue(chat_id, _Batch(calls, None))

    def _queue(self, chat_id: Hashable, batch: _Batch) -> None:
        chat = self._chat(chat_id)
        chat.queue.append(batch)
        self._depth.inc(len(batch.calls))
        if chat.worker is not None and not chat.worker.done():
            return
        if not all(queued.paced for queued in chat.queue):  # someone waits: at once
            chat.worker = asyncio.create_task(self._drain(chat_id, chat), name=f"outbox-{chat_id}")
        elif not chat.waiting:
            chat.waiting = True
            self._line.append(chat_id)
            if self._starter is None or self._starter.done():
                self._starter = asyncio.create_task(self._start_paced(), name="outbox-paced")

    async def _start_paced(self) -> None:
        """Start the workers of the chats in line, in order, PACED_WORKERS at most at once;
        a chat given a worker meanwhile (an answer posted after its follow-up) is passed."""
        while self._line:
            await self._slots.acquire()
            chat_id = self._line.popleft()
            chat = self._chats.get(chat_id)
            if chat is None or not chat.queue or (chat.worker and not chat.worker.done()):
                self._slots.release()
            else:
                chat.worker = asyncio.create_task(
                    self._drain(chat_id, chat), name=f"outbox-{chat_id}"
                )
                chat.worker.add_done_callback(lambda _: self._slots.release())
            if chat is not None:
                chat.waiting = False

    async def _drain(self, chat_id: Hashable, chat: _Chat) -> None:
        """A chat's worker: sends its queue, then lets go of itself."""
        try:
            await self._send_queued(chat_id, chat)
        finally:
            # A finished task is some 700 bytes: not kept for each of the 20,000 chats a
            # wave of answers leaves behind (they are forgotten only once idle, `_chat`).
            chat.worker = None

    async def _send_queued(self, chat_id: Hashable, chat: _Chat) -> None:
        while chat.queue:
            batch = chat.queue.pop(0)
            sent_all = True
            for number, call in enumerate(batch.calls):
                self._depth.dec()
                try:
                    await self.send(
                        chat_id, call, broadcast=batch.paced, pace=chat.pace, first=number == 0
                    )
                except asyncio.CancelledError:  # a stopping outbox: the rest counted (`drain`)
                    self._depth.inc()
                    chat.queue.insert(0, _Batch(batch.calls[number:], batch.done))
                    raise
                except RecipientBlocked:  # `send` marked them; drop what they would get
                    self._depth.dec(len(batch.calls) - number - 1)
                    self._drop(chat, batch)
                    return
                except PermanentFailure:  # said and recorded by `send`
                    sent_all = False  # the next message goes, still in order
                except StillFailing:  # the rest of this answer would meet the same limit
                    rest = len(batch.calls) - number - 1
                    self._depth.dec(rest)
                    metrics.OUTBOX_GIVEN_UP.labels(self.channel, "with_previous").inc(rest)
                    sent_all = False
                    break
                except Exception as error:  # a fault of ours: say so, and go on
                    sent_all = False
                    log.exception("a message to a chat failed: %s", _reason(error))
            batch.settle(sent_all)

    def _drop(self, chat: _Chat, batch: _Batch) -> None:
        """Nothing more goes to a chat that blocked the bot, until the person writes again."""
        dropped = [batch, *chat.queue]
        chat.queue.clear()
        self._depth.dec(sum(len(b.calls) for b in dropped[1:]))
        for each in dropped:
            each.settle(False)

    def _prune(self) -> None:
        for chat_id in [c for c, chat in self._chats.items() if _idle(chat)]:
            del self._chats[chat_id]

    # --- one message, for every kind of sending ----------------------------------------------

    async def send(
        self,
        chat_id: Hashable,
        call: Callable[[C], Awaitable[R]],
        *,
        broadcast: bool = True,
        pace: ChatPace | None = None,
        network_retries: bool = True,
        first: bool = False,
        deadline: float | None = None,
    ) -> R:
        """Send one message now, waiting its turn and out 429s; what the client answered.
        Raises RecipientBlocked (they are marked opted out first), PermanentFailure (refused),
        or StillFailing once retrying has not helped: 429s past `give_up_after` (or past
        `deadline`, on the monotonic clock, if sooner: a caller's lease), or errors after the
        back-off. A message given up is logged, counted and recorded before either of the last
        two is raised — unless `network_retries` is off: then the caller keeps its own
        schedule and says what became of it (digests), and a first error is raised at once."""
        pace = pace or self._chat(chat_id).pace
        held = False
        started, begun = time.monotonic(), time.perf_counter()
        deadline = min(started + self.give_up_after, deadline or math.inf)
        give_up = self._give_up if network_retries else self._counted_failure
        backoff = iter(self.network_backoff if network_retries else ())
        sends = metrics.OUTBOX_SENDS
        while True:
            await pace.wait(first and not held)
            if broadcast:
                await self.pacer.wait()
            try:
                answer = await call(self.client)
            except Exception as error:
                verdict = self.classify(error)
                if verdict is None:
                    raise
                if isinstance(verdict, Hold):
                    sends.labels(self.channel, "retry_after").inc()
                    if time.monotonic() + verdict.seconds > deadline:
                        reason = f"rate-limited for over {(deadline - started) / 60:.3g} min"
                        await give_up(chat_id, "rate_limited", reason)
                        raise StillFailing(reason) from error
                    held = True
                    pace.hold(verdict.seconds)
                    if broadcast:
                        self.pacer.hold(verdict.seconds)
                    continue
                if isinstance(verdict, Blocked):
                    sends.labels(self.channel, "blocked").inc()
                    await self._mark_blocked(chat_id)
                    raise RecipientBlocked(_reason(error)) from error
                if isinstance(verdict, Refused):
                    await give_up(chat_id, "refused", verdict.reason)
                    raise PermanentFailure(verdict.reason) from error
                delay = next(backoff, None)
                if delay is None:
                    await give_up(chat_id, "failing", _reason(error))
                    raise StillFailing(_reason(error)) from error
                sends.labels(self.channel, "network_retry").inc()
                await asyncio.sleep(delay)
                continue
            sends.labels(self.channel, "sent").inc()
            if log.isEnabledFor(logging.DEBUG):  # every message: its fields only when shown
                log.debug(
                    "a %s message sent",
                    self.channel,
                    extra=fields("send", channel=self.channel, outcome="sent", started=begun),
                )
            return answer

    async def _counted_failure(self, chat_id: Hashable, kind: str, reason: str) -> None:
        """A send that failed, for a caller that decides itself what becomes of the message."""
        metrics.OUTBOX_SENDS.labels(self.channel, "failed").inc()

    async def _give_up(self, chat_id: Hashable, kind: str, reason: str) -> None:
        """A message that will not be sent: recorded, said and counted, never silently.
        Recorded first: a stopping outbox that cancels the record counts the message itself,
        with those not sent (`drain`), and counted here as well it would be counted twice."""
        await self._counted_failure(chat_id, kind, reason)
        if self.on_given_up is not None:
            try:
                await self.on_given_up(chat_id, reason)
            except Exception:
                log.exception("could not record a message given up")
        metrics.OUTBOX_GIVEN_UP.labels(self.channel, kind).inc()
        log.error(
            "a %s message was given up (%s): %s",
            self.channel,
            kind,
            reason,
            extra=fields("send", channel=self.channel, outcome=f"given_up_{kind}"),
        )

    async def _mark_blocked(self, chat_id: Hashable) -> None:
        try:
            await self.on_blocked(chat_id)
        except Exception:
            log.exception("could not mark a blocked chat")

    def _chat(self, chat_id: Hashable) -> _Chat:
        """A chat's queue and pace; chats long idle are forgotten once there are many."""
        if chat_id not in self._chats and len(self._chats) > self._prune_at:
            self._prune()
            # Next when as many again are remembered: a wave of new chats, none idle yet,
            # costs one look per doubling rather than a look at every chat per new one.
            self._prune_at = max(PRUNE_ABOVE, 2 * len(self._chats))
        return self._chats.setdefault(chat_id, _Chat())

    async def drain(self, within: float = DRAIN_WAIT) -> None:
        """Let queued answers go out (a stopping server), then give up on the rest (and on
        the chats still in line for the pace: nobody waits for their follow-ups)."""
        if self._starter is not None:
            self._starter.cancel()
        self._give_up_line()
        workers = [c.worker for c in self._chats.values() if c.worker and not c.worker.done()]
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=within)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        # Not chats whose worker began meanwhile (an answer posted during the wait): theirs
        # is sending, and counts what it sends.
        ended = [c for c in self._chats.values() if c.worker is None or c.worker.done()]
        self._not_sent(ended, "queued messages whose wait ran out")

    def _give_up_line(self) -> None:
        """The follow-ups of chats still in line for the pace: not sent, and said so."""
        chats = [self._chats.get(chat_id) for chat_id in self._line]
        self._line.clear()
        for chat in chats:
            if chat is not None:
                chat.waiting = False  # out of the line: a later post starts it again
        idle = [c for c in chats if c is not None and (c.worker is None or c.worker.done())]
        self._not_sent(idle, "follow-up messages waiting for the pace")

    def _not_sent(self, chats: list[_Chat], what: str) -> None:
        """What a stopping outbox leaves in these chats' queues: not sent, and said so (a
        count in the log and the given-up metric), never dropped without a word."""
        unsent = 0
        for chat in chats:
            unsent += sum(len(batch.calls) for batch in chat.queue)
            for batch in chat.queue:
                batch.settle(False)
            chat.queue.clear()
        if unsent:
            log.warning("stopping: %d %s not sent", unsent, what)
            metrics.OUTBOX_GIVEN_UP.labels(self.channel, "shutdown").inc(unsent)
            self._depth.dec(unsent)


def _idle(chat: _Chat) -> bool:
    return not chat.queue and (chat.worker is None or chat.worker.done()) and chat.pace.idle()


def _reason(error: Exception) -> str:
    return str(error) or type(error).__name__
