"""The digest's picture: wishes by category (what to change and what is great, side by side)
and bribe reports by service, as a PNG drawn with matplotlib's Agg backend.

A service with fewer than 3 reports gets no bar, only the words "fewer than 3", so that the
picture tells no more than the text does."""

from __future__ import annotations

import io
import textwrap

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.bribe_stats import shown
from bot.digests.content import Digest
from bot.digests.text import Say, sayer
from bot.i18n import Catalogues

COLOURS = {"change": "#d9822b", "great": "#2b8a3e", "bribes": "#5c4b8a"}
LABEL_WIDTH = 28  # characters per line of a bar's label
WIDTH, ROW_HEIGHT = 8.0, 0.42  # inches


def draw(digest: Digest, catalogues: Catalogues, language: str) -> bytes | None:
    """The PNG, or None for a week with nothing to draw."""
    say = sayer(catalogues, language)
    categories = _wish_rows(digest)
    services = digest.bribe_services()
    panels = [rows for rows in (categories, services) if rows]
    if not panels:
        return None
    heights = [max(len(rows), 2) for rows in panels]
    figure = Figure(figsize=(WIDTH, 1.2 + ROW_HEIGHT * sum(heights) + 0.8 * len(panels)))
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(panels), 1, squeeze=False, height_ratios=heights)[:, 0]
    index = 0
    if categories:
        _wishes_panel(axes[index], categories, say)
        index += 1
    if services:
        _bribes_panel(axes[index], services, say)
    figure.suptitle(digest.municipality.name(language), fontsize=13, fontweight="bold")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _wish_rows(digest: Digest) -> list[tuple[str, int, int]]:
    """(category, to change, great) this week, the busiest first."""
    categories = {category for (_, category) in digest.wishes}
    rows = [(c, digest.wishes[("change", c)], digest.wishes[("great", c)]) for c in categories]
    return sorted(rows, key=lambda row: (row[1] + row[2], row[0]))  # barh draws bottom-up


def _label(text: str) -> str:
    """At most two lines; a longer name ends in "…"."""
    lines = textwrap.wrap(text, LABEL_WIDTH)
    return "\n".join(lines if len(lines) <= 2 else [lines[0], lines[1] + "…"])


def _wishes_panel(axes: Axes, rows: list[tuple[str, int, int]], say: Say) -> None:
    labels = [_label(say(f"category.{category}")) for category, _, _ in rows]
    change = [n for _, n, _ in rows]
    great = [n for _, _, n in rows]
    axes.barh(labels, change, color=COLOURS["change"], label=say("kind.change"))
    axes.barh(labels, great, left=change, color=COLOURS["great"], label=say("kind.great"))
    for y, (a, b) in enumerate(zip(change, great, strict=True)):
        axes.text(a + b, y, f" {a + b}", va="center", fontsize=9)
    axes.set_title(say("digest.chart_wishes"), fontsize=11, loc="left")
    axes.legend(loc="lower right", fontsize=8, frameon=False)
    _tidy(axes, max(a + b for a, b in zip(change, great, strict=True)))


def _bribes_panel(axes: Axes, services: list[tuple[int, int, dict[str, int]]], say: Say) -> None:
    rows = list(reversed(services))  # the most reported at the top
    labels = [_label(say(f"service.{service}")) for service, _, _ in rows]
    counts = [count if shown(count) else 0 for _, count, _ in rows]
    axes.barh(labels, counts, color=COLOURS["bribes"])
    for y, (_, count, _) in enumerate(rows):
        text = str(count) if shown(count) else say("stats.fewer_than_3")
        axes.text(counts[y], y, f" {text}", va="center", fontsize=9)
    axes.set_title(say("digest.chart_bribes"), fontsize=11, loc="left")
    _tidy(axes, max(counts))


def _tidy(axes: Axes, largest: int) -> None:
    axes.set_xlim(0, max(largest, 3) * 1.25)
    axes.xaxis.get_major_locator().set_params(integer=True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(axis="y", labelsize=9)
