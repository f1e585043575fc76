"""HTML pages, rendered on the server with Jinja2 (bot/web/templates): no client framework, no
script, a few kilobytes — readable on a cheap phone on a slow connection. Every value is
escaped (autoescape); the words come from the catalogues, in the visitor's language."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.runtime.i18n import Catalogues
from handlers.types import Text
from storage.domain import LANGUAGES

if TYPE_CHECKING:
    from jinja2 import Environment

LANGUAGE_NAMES = (("ky", "Кыргызча"), ("ru", "Русский"), ("en", "English"))


@cache
def environment() -> Environment:
    """Jinja2 and the templates, made at the first page served: a server that serves none
    (Telegram and SMS only) never loads it (docs/operations.md, "Footprint")."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def language_of(request: web.Request) -> str:
    """`?lang=`, else the browser's first language we have, else Kyrgyz."""
    asked = request.query.get("lang", "")
    if asked in LANGUAGES:
        return asked
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code in LANGUAGES:
            return code
    return "ky"


def render(
    catalogues: Catalogues,
    template: str,
    language: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> web.Response:
    def t(key: str, **named: Any) -> str:
        return catalogues.text(language, Text(key, named))

    page = (
        environment()
        .get_template(template)
        .render(lang=language, languages=LANGUAGE_NAMES, t=t, **values)
    )
    response = web.Response(
        text=page, content_type="text/html", charset="utf-8", status=status, headers=headers
    )
    response.enable_compression()  # gzip when the browser takes it: a slow line's friend
    return response
