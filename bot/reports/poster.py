"""A street campaign's poster: an A4 page at 300 dpi (PNG, and the same page as a PDF) with
the QR code of the campaign's link, the two card captions in Kyrgyz and Russian, the
campaign's name, its municipality and days in each of the two (as the bot writes days:
handlers/dates.py), and the SMS form with the campaign's tag. QR by segno, the page by
Pillow, the letters (ө, ү, ң) by the DejaVu Sans in bot/reports/fonts."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.reports.fonts import font
from handlers.dates import span
from storage.domain import facts
from storage.models import Campaign

# Pillow and segno are imported where a poster is drawn: the server starts without them
# (docs/operations.md, "Footprint").
if TYPE_CHECKING:
    from PIL import Image, ImageDraw

DPI = 300
WIDTH, HEIGHT = 2480, 3508  # A4 at 300 dpi
MARGIN = 180
INK, ACCENT, PAPER = "#1d1d1b", "#b3261e", "#ffffff"
LANGUAGES = ("ky", "ru")  # of the poster: the two most residents read


@dataclass(frozen=True)
class Poster:
    link: str  # what the QR code carries
    lines: list[tuple[str, int, bool]]  # text, size in pixels, bold: top to bottom
    above: int  # how many of the lines go above the QR code

    def png(self) -> bytes:
        return encode(self.page(), "PNG")

    def page(self) -> Image.Image:
        from PIL import Image, ImageDraw

        page = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
        pen = ImageDraw.Draw(page)
        y = MARGIN
        for text, size, bold in self.lines[: self.above]:
            y = _centred(pen, text, size, bold, y)
        code = _qr(self.link, WIDTH - 2 * MARGIN - 400)
        page.paste(code, ((WIDTH - code.width) // 2, y + 40))
        y += code.height + 100
        for text, size, bold in self.lines[self.above :]:
            y = _centred(pen, text, size, bold, y)
        return page


def encode(page: Image.Image, kind: str) -> bytes:
    """The page as a PNG or a one-page PDF, both at 300 dpi (printed on A4 as drawn)."""
    buffer = io.BytesIO()
    if kind == "PDF":
        page.save(buffer, format="PDF", resolution=DPI)
    else:
        page.save(buffer, format="PNG", dpi=(DPI, DPI))
    return buffer.getvalue()


def make(campaign: Campaign, bot_username: str, sms_number: str | None) -> Poster:
    link = f"https://t.me/{bot_username}?start=c-{campaign.code}"
    captions = {entry["key"]: entry for entry in facts()["wish_kinds"]}
    change, great = captions["change"], captions["great"]
    place, first, last = campaign.municipality, campaign.starts_on, campaign.ends_on
    lines = [
        (f"{change['ky']}   {great['ky']}", 120, True),
        (f"{change['ru']}   {great['ru']}", 96, False),
        (campaign.name, 84, True),
        *((f"{place.name(lang)} · {span(first, last, lang)}", 64, False) for lang in LANGUAGES),
    ]
    above = len(lines)  # the captions, the name, the place and days
    lines += [
        ("Телефонуңуздун камерасы менен QR кодду окутуңуз", 56, False),
        ("Наведите камеру телефона на QR-код", 56, False),
        (link, 48, False),
    ]
    if sms_number:
        lines += [
            (f"SMS {sms_number}:", 72, True),
            (f"ӨЗГӨРТ #{campaign.code} <текст>   МЫКТЫ #{campaign.code} <текст>", 60, False),
            (f"ИЗМЕНИТЬ #{campaign.code} <текст>   ХОРОШО #{campaign.code} <текст>", 60, False),
        ]
    return Poster(link, lines, above)


def _centred(pen: ImageDraw.ImageDraw, text: str, size: int, bold: bool, y: int) -> int:
    """Draw a line centred (made smaller until it fits the page); the y below it."""
    while size > 24 and pen.textlength(text, font=font(size, bold)) > WIDTH - 2 * MARGIN:
        size -= 4
    face = font(size, bold)
    x = (WIDTH - pen.textlength(text, font=face)) / 2
    pen.text((x, y), text, fill=ACCENT if bold and size >= 100 else INK, font=face)
    return y + int(size * 1.45)


def _qr(link: str, width: int) -> Image.Image:
    import segno
    from PIL import Image

    code = segno.make(link, error="m")
    modules = code.symbol_size(scale=1, border=4)[0]
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=max(width // modules, 1), border=4)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")
