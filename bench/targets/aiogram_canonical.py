"""aiogram 3's canonical design of the same flow, as its documentation builds a bot: a Router
with FSM states kept in MemoryStorage, its aiohttp webhook handler (SimpleRequestHandler), and
the wish stored with SQLAlchemy on the same engine and settings as ours.

    python bench/targets/aiogram_canonical.py --port P --database-url URL --api-base URL --token T
"""

from __future__ import annotations

import asyncio
import sys
from argparse import Namespace
from pathlib import Path

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.targets.common import arguments, create_table
from storage.db import Database

CATEGORIES = ("drinking_water", "roads", "street_lighting", "garbage")


class Wish(StatesGroup):
    language = State()
    category = State()
    text = State()


def keyboard(values: tuple[str, ...]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=v, callback_data=v)] for v in values]
    )


def router_for(db: Database) -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(Wish.language)
        await message.answer("Тилди тандаңыз", reply_markup=keyboard(("ky", "ru")))

    @router.callback_query(Wish.language)
    async def language(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.update_data(language=query.data)
        await state.set_state(None)
        assert query.message is not None
        await query.message.answer("Тил сакталды. /change")

    @router.message(Command("change"))
    async def change(message: Message, state: FSMContext) -> None:
        await state.set_state(Wish.category)
        await message.answer("Категорияны тандаңыз", reply_markup=keyboard(CATEGORIES))

    @router.callback_query(Wish.category)
    async def category(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.update_data(category=query.data)
        await state.set_state(Wish.text)
        assert query.message is not None
        await query.message.answer("Жазыңыз")

    @router.message(Wish.text, F.text)
    async def wish_text(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        async with db.session() as session, session.begin():
            await session.execute(
                text("INSERT INTO bench_wishes (chat_id, category, body) VALUES (:c, :k, :b)"),
                {"c": message.chat.id, "k": data.get("category"), "b": message.text},
            )
        await state.clear()
        await message.answer("Рахмат! Сакталды.")

    return router


async def serve(args: Namespace) -> None:
    db = Database(args.database_url)
    await create_table(db, "bench_wishes", "chat_id BIGINT, category TEXT, body TEXT")
    server = TelegramAPIServer.from_base(args.api_base.removesuffix("/bot"))
    bot = Bot(args.token, session=AiohttpSession(api=server))
    dispatcher = Dispatcher(storage=MemoryStorage())
    dispatcher.include_router(router_for(db))
    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot).register(app, path="/telegram/webhook")
    setup_application(app, dispatcher, bot=bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    await asyncio.Event().wait()  # until the bench stops this process


if __name__ == "__main__":
    asyncio.run(serve(arguments()))
