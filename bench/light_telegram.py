"""The fake Bot API as bench/ingest.py needs it, on bench/light_http.py: the methods a bot
calls at start and per update, answered as tests/fake_telegram.py answers them (the same bot
user, the same refusals of an empty or too long text or oversized button data), and each
chat's messages handed to whoever waits for them.

The tests' fake (aiohttp, every call recorded with its parameters) costs a few hundred
microseconds of CPU a call; sharing a process with the load generator, it was what the bench
measured. This one answers a call in a few tens; it counts calls by method, and answers a
method it does not fake 404 (bench/ingest.py names those).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

from bench.light_http import LightServer, Reply, Request
from tests.fake_telegram import BOT_USER, STRING_FIELDS, TOKEN, refusal_of_message, sent_message

OK_TRUE: Reply = (200, b'{"ok":true,"result":true}')
GET_ME: Reply = (200, json.dumps({"ok": True, "result": BOT_USER}).encode())
# Answered true and nothing else: what the bots here call besides getMe, setWebhook and
# sendMessage (at start, and per button press).
TRUE_METHODS = {
    "answerCallbackQuery",
    "editMessageReplyMarkup",
    "editMessageText",
    "setMyCommands",
    "deleteWebhook",
}


def error(code: int, description: str) -> Reply:
    body = {"ok": False, "error_code": code, "description": description}
    return code, json.dumps(body).encode()


def params_of(request: Request) -> dict[str, Any]:
    """A call's parameters: a JSON body, or a form whose fields are JSON where not strings
    (as python-telegram-bot and aiogram send them)."""
    if request.headers.get(b"content-type", b"").startswith(b"application/json"):
        return dict(json.loads(request.body))
    params: dict[str, Any] = {}
    for name, value in parse_qsl(request.body.decode()):
        if name in STRING_FIELDS:
            params[name] = value
            continue
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    return params


class LightTelegram(LightServer):
    def __init__(self, patience: float, token: str = TOKEN) -> None:
        self.patience = patience  # seconds `answers` waits for a chat's first message
        self.token = token
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.calls: Counter[str] = Counter()  # method -> calls (what the bots did)
        self.unknown: Counter[str] = Counter()  # methods not faked here: answered 404
        self._prefix = f"/bot{token}/".encode()
        self._message_ids = itertools.count(1)
        self._inbox: dict[int, list[dict[str, Any]]] = {}
        self._waiting: dict[int, asyncio.Future[None]] = {}

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL is set to: requests go to {base}{token}/{method}."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def answers(self, chat: int) -> list[dict[str, Any]]:
        """The messages sent to `chat` since last asked: at least one (waiting up to
        `patience` for it), or none if none came."""
        if chat not in self._inbox:
            arrived = asyncio.get_running_loop().create_future()
            self._waiting[chat] = arrived
            try:
                await asyncio.wait_for(arrived, self.patience)
            except TimeoutError:
                return []
            finally:
                self._waiting.pop(chat, None)
        return self._inbox.pop(chat, [])

    def webhook_response(self, body: bytes) -> None:
        """A bot's answer to a webhook: a Bot API call if it names a method, counted as
        "METHOD (webhook response)" (those the bots make there answer nothing here)."""
        if b'"method"' not in body:
            return
        try:
            call = json.loads(body)
        except ValueError:
            return
        if isinstance(call, dict) and "method" in call:
            self.calls[f"{call['method']} (webhook response)"] += 1

    def _handle(self, request: Request) -> Reply:
        if not request.target.startswith(self._prefix):
            return error(401, "Unauthorized")
        method = request.target[len(self._prefix) :].partition(b"?")[0].decode()
        self.calls[method] += 1
        if method == "sendMessage":
            return self._send_message(params_of(request))
        if method in TRUE_METHODS:
            if method == "deleteWebhook":
                self.webhook_url = None
            return OK_TRUE
        if method == "getMe":
            return GET_ME
        if method == "setWebhook":
            params = params_of(request)
            self.webhook_url = params["url"]
            self.webhook_secret = params.get("secret_token")
            return OK_TRUE
        self.unknown[method] += 1
        return error(404, f"Not Found: method {method} is not faked")

    def _send_message(self, params: dict[str, Any]) -> Reply:
        chat = int(params["chat_id"])
        text = str(params.get("text", ""))
        markup = params.get("reply_markup")
        refused = refusal_of_message(text, markup)
        if refused is not None:
            return error(400, refused)
        message = sent_message(next(self._message_ids), chat, text, markup)
        self._inbox.setdefault(chat, []).append(params)
        waiting = self._waiting.pop(chat, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)
        return 200, json.dumps({"ok": True, "result": message}).encode()
