"""A local fake of SMS Gateway for Android: its "send a message" API (POST /messages, basic
auth, as the app's cloud and local servers answer it) on 127.0.0.1, and its webhooks, signed
as the app signs them, posted to the bot."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

LOGIN, PASSWORD = "gateway-user", "gateway-password-not-real"
SIGNING_KEY = "test-signing-key-not-real"
DEVICE = "ffffffffceb0b1db0000018e937c815b"

_ids = itertools.count(1)


def android_settings(api_base_url: str) -> dict[str, Any]:
    return {
        "sms_provider": "android",
        "android_gateway_url": api_base_url,
        "android_gateway_login": LOGIN,
        "android_gateway_password": PASSWORD,
        "android_gateway_signing_key": SIGNING_KEY,
        "android_gateway_device": DEVICE,
        "android_gateway_sim": 1,
    }


@dataclass
class FakeGateway:
    sent: list[dict[str, Any]] = field(default_factory=list)
    # Answers to give before succeeding: HTTP statuses (the phone away: 503).
    failures: list[int] = field(default_factory=list)
    attempts: int = 0

    async def start(self) -> None:
        self._taken = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/messages", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def wait_for(self, done: Callable[[list[dict[str, Any]]], bool]) -> None:
        async with asyncio.timeout(10), self._taken:
            await self._taken.wait_for(lambda: done(self.sent))

    def texts_to(self, number: str) -> list[str]:
        return [m["textMessage"]["text"] for m in self.sent if m["phoneNumbers"] == [number]]

    async def _send(self, request: web.Request) -> web.Response:
        self.attempts += 1
        auth = aiohttp.BasicAuth.decode(request.headers.get("Authorization", ""))
        if (auth.login, auth.password) != (LOGIN, PASSWORD):
            return web.json_response({"message": "unauthorized"}, status=401)
        if self.failures:
            return web.json_response({"message": "device offline"}, status=self.failures.pop(0))
        message = await request.json()
        message_id = message.get("id") or f"msg{next(_ids):08d}"
        self.sent.append({**message, "id": message_id})
        async with self._taken:
            self._taken.notify_all()
        recipients = [{"phoneNumber": n, "state": "Pending"} for n in message["phoneNumbers"]]
        return web.json_response(
            {
                "id": message_id,
                "state": "Pending",
                "recipients": recipients,
                "isHashed": False,
                "isEncrypted": False,
            },
            status=202,
        )


def signed(body: bytes, timestamp: int | None = None, key: str = SIGNING_KEY) -> dict[str, str]:
    moment = str(timestamp if timestamp is not None else int(time.time()))
    signature = hmac.new(key.encode(), body + moment.encode(), hashlib.sha256).hexdigest()
    return {"X-Signature": signature, "X-Timestamp": moment, "Content-Type": "application/json"}


def event_body(event: str, payload: dict[str, Any], device: str = DEVICE) -> bytes:
    return json.dumps(
        {
            "deviceId": device,
            "event": event,
            "id": f"ev{next(_ids)}",
            "payload": payload,
            "webhookId": "wh-received",
        },
        ensure_ascii=False,
    ).encode()


def received(number: str, text: str, message_id: str | None = None) -> bytes:
    """An sms:received event, as the app posts it (the time in the phone's zone)."""
    return event_body(
        "sms:received",
        {
            "messageId": message_id or f"m{next(_ids)}",
            "message": text,
            "phoneNumber": number,
            "simNumber": 1,
            "receivedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000+06:00"),
        },
    )


async def post_event(
    base_url: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base_url}/sms/android",
            data=body,
            headers=signed(body) if headers is None else headers,
        ) as response,
    ):
        return response.status, await response.text()
