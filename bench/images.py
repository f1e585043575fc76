"""What pictures cost the server's memory (issue 25): eight senders at once, each sending a
small image that claims a huge picture, while other residents write ordinary wishes.

Each scenario runs `civicbot serve` afresh (its own process, a fresh SQLite file, webhook
mode) against the fake Bot API on 127.0.0.1, which serves getFile and the file download:

- text: the baseline — the eight send one plain text wish each, no image;
- strangers: the eight never onboarded, each sending a 6324 × 6324 RGBA PNG of zeros (155 KB,
  650 MB to decode) as a document;
- onboarded: the same, from eight who chose their place first (the look before fetching
  lets them through: the image limits are what protect);
- largest: eight onboarded senders each sending one of the largest images that are taken
  (decoded and kept): PNG, WebP, a 50 MP phone JPEG, a progressive JPEG, in turn.

Meanwhile OTHERS residents go through the whole wish flow (/start m-KEY, language, /change,
a topic, the text). Prints each scenario's peak RSS (the process's VmHWM), the files the
fake served, and whether everyone was answered.

    .venv/bin/python bench/images.py [--others 16] [--senders 8] [--scenarios text,...]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import (
    SECRET,
    STEP_TIMEOUT,
    STEPS,
    button_update,
    free_port,
    message_update,
    peak_rss_mb,
    start_process,
)
from bot.channels import images
from tests.fake_telegram import FakeTelegram
from tests.test_photos import png_claiming
from tests.test_photos_limits import BOMB_SIDE, encoded, png_of_zeros

SCENARIOS = ("text", "strangers", "onboarded", "largest")
WISH = "Көчөдө жарык жок, кечинде караңгы."


class BenchTelegram(FakeTelegram):
    """The tests' fake Bot API (it serves getFile and the file download), also handing each
    chat's messages to whoever waits for them."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.inbox: dict[int, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)

    async def _sendMessage(self, params: dict[str, Any]) -> web.Response:
        response = await super()._sendMessage(params)
        if response.status == 200:
            self.inbox[int(params["chat_id"])].put_nowait(params)
        return response


def largest_square_png(mode: str) -> int:
    """The side of the largest square PNG in `mode` that bot/channels/images.py decodes."""
    side = int(images.MAX_FULL_PIXELS**0.5)
    while images.decode_cost(Image.open(io.BytesIO(png_claiming(side, side, mode)))) > (
        images.DECODE_BUDGET
    ):
        side -= 2
    return side


def largest_square_webp() -> tuple[int, bytes]:
    for side in range(2048, 0, -16):
        webp = encoded(Image.new("RGB", (side, side), "grey"), "WEBP", quality=80)
        if images.decode_cost(Image.open(io.BytesIO(webp))) <= images.DECODE_BUDGET:
            return side, webp
    raise AssertionError("no WebP is taken")


def largest_taken() -> list[tuple[str, bytes]]:
    """The largest images of each kind that are decoded and kept (plain colours: small files
    for many pixels)."""
    rgb, rgba = largest_square_png("RGB"), largest_square_png("RGBA")
    side, webp = largest_square_webp()
    return [
        (f"PNG {rgb}×{rgb} RGB", encoded(Image.new("RGB", (rgb, rgb), "grey"), "PNG")),
        (f"PNG {rgba}×{rgba} RGBA", encoded(Image.new("RGBA", (rgba, rgba)), "PNG")),
        (f"WebP {side}×{side}", webp),
        ("JPEG 8160×6120 (50 MP)", encoded(Image.new("RGB", (8160, 6120), "grey"), "JPEG")),
        (
            "progressive JPEG 4000×3000",
            encoded(Image.new("RGB", (4000, 3000), "grey"), "JPEG", progressive=True),
        ),
    ]


def document_update(chat: int, file_id: str, size: int) -> dict[str, Any]:
    update = message_update(chat, "")
    message = update["message"]
    del message["text"]
    message["document"] = {
        "file_id": file_id,
        "file_unique_id": "u" + file_id,
        "file_name": "zeros.png",
        "mime_type": "image/png",
        "file_size": size,
    }
    return update


@dataclass
class Outcome:
    name: str
    peak_mb: float = 0.0
    seconds: float = 0.0
    downloads: int = 0
    senders_answered: int = 0
    others_answered: int = 0


class Run:
    def __init__(self, telegram: BenchTelegram, http: aiohttp.ClientSession, url: str) -> None:
        self.telegram, self.http, self.url = telegram, http, url

    async def post(self, update: dict[str, Any]) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with self.http.post(self.url, json=update, headers=headers) as response:
            await response.read()
            return response.status

    async def step(self, chat: int, update: dict[str, Any]) -> list[dict[str, Any]]:
        """Post one update; the messages that answered it (none: unanswered)."""
        inbox = self.telegram.inbox[chat]
        if await self.post(update) != 200:
            return []
        try:
            answers = [await asyncio.wait_for(inbox.get(), STEP_TIMEOUT)]
        except TimeoutError:
            return []
        while not inbox.empty():
            answers.append(inbox.get_nowait())
        return answers

    async def flow(self, chat: int, steps: tuple[tuple[str, str], ...] = STEPS) -> bool:
        """The wish flow (or its first steps); whether every step was answered."""
        shown: dict[str, Any] | None = None
        for kind, text in steps:
            update = message_update(chat, text) if kind == "text" else button_update(chat, shown)
            answers = await self.step(chat, update)
            if not answers:
                return False
            keyboards = [a for a in answers if a.get("reply_markup")]
            shown = keyboards[-1] if keyboards else shown
        return True


async def serve(
    database_url: str, telegram: BenchTelegram, work: Path
) -> tuple[int, asyncio.subprocess.Process]:
    """`civicbot serve` on a free port (again on another, should the machine take the one
    picked before it listens)."""
    for attempt in range(3):
        port = free_port()
        telegram.webhook_url = None
        try:
            return port, await start_process("ours", port, database_url, telegram, work)
        except SystemExit:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def scenario(
    name: str,
    pictures: list[bytes],
    args: argparse.Namespace,
    telegram: BenchTelegram,
    work: Path,
    first_chat: int,
) -> Outcome:
    """One scenario in a fresh server; the senders send `pictures` in turn (none: a text
    wish each)."""
    database_url = f"sqlite+aiosqlite:///{work / name}.db"
    port, process = await serve(database_url, telegram, work)
    senders = range(first_chat, first_chat + args.senders)
    others = range(first_chat + 1000, first_chat + 1000 + args.others)
    result = Outcome(name)
    try:
        async with aiohttp.ClientSession() as http:
            run = Run(telegram, http, f"http://127.0.0.1:{port}/telegram/webhook")
            if name in ("onboarded", "largest"):
                await asyncio.gather(*(run.flow(chat, STEPS[:2]) for chat in senders))
            downloads, started = telegram.downloads, time.perf_counter()

            async def send(chat: int) -> bool:
                if not pictures:
                    return bool(await run.step(chat, message_update(chat, WISH)))
                picture = pictures[chat % len(pictures)]
                file_id = telegram.add_file(picture)
                return bool(await run.step(chat, document_update(chat, file_id, len(picture))))

            answered = await asyncio.gather(
                *(send(chat) for chat in senders), *(run.flow(chat) for chat in others)
            )
            result.seconds = time.perf_counter() - started
            result.downloads = telegram.downloads - downloads
            result.senders_answered = sum(answered[: args.senders])
            result.others_answered = sum(answered[args.senders :])
    finally:
        result.peak_mb = peak_rss_mb(process.pid)
        process.terminate()
        await process.wait()
    return result


async def main(args: argparse.Namespace) -> None:
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    bomb = png_of_zeros(BOMB_SIDE, BOMB_SIDE)
    largest = largest_taken() if "largest" in wanted else []
    pictures = {"strangers": [bomb], "onboarded": [bomb], "largest": [i for _, i in largest]}
    telegram = BenchTelegram()
    await telegram.start()
    results = []
    try:
        with tempfile.TemporaryDirectory() as directory:
            for number, name in enumerate(wanted):
                first_chat = 100_000 * (number + 1)
                sent = pictures.get(name, [])
                results.append(
                    await scenario(name, sent, args, telegram, Path(directory), first_chat)
                )
                telegram.calls.clear()
    finally:
        await telegram.stop()
    print(
        f"{args.senders} senders at once, {args.others} other residents through the wish flow; "
        f"{os.cpu_count()} CPUs. The bomb: {BOMB_SIDE}×{BOMB_SIDE} RGBA PNG of zeros, "
        f"{len(bomb) // 1024} KB."
    )
    if largest:
        print("The largest taken: " + "; ".join(f"{n}, {len(i) // 1024} KB" for n, i in largest))
    head = f"{'scenario':<11}{'peak MB':>8}{'÷ text':>8}{'fetched':>8}{'senders':>9}{'others':>8}"
    print(head + f"{'seconds':>9}")
    baseline = next((r.peak_mb for r in results if r.name == "text"), None)
    for r in results:
        ratio = f"{r.peak_mb / baseline:.2f}" if baseline else "-"
        print(
            f"{r.name:<11}{r.peak_mb:>8.0f}{ratio:>8}{r.downloads:>8}"
            f"{f'{r.senders_answered}/{args.senders}':>9}{f'{r.others_answered}/{args.others}':>8}"
            f"{r.seconds:>9.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--others", type=int, default=16)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    asyncio.run(main(parser.parse_args()))
