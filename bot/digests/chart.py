"""The digest's picture: wishes by category (what to change and what is great, stacked) and
bribe reports by service, as a small PNG drawn with Pillow; a campaign's tally uses the
wishes' panel alone.

A service with fewer than 3 reports gets no bar, only the words "fewer than 3", so that the
picture tells no more than the text does.

Drawn by hand rather than with matplotlib: a chart is a handful of bars and labels, and
matplotlib's general machinery (axes, ticks, text layout) took 170 ms a chart, most of a
national weekly run (bench/digests.py). The font is DejaVu Sans from bot/reports/fonts.
"""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING

from bot.digests.content import Digest
from bot.reports.bribe_stats import margin
from bot.reports.fonts import font as _font
from bot.reports.wording import Say, figure, sayer
from bot.runtime.i18n import Catalogues

# Pillow is imported where a chart is drawn: the server starts without it until the first
# digest or campaign tally (docs/operations.md, "Footprint").
if TYPE_CHECKING:
    from PIL import ImageDraw

COLOURS = {"change": "#d9822b", "great": "#2b8a3e", "bribes": "#5c4b8a"}
INK, FAINT, PAPER = "#222222", "#9a9a9a", "#ffffff"
LABEL_WIDTH = 28  # characters per line of a bar's label
WIDTH = 800  # pixels
MARGIN = 16
LABELS = 250  # pixels for the bars' labels, left of the bars
ROW = 34  # pixels per bar
BAR = 20


def draw(digest: Digest, catalogues: Catalogues, language: str) -> bytes | None:
    """The PNG, or None for a week with nothing to draw."""
    title = digest.municipality.name(language)
    return _picture(title, sayer(catalogues, language), _wish_rows(digest), digest.bribe_rows())


def draw_wishes(
    title: str, rows: list[tuple[str, int, int]], catalogues: Catalogues, language: str
) -> bytes | None:
    """Wishes alone, by (category, to change, great) in the order given (a campaign's
    tally); None when there are none."""
    return _picture(title, sayer(catalogues, language), rows, [])


def _picture(
    title: str,
    say: Say,
    categories: list[tuple[str, int, int]],
    services: list[tuple[int, list[int]]],
) -> bytes | None:
    if not categories and not services:
        return None
    from PIL import Image, ImageDraw

    panels = [rows for rows in (categories, services) if rows]
    height = 56 + sum(40 + ROW * len(rows) + 12 for rows in panels)
    image = Image.new("RGB", (WIDTH, height), PAPER)
    pen = ImageDraw.Draw(image)
    pen.text((MARGIN, 14), title, fill=INK, font=_font(20, True))
    top = 56
    if categories:
        top = _wishes_panel(pen, top, categories, say)
    if services:
        _bribes_panel(pen, top, services, say)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def _wish_rows(digest: Digest) -> list[tuple[str, int, int]]:
    """(category, to change, great) this week, the busiest first."""
    categories = {category for (_, category) in digest.wishes}
    rows = [(c, digest.wishes[("change", c)], digest.wishes[("great", c)]) for c in categories]
    return sorted(rows, key=lambda row: (-(row[1] + row[2]), row[0]))


def _label(text: str) -> str:
    """At most two lines; a longer name ends in "…"."""
    lines = textwrap.wrap(text, LABEL_WIDTH)
    return "\n".join(lines if len(lines) <= 2 else [lines[0], lines[1] + "…"])


def _wishes_panel(
    pen: ImageDraw.ImageDraw, top: int, rows: list[tuple[str, int, int]], say: Say
) -> int:
    pen.text((MARGIN, top), say("digest.chart_wishes"), fill=INK, font=_font(15, True))
    _legend(
        pen, top, [(say("kind.change"), COLOURS["change"]), (say("kind.great"), COLOURS["great"])]
    )
    scale = _scale(max(change + great for _, change, great in rows))
    y = top + 40
    for category, change, great in rows:
        _row_label(pen, y, say(f"category.{category}"))
        x = float(MARGIN + LABELS)
        for count, colour in ((change, COLOURS["change"]), (great, COLOURS["great"])):
            if count:
                pen.rectangle((x, y, x + count * scale, y + BAR), fill=colour)
                x += count * scale
        pen.text((x + 6, y + 2), str(change + great), fill=INK, font=_font(13))
        y += ROW
    return y + 12


def _bribes_panel(
    pen: ImageDraw.ImageDraw, top: int, services: list[tuple[int, list[int]]], say: Say
) -> int:
    """One bar per service, at the figure the text gives (a hidden 1 or 2 drawn as nothing,
    a total over one only as its lower bound): the picture tells no more than the text."""
    pen.text((MARGIN, top), say("digest.chart_bribes"), fill=INK, font=_font(15, True))
    figures = [margin(counts) for _, counts in services]
    lengths = [shown_as.value or 0 for shown_as in figures]
    scale = _scale(max(lengths))
    y = top + 40
    for (service, _), shown_as, drawn in zip(services, figures, lengths, strict=True):
        _row_label(pen, y, say(f"service.{service}"))
        x = MARGIN + LABELS
        if drawn:
            pen.rectangle((x, y, x + drawn * scale, y + BAR), fill=COLOURS["bribes"])
        words = figure(shown_as, say)
        pen.text(
            (x + drawn * scale + 6, y + 2), words, fill=INK if drawn else FAINT, font=_font(13)
        )
        y += ROW
    return y + 12


def _row_label(pen: ImageDraw.ImageDraw, y: int, text: str) -> None:
    label = _label(text)
    lines = label.count("\n") + 1
    pen.multiline_text(
        (MARGIN, y + BAR / 2 - 8 * lines), label, fill=INK, font=_font(12), spacing=2
    )


def _legend(pen: ImageDraw.ImageDraw, top: int, entries: list[tuple[str, str]]) -> None:
    x = WIDTH - MARGIN
    for text, colour in reversed(entries):
        x -= int(pen.textlength(text, font=_font(12)))
        pen.text((x, top + 3), text, fill=INK, font=_font(12))
        x -= 18
        pen.rectangle((x, top + 5, x + 12, top + 17), fill=colour)
        x -= 16


def _scale(largest: int) -> float:
    """Pixels per report or wish, so that the largest bar leaves room for its number."""
    return (WIDTH - 2 * MARGIN - LABELS - 90) / max(largest, 3)
