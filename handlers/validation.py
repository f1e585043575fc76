"""Checks shared by the handlers."""

from __future__ import annotations

from handlers.types import Text


def check_text(text: str, limit: int) -> tuple[str, Text | None]:
    """The text without surrounding space, and what is wrong with it if anything."""
    cleaned = text.strip()
    if not cleaned:
        return cleaned, Text("error.empty_text")
    if len(cleaned) > limit:
        return cleaned, Text("error.too_long", {"limit": limit, "length": len(cleaned)})
    return cleaned, None
