"""The harness's own ceiling, not a bot: per update one sendMessage and a 200, nothing kept,
on the bench's light HTTP (bench/light_http.py) at both ends. What bench/ingest.py measures
with it is what the load generator and the fake Bot API can carry on this machine; a target
measured well below that is measured, not the harness.

    python bench/targets/echo.py --port P --database-url URL --api-base URL --token T
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.light_http import Pool, Reply, Request, request_head, serve
from bench.targets.common import arguments
from bench.targets.floor import row_of


async def main() -> None:
    args = arguments()
    api = urlsplit(args.api_base)
    assert api.port is not None
    pool = Pool([api.port], limit=256)
    path = f"{api.path}{args.token}/sendMessage"
    head = request_head("POST", path, api.port, {"Content-Type": "application/json"})

    async def webhook(request: Request) -> Reply:
        chat, _text = row_of(json.loads(request.body))
        await pool.exchange(head, json.dumps({"chat_id": chat, "text": "ok"}).encode())
        return 200, b'{"ok":true}'

    await serve(webhook, args.port)
    await asyncio.Event().wait()  # until the bench stops this process


if __name__ == "__main__":
    asyncio.run(main())
