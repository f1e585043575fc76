"""Telegram through the Bot API: webhook or long polling, buttons, photos."""
