"""Telegram through python-telegram-bot: webhook or long polling, buttons, photos."""
