"""The designs bench/ingest.py measures ours against, each a small webhook server run as its
own process: the floor (bare aiohttp), python-telegram-bot's canonical design, aiogram 3's."""
