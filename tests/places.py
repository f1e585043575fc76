"""Names the resident sees, per language, taken from domain.yaml (the reference wording)."""

from __future__ import annotations

from storage.domain import facts
from storage.place_list import shipped_units

LANGUAGES = ("ky", "ru", "en")
LANGUAGE_NAMES = {"ky": "Кыргызча", "ru": "Русский", "en": "English"}
# Literal words, so that a catalogue in the wrong language cannot pass unnoticed.
THANKS = {"ky": "Рахмат", "ru": "Спасибо", "en": "Thank you"}
REFERENCE_LABEL = {"ky": "Каттоо номери", "ru": "Номер обращения", "en": "Reference number"}


def _named(section: str, key: str) -> dict[str, str]:
    entry = next(e for e in facts()[section] if e["key"] == key)
    return {language: entry[language] for language in LANGUAGES}


def region(key: str) -> dict[str, str]:
    return _named("regions", key)


def municipality(key: str) -> dict[str, str]:
    return _named("municipalities", key)


def district_of(key: str) -> dict[str, str]:
    """The district a shipped municipality lies in, as the place buttons name it."""
    units = {unit.key: unit for unit in shipped_units()}
    district = units[units[key].district or ""]
    return {"ky": district.name_ky, "ru": district.name_ru, "en": district.name_en}


def category(key: str) -> dict[str, str]:
    return _named("wish_categories", key)


def kind(key: str) -> dict[str, str]:
    return _named("wish_kinds", key)
