"""Headers every response carries so that a browser holds our pages to what they are:
server-rendered HTML with no script, our own photos and inline styles, shown in no frame.

Pages get a Content-Security-Policy that allows nothing else (an injected script or a
foreign image is refused by the browser even if escaping ever failed); every response gets
nosniff, no framing and a same-origin Referrer-Policy. A header a handler set is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler

# The templates (bot/web/templates) have one <style> block, SVG bars with presentation
# attributes, photos from /media/ and forms that post to /try: nothing more is allowed.
PAGE_POLICY = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
OTHER_POLICY = "frame-ancestors 'none'"  # JSON, text, photos: only never framed
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:  # a 404 or 405 of the router's is a response too
        _add(error)
        raise
    _add(response)
    return response


def _add(response: web.StreamResponse) -> None:
    if response.prepared:  # streamed out already: too late for headers
        return
    headers = response.headers
    for name, value in ALWAYS.items():
        headers.setdefault(name, value)
    page = response.content_type == "text/html"
    headers.setdefault("Content-Security-Policy", PAGE_POLICY if page else OTHER_POLICY)
