"""Wiring: configuration, the command line, the web server, the channels, digests."""

import os

# python-telegram-bot 22 gives durations (a 429's retry_after) as timedelta when this is
# set, and warns on every use otherwise; our code takes either, so take the future now.
os.environ.setdefault("PTB_TIMEDELTA", "true")
