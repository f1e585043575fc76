"""A fake Telegram Bot API server for tests: aiohttp on 127.0.0.1, speaking the real wire
format that python-telegram-bot sends (form fields, JSON-encoded where not strings).

It records every call, serves `getUpdates` from a queue (long-polling like Telegram), and
refuses what Telegram refuses: texts over 4,096 characters, captions over 1,024, empty texts,
button data over 64 bytes, a button press's answer (toast) over 200 characters, and
messages to people who blocked the bot. With `rate_limit` it answers 429 with retry_after
to a bot that sends more than that many messages in a second, and with `chat_rate_limit`
to one that sends more than that many to one chat;
with `stall_after` it stops answering sends after that many (a crash test's
moment to kill the sender); `throttle` limits one chat for a while. The command menus set
are kept by scope and language, and `menu_of` says which one a chat sees, as Telegram
chooses; `toasts` lists the answers shown to pressers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-token-for-the-fake-server"
BOT_USER = {"id": 999000, "is_bot": True, "first_name": "Civic", "username": "civic_test_bot"}
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
SEND_METHODS = ("sendMessage", "sendPhoto", "sendDocument")
CALLBACK_DATA_LIMIT = 64
TOAST_LIMIT = 200  # characters of an answerCallbackQuery text
MENU_LIMIT = 100  # commands in one setMyCommands
# Fields that PTB sends as plain strings; every other field is JSON.
STRING_FIELDS = {
    "text",
    "caption",
    "url",
    "secret_token",
    "language_code",
    "callback_query_id",
    "parse_mode",
}
FILE_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")
MAX_POLL_WAIT = 5.0  # seconds; bounded so that a test never hangs on getUpdates
ACK_WAIT = 10.0  # seconds a test waits for the bot to acknowledge an update


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    ok: bool = False  # answered with success
    in_response: bool = False  # made from the bot's answer to a webhook


@dataclass
class FakeTelegram:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    blocked_chats: set[int] = field(default_factory=set)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    # The highest offset a getUpdates call has confirmed: updates below it are acknowledged.
    confirmed_offset: int = 0
    first_update_id: int = 1000
    # method -> how many of its next calls fail with 502, as when Telegram has a bad moment.
    failures: dict[str, int] = field(default_factory=dict)
    # method -> the one answer its next call gets instead of its own (a proxy's page, an answer
    # missing its result), as from a Bot API server that misbehaves.
    odd_answers: dict[str, web.Response] = field(default_factory=dict)
    rate_limit: int | None = None  # messages per second before 429 Too Many Requests
    chat_rate_limit: int | None = None  # messages per second to one chat, likewise
    too_many: int = 0  # 429s answered
    stall_after: int | None = None  # successful sends before sends hang
    send_delay: float = 0.0  # seconds each send takes, as over a real network
    # Files residents sent, by file_id, that getFile and the file download serve.
    files: dict[str, bytes] = field(default_factory=dict)
    downloads: int = 0  # files served
    # chat -> (until when, on the monotonic clock; retry_after): every send to that chat is
    # answered 429 until then, as Telegram does to a chat it has limited.
    throttled: dict[int, tuple[float, int]] = field(default_factory=dict)
    # The menus setMyCommands set: (scope type, its chat_id, language_code) -> the commands.
    menus: dict[tuple[str, int | None, str | None], list[dict[str, str]]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        self._update_ids = itertools.count(self.first_update_id)
        self._message_ids = itertools.count(1)
        self._updates_arrived = asyncio.Condition()
        self._offset_moved = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._recent_sends: deque[float] = deque()
        self._recent_by_chat: dict[int, deque[float]] = {}
        self._sends_done = 0
        self.stalled = asyncio.Event()  # set once a send hangs (stall_after reached)
        self._sent = asyncio.Condition()
        self._never = asyncio.Event()
        self.port = 0

    # --- server life -------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        # Wake any getUpdates still waiting, so that the server can close at once.
        async with self._updates_arrived:
            self._updates_arrived.notify_all()
        self._never.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL is set to: requests go to {base}{token}/{method}."""
        return f"http://127.0.0.1:{self.port}/bot"

    # --- what tests use ----------------------------------------------------------------

    def number_updates_from(self, first: int) -> None:
        self._update_ids = itertools.count(first)

    def next_update_id(self) -> int:
        return next(self._update_ids)

    async def push(self, update: dict[str, Any]) -> None:
        async with self._updates_arrived:
            self.pending.append(update)
            self._updates_arrived.notify_all()

    async def wait_confirmed(self, update_id: int) -> None:
        """Wait until the bot asked for updates past this one, i.e. it has handled it."""
        async with asyncio.timeout(ACK_WAIT), self._offset_moved:
            await self._offset_moved.wait_for(lambda: self.confirmed_offset > update_id)

    def called(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def toasts(self) -> list[str]:
        """The texts shown to pressers: answerCallbackQuery calls taken with a text (a
        toast, not a chat message), in order."""
        return [
            c.params["text"]
            for c in self.called("answerCallbackQuery")
            if c.ok and c.params.get("text")
        ]

    def messages_to(self, chat_id: int) -> list[Call]:
        return [c for c in self.called("sendMessage") if int(c.params["chat_id"]) == chat_id]

    async def wait_for_sends(self, done: Callable[[], bool]) -> None:
        """Wait until `done()` holds, looking again after every successful send."""
        async with asyncio.timeout(ACK_WAIT * 2), self._sent:
            await self._sent.wait_for(done)

    def delivered(self, since: int = 0) -> list[Call]:
        """Every message, photo and document the bot sent successfully, in order, from the
        call numbered `since` (len(calls) at some earlier moment)."""
        return [c for c in self.calls[since:] if c.method in SEND_METHODS and c.ok]

    def delivered_to(self, chat_id: int, since: int = 0) -> list[Call]:
        return [c for c in self.delivered(since) if int(c.params["chat_id"]) == chat_id]

    # --- the API -------------------------------------------------------------------------

    async def webhook_response(self, body: Any) -> None:
        """What the bot answered a webhook with: a Bot API call if it names a method, made
        as Telegram makes it (its outcome told to nobody), recorded with `in_response`."""
        if isinstance(body, dict) and "method" in body:
            params = {name: value for name, value in body.items() if name != "method"}
            await self._take(str(body["method"]), params, in_response=True)

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        return await self._take(request.match_info["method"], await _params(request))

    async def _take(
        self, method: str, params: dict[str, Any], in_response: bool = False
    ) -> web.Response:
        call = Call(method, params, in_response=in_response)
        self.calls.append(call)
        if self.failures.get(method, 0) > 0:
            self.failures[method] -= 1
            return _error(502, "Bad Gateway")
        if method in self.odd_answers:
            return self.odd_answers.pop(method)
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return _error(404, f"Not Found: method {method} is not faked")
        if method in SEND_METHODS:
            if self.stall_after is not None and self._sends_done >= self.stall_after:
                self.stalled.set()
                await self._never.wait()  # until the server stops
            if self._over_rate() or self._over_chat_rate(params):
                self.too_many += 1
                return _error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            limited = self._throttled(params)
            if limited is not None:
                self.too_many += 1
                return _error(
                    429, f"Too Many Requests: retry after {limited}", {"retry_after": limited}
                )
        if method in SEND_METHODS and self.send_delay:
            await asyncio.sleep(self.send_delay)
        response = await handler(params)
        call.ok = response.status == 200
        if call.ok and method in SEND_METHODS:
            self._sends_done += 1
            async with self._sent:
                self._sent.notify_all()
        return response

    def throttle(self, chat_id: int, retry_after: int, seconds: float) -> None:
        """Answer every send to this chat 429 (retry_after) for the next `seconds`."""
        self.throttled[chat_id] = (time.monotonic() + seconds, retry_after)

    def _throttled(self, params: dict[str, Any]) -> int | None:
        """The retry_after of a chat still limited by `throttle`, else None."""
        until, retry_after = self.throttled.get(int(params.get("chat_id", 0)), (0.0, 0))
        return retry_after if time.monotonic() < until else None

    def _over_rate(self) -> bool:
        """Telegram's broadcast limit: more than `rate_limit` messages in the last second."""
        return _over(self._recent_sends, self.rate_limit)

    def _over_chat_rate(self, params: dict[str, Any]) -> bool:
        """Telegram's limit in one chat: more than `chat_rate_limit` in the last second."""
        recent = self._recent_by_chat.setdefault(int(params.get("chat_id", 0)), deque())
        return _over(recent, self.chat_rate_limit)

    async def _getMe(self, _params: dict[str, Any]) -> web.Response:
        return _ok(BOT_USER)

    async def _sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat_id = int(params["chat_id"])
        text = str(params.get("text", ""))
        if chat_id in self.blocked_chats:
            return _error(403, "Forbidden: bot was blocked by the user")
        markup = params.get("reply_markup")
        refused = refusal_of_message(text, markup)
        if refused is not None:
            return _error(400, refused)
        return _ok(sent_message(next(self._message_ids), chat_id, text, markup))

    async def _sendPhoto(self, params: dict[str, Any]) -> web.Response:
        return self._send_file(params, "photo")

    async def _sendDocument(self, params: dict[str, Any]) -> web.Response:
        return self._send_file(params, "document")

    def _send_file(self, params: dict[str, Any], kind: str) -> web.Response:
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked_chats:
            return _error(403, "Forbidden: bot was blocked by the user")
        upload = params.get(kind)
        if not isinstance(upload, dict) or not upload.get("content"):
            return _error(400, f"Bad Request: there is no {kind} in the request")
        if len(str(params.get("caption", ""))) > CAPTION_LIMIT:
            return _error(400, "Bad Request: message caption is too long")
        file = {"file_id": f"f{chat_id}", "file_unique_id": f"u{chat_id}"}
        content = (
            {"photo": [{**file, "width": 800, "height": 600}]}
            if kind == "photo"
            else {"document": {**file, "file_name": upload["filename"]}}
        )
        return _ok(
            {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
                "caption": params.get("caption", ""),
                **content,
            }
        )

    def add_file(self, content: bytes) -> str:
        """A file a resident sent, as Telegram keeps it; its file_id."""
        file_id = f"file{len(self.files) + 1}"
        self.files[file_id] = content
        return file_id

    async def _getFile(self, params: dict[str, Any]) -> web.Response:
        file_id = str(params.get("file_id", ""))
        content = self.files.get(file_id)
        if content is None:
            return _error(400, "Bad Request: invalid file_id")
        if len(content) > FILE_LIMIT:
            return _error(400, "Bad Request: file is too big")
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": len(content),
                "file_path": f"photos/{file_id}.jpg",
            }
        )

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1].removesuffix(".jpg")
        content = self.files.get(file_id)
        if content is None:
            return web.Response(status=404)
        self.downloads += 1
        return web.Response(body=content, content_type="application/octet-stream")

    async def _editMessageReplyMarkup(self, _params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:
        if len(str(params.get("text", ""))) > TOAST_LIMIT:
            return _error(400, "Bad Request: MESSAGE_TOO_LONG")
        return _ok(True)

    async def _setMyCommands(self, params: dict[str, Any]) -> web.Response:
        commands = params["commands"]
        if len(commands) > MENU_LIMIT:
            return _error(400, "Bad Request: too many commands specified")
        for command in commands:
            name, description = command["command"], command["description"]
            if not (1 <= len(name) <= 32 and name == name.lower() and 1 <= len(description) <= 256):
                return _error(400, "Bad Request: BOT_COMMAND_INVALID")
        scope = params.get("scope") or {"type": "default"}
        chat_id = scope.get("chat_id")
        key = (str(scope["type"]), None if chat_id is None else int(chat_id))
        self.menus[(*key, params.get("language_code"))] = list(commands)
        return _ok(True)

    def menu_of(self, chat_id: int, language: str | None = None) -> list[str]:
        """The commands a private chat's menu shows: its own menu, else all private chats',
        else the default one, each in the user's language first, then for any language
        (Telegram's order of scopes)."""
        for scope in (("chat", chat_id), ("all_private_chats", None), ("default", None)):
            for code in (language, None):
                found = self.menus.get((*scope, code))
                if found is not None:
                    return [command["command"] for command in found]
        return []

    async def _setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook_url = params["url"]
        self.webhook_secret = params.get("secret_token")
        return _ok(True)

    async def _deleteWebhook(self, _params: dict[str, Any]) -> web.Response:
        self.webhook_url = None
        return _ok(True)

    async def _getUpdates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook_url:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        async with self._offset_moved:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self._offset_moved.notify_all()
        wait = min(float(params.get("timeout") or 0), MAX_POLL_WAIT)
        async with self._updates_arrived:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
            if not self.pending and wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._updates_arrived.wait(), wait)
            return _ok(list(self.pending))


def _over(recent: deque[float], limit: int | None) -> bool:
    """Whether one more message would pass `limit` in the last second (else count it)."""
    if limit is None:
        return False
    now = time.monotonic()
    while recent and recent[0] <= now - 1.0:
        recent.popleft()
    if len(recent) >= limit:
        return True
    recent.append(now)
    return False


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        return dict(await request.json())
    form = await request.post() if request.can_read_body else request.query
    params: dict[str, Any] = {}
    for name, value in form.items():
        if isinstance(value, web.FileField):  # an upload: a photo, a document
            params[name] = {"filename": value.filename, "content": value.file.read()}
            continue
        if not isinstance(value, str) or name in STRING_FIELDS:
            params[name] = value
            continue
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    return params


def sent_message(message_id: int, chat_id: int, text: str, markup: Any) -> dict[str, Any]:
    """The Message a sendMessage returns. Shared with bench/light_telegram.py."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private"},
        "from": BOT_USER,
        "text": text,
    }
    if markup:
        message["reply_markup"] = markup
    return message


def refusal_of_message(text: str, markup: Any) -> str | None:
    """Why Telegram answers a sendMessage 400 (an empty or too long text, a button's data
    over 64 bytes); None if it takes it. Shared with bench/light_telegram.py."""
    if not text.strip():
        return "Bad Request: message text is empty"
    if len(text) > TEXT_LIMIT:
        return "Bad Request: message is too long"
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            if len(button.get("callback_data", "").encode()) > CALLBACK_DATA_LIMIT:
                return "Bad Request: BUTTON_DATA_INVALID"
    return None


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)
