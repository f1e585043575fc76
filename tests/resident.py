"""A simulated Telegram resident: builds the updates Telegram would send and reads the bot's
answers from the fake Bot API server."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from tests.fake_telegram import FakeTelegram

# A reply that is only a message key means a translation is missing.
RAW_KEY = re.compile(r"^[a-z_]+\.[a-z_.]+$")

Deliver = Callable[[dict[str, Any]], Awaitable[None]]


def webhook_delivery(base_url: str, secret: str, telegram: FakeTelegram) -> Deliver:
    """Updates posted as Telegram posts them; a Bot API call in the response is made, as
    Telegram makes it."""

    async def deliver(update: dict[str, Any]) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{base_url}/telegram/webhook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": secret},
            ) as response,
        ):
            assert response.status == 200, await response.text()
            await telegram.webhook_response(await response.json())

    return deliver


def polling_delivery(telegram: FakeTelegram) -> Deliver:
    async def deliver(update: dict[str, Any]) -> None:
        await telegram.push(update)
        await telegram.wait_confirmed(update["update_id"])

    return deliver


class Resident:
    def __init__(
        self,
        telegram: FakeTelegram,
        deliver: Deliver,
        user_id: int,
        language_code: str | None = "ky",
    ) -> None:
        self.telegram = telegram
        self.deliver = deliver
        self.user_id = user_id
        self.language_code = language_code
        self.last_update: dict[str, Any] = {}

    # --- what the resident does ---------------------------------------------------------

    async def send(self, text: str) -> list[str]:
        update = self.text_update(text)
        self.last_update = update
        return await self._send_update(update)

    def text_update(self, text: str) -> dict[str, Any]:
        """The update Telegram would send for this text, with a new update_id; not sent."""
        message: dict[str, Any] = self._message(text=text)
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"update_id": self.telegram.next_update_id(), "message": message}

    async def send_media(self, kind: str) -> list[str]:
        """A sticker, photo, voice note or location."""
        kinds: dict[str, dict[str, Any]] = {
            "sticker": {
                "sticker": {
                    "file_id": "s1",
                    "file_unique_id": "s1u",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                }
            },
            "photo": {
                "photo": [{"file_id": "p1", "file_unique_id": "p1u", "width": 90, "height": 90}]
            },
            "voice": {"voice": {"file_id": "v1", "file_unique_id": "v1u", "duration": 3}},
            "location": {"location": {"latitude": 41.43, "longitude": 75.99}},
        }
        return await self._update({"message": self._message(**kinds[kind])})

    async def send_photo(
        self, content: bytes, caption: str | None = None, size: int | None = None
    ) -> list[str]:
        """A photo as Telegram delivers it: a thumbnail and the full size (the fake serves
        the bytes for both); `size` overrides the file_size Telegram states."""
        file_id = self.telegram.add_file(content)
        stated = len(content) if size is None else size
        sizes = [
            {"file_id": file_id, "file_unique_id": "t" + file_id, "width": 90, "height": 90,
             "file_size": min(stated, 2000)},
            {"file_id": file_id, "file_unique_id": "f" + file_id, "width": 1280,
             "height": 960, "file_size": stated},
        ]  # fmt: skip
        extra = {"caption": caption} if caption is not None else {}
        return await self._update({"message": self._message(photo=sizes, **extra)})

    async def send_document(self, content: bytes, name: str, mime: str) -> list[str]:
        """A file sent as a document (Telegram's "send as file")."""
        file_id = self.telegram.add_file(content)
        document = {"file_id": file_id, "file_unique_id": "d" + file_id, "file_name": name,
                    "mime_type": mime, "file_size": len(content)}  # fmt: skip
        return await self._update({"message": self._message(document=document)})

    async def send_location(self, latitude: float, longitude: float) -> list[str]:
        location = {"latitude": latitude, "longitude": longitude}
        return await self._update({"message": self._message(location=location)})

    async def press(self, label: str) -> list[str]:
        """Press the button with this label on the newest message that has buttons."""
        markup_message = self.newest_keyboard()
        for row in markup_message["reply_markup"]["inline_keyboard"]:
            for button in row:
                if button["text"] == label:
                    return await self.press_data(button["callback_data"], markup_message)
        raise AssertionError(f"no button {label!r} in {self.buttons()}")

    async def press_data(self, data: str, message: dict[str, Any] | None = None) -> list[str]:
        query = {
            "id": f"cb{time.monotonic_ns()}",
            "from": self._user(),
            "chat_instance": "ci1",
            "data": data,
            "message": message
            or {"message_id": 1, "date": int(time.time()), "chat": self._chat(), "text": "old"},
        }
        return await self._update({"callback_query": query})

    async def leave_wish(self, kind: str, category: str, text: str) -> list[str]:
        """/change or /great, a category by its label, then the text; the last replies."""
        await self.send(f"/{kind}")
        await self.press(category)
        return await self.send(text)

    async def redeliver(self) -> list[str]:
        """Telegram sends the same update again (it did not see our answer in time)."""
        return await self._send_update(self.last_update)

    # --- what the resident sees ----------------------------------------------------------

    def sent_messages(self) -> list[dict[str, Any]]:
        return [call.params for call in self.telegram.messages_to(self.user_id)]

    def newest_keyboard(self) -> dict[str, Any]:
        for index, params in reversed(list(enumerate(self.sent_messages()))):
            if params.get("reply_markup"):
                return {
                    "message_id": index + 1,
                    "date": int(time.time()),
                    "chat": self._chat(),
                    "text": params["text"],
                    "reply_markup": params["reply_markup"],
                }
        raise AssertionError("the bot sent no buttons")

    def buttons(self) -> list[str]:
        markup = self.newest_keyboard()["reply_markup"]
        return [button["text"] for row in markup["inline_keyboard"] for button in row]

    # --- building updates ----------------------------------------------------------------

    async def _update(self, body: dict[str, Any]) -> list[str]:
        update = {"update_id": self.telegram.next_update_id(), **body}
        self.last_update = update
        return await self._send_update(update)

    async def _send_update(self, update: dict[str, Any]) -> list[str]:
        before = len(self.sent_messages())
        await self.deliver(update)
        texts = [params["text"] for params in self.sent_messages()[before:]]
        for text in texts:
            assert not RAW_KEY.match(text), f"untranslated message key sent: {text}"
            assert "Traceback" not in text
        return texts

    def _user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": "Aibek"}
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def _chat(self) -> dict[str, Any]:
        return {"id": self.user_id, "type": "private", "first_name": "Aibek"}

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "message_id": self.telegram.next_update_id(),
            "date": int(time.time()),
            "chat": self._chat(),
            "from": self._user(),
            **content,
        }
