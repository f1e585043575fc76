"""python-telegram-bot's canonical design of the same flow, as its own examples build a bot:
a ConversationHandler (start → language → /change → category → text) with PicklePersistence,
updates put on the Application's queue by a small aiohttp webhook (PTB's custom-webhook
example), and the wish stored with SQLAlchemy on the same engine and settings as ours.

    python bench/targets/ptb_canonical.py --port P --database-url URL --api-base URL --token T
"""

from __future__ import annotations

import asyncio
import json
import sys
from argparse import Namespace
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import text
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.targets.common import arguments, create_table
from storage.db import Database

LANGUAGE, CATEGORY, TEXT = range(3)
CATEGORIES = ("drinking_water", "roads", "street_lighting", "garbage")


def keyboard(values: tuple[str, ...]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(v, callback_data=v)] for v in values])


class Bot:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and context.user_data is not None
        context.user_data["place"] = (context.args or ["m-none"])[0]
        await update.message.reply_text("Тилди тандаңыз", reply_markup=keyboard(("ky", "ru")))
        return LANGUAGE

    async def language(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        query = update.callback_query
        assert query is not None and query.message is not None and context.user_data is not None
        await query.answer()
        context.user_data["language"] = query.data
        await context.bot.send_message(query.message.chat.id, "Тил сакталды. /change")
        return ConversationHandler.END

    async def change(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None
        await update.message.reply_text("Категорияны тандаңыз", reply_markup=keyboard(CATEGORIES))
        return CATEGORY

    async def category(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        query = update.callback_query
        assert query is not None and query.message is not None and context.user_data is not None
        await query.answer()
        context.user_data["category"] = query.data
        await context.bot.send_message(query.message.chat.id, "Жазыңыз")
        return TEXT

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and context.user_data is not None
        async with self.db.session() as session, session.begin():
            await session.execute(
                text("INSERT INTO bench_wishes (chat_id, category, body) VALUES (:c, :k, :b)"),
                {
                    "c": update.message.chat.id,
                    "k": context.user_data.get("category"),
                    "b": update.message.text,
                },
            )
        await update.message.reply_text("Рахмат! Сакталды.")
        return ConversationHandler.END


async def serve(args: Namespace) -> None:
    db = Database(args.database_url)
    await create_table(db, "bench_wishes", "chat_id BIGINT, category TEXT, body TEXT")
    bot = Bot(db)
    persistence: Any = PicklePersistence(filepath=args.pickle)
    application = (
        Application.builder()
        .token(args.token)
        .base_url(args.api_base)
        .persistence(persistence)
        .updater(None)
        .build()
    )
    application.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", bot.start), CommandHandler("change", bot.change)],
            states={
                LANGUAGE: [CallbackQueryHandler(bot.language)],
                CATEGORY: [CallbackQueryHandler(bot.category)],
                TEXT: [MessageHandler(filters.TEXT & ~filters.COMMAND, bot.text)],
            },
            fallbacks=[CommandHandler("change", bot.change)],
            name="wish",
            persistent=True,
        )
    )

    async def webhook(request: web.Request) -> web.Response:
        data = json.loads(await request.read())
        await application.update_queue.put(Update.de_json(data, application.bot))
        return web.Response()

    app = web.Application()
    app.router.add_post("/telegram/webhook", webhook)
    runner = web.AppRunner(app, access_log=None)
    async with application:
        await application.start()
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        await asyncio.Event().wait()  # until the bench stops this process


if __name__ == "__main__":
    asyncio.run(serve(arguments("--pickle")))
