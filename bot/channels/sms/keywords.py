"""The SMS keyword grammar (docs/architecture.md §7): the first word of a message names the action,
in Kyrgyz, Russian or English, whatever the case. Phones without Kyrgyz letters type Russian
look-alikes (О for Ө, У for Ү, Н for Ң), and some type Latin (OZGORT, IZMENIT): all match.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.validation import fold as plain
from handlers.validation import written_language

# action -> language -> spellings (the first is the usual one).
KEYWORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "change": {
        "ky": ("ӨЗГӨРТ", "OZGORT"),
        "ru": ("ИЗМЕНИТЬ", "IZMENIT"),
        "en": ("CHANGE",),
    },
    "great": {
        "ky": ("МЫКТЫ", "MYKTY", "MIKTI"),
        "ru": ("ХОРОШО", "KHOROSHO", "HOROSHO"),
        "en": ("GREAT",),
    },
    "bribe": {"ky": ("ПАРА", "PARA"), "ru": ("ВЗЯТКА", "VZYATKA", "VZIATKA"), "en": ("BRIBE",)},
    "sign": {"ky": ("КОЛ", "KOL"), "ru": ("ПОДПИСЬ", "PODPIS"), "en": ("SIGN",)},
    # JOIN is what officials of every language type on a Latin keypad: it keeps the person's
    # language (Kyrgyz for someone new) instead of switching them to English.
    "join": {"ky": ("КОШУЛ", "KOSHUL"), "ru": ("ВСТУПИТЬ", "VSTUPIT"), "": ("JOIN",)},
    "place": {"ky": ("ЖЕР", "JER", "ZHER"), "ru": ("МЕСТО", "MESTO"), "en": ("PLACE",)},
    "language": {
        "ky": ("ТИЛ", "TIL"),
        "ru": ("ЯЗЫК", "YAZYK", "IAZYK"),
        "en": ("LANG", "LANGUAGE"),
    },
    "help": {
        "ky": ("ЖАРДАМ", "JARDAM", "ZHARDAM"),
        "ru": ("ПОМОЩЬ", "POMOSH", "POMOSHCH"),
        "en": ("HELP",),
    },
    "forget": {
        "ky": ("ӨЧҮР", "OCHUR"),
        "ru": ("УДАЛИТЬ", "UDALIT"),
        "en": ("FORGET",),
    },
    "mine": {"ky": ("МЕНИКИ", "MENIKI"), "ru": ("МОИ", "MOI"), "en": ("MINE",)},
    "answer": {"ky": ("ЖООП", "JOOP", "ZHOOP"), "ru": ("ОТВЕТ", "OTVET"), "en": ("ANSWER",)},
    # Staff: a one-time link to the console. ВЕБ is the same word in Kyrgyz and Russian.
    "web": {"": ("ВЕБ", "VEB"), "en": ("WEB",)},
    "polls": {"ky": ("СУРОО", "SUROO"), "ru": ("ОПРОС", "OPROS"), "en": ("POLL", "POLLS")},
    "appeal": {
        "ky": ("ӨТҮНҮЧ", "OTUNUCH"),
        "ru": ("ОБРАЩЕНИЕ", "OBRASHCHENIE", "OBRASHENIE"),
        "en": ("APPEAL",),
    },
    # The same word in Kyrgyz and Russian: it says nothing about the language. The English
    # ones are every word Twilio itself takes as an opt-out or opt-in (it stops or resumes
    # delivering to the phone whatever we record, so we record the same).
    "stop": {
        "": ("СТОП",),
        "en": ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
    },
    "resume": {"": ("СТАРТ",), "en": ("START", "UNSTOP", "YES")},
}
# Keywords that tell only a new sender's language, never change a known one's: STOP in Latin
# letters is the carrier's (and Twilio's) word, typed whatever one speaks, so a resident who
# writes Kyrgyz is answered in Kyrgyz.
CARRIER_WORDS = {"stop", "resume"}

# The soft and hard signs are often left out of a keyword (УДАЛИТЬ, УДАЛИТ).
_SIGNS = str.maketrans({"ь": None, "ъ": None})
_TRAILING = ":,.!;-"


def twilio_opt_out(body: str) -> bool:
    """Whether the message is one of Twilio's own opt-out words, alone (as Twilio reads it):
    Twilio then confirms the opt-out itself and refuses our answers (error 21610) until an
    opt-in word. СТОП is ours alone."""
    return body.strip().upper() in KEYWORDS["stop"]["en"]


def fold(word: str) -> str:
    """A keyword as typed, compared in plain letters (handlers/validation.fold)."""
    return plain(word).translate(_SIGNS).strip(_TRAILING)


_INDEX: dict[str, tuple[str, str | None]] = {
    fold(spelling): (action, language or None)
    for action, languages in KEYWORDS.items()
    for language, spellings in languages.items()
    for spelling in spellings
}


@dataclass(frozen=True)
class Parsed:
    action: str | None  # None: the message does not start with a keyword
    argument: str  # the rest of the message (the whole message when no keyword)
    language: str | None  # the keyword's language (or the text's, without one), if it tells one
    guess: str | None = None  # a language only for a sender we do not know yet (CARRIER_WORDS)


def parse(body: str) -> Parsed:
    text = body.strip()
    first, _, rest = text.partition(" ")
    first, _, rest_after_newline = first.partition("\n")
    rest = " ".join(part for part in (rest_after_newline, rest) if part)
    found = _INDEX.get(fold(first)) if first else None
    if found is None:
        return Parsed(None, text, written_language(text))
    action, language = found
    if action in CARRIER_WORDS:
        return Parsed(action, rest.strip(), None, guess=language)
    rest = rest.strip()
    if action == "help":  # HELP ПАРА: the topic is itself a keyword; pass on its action
        topic = _INDEX.get(fold(rest.split(" ", 1)[0])) if rest else None
        rest = topic[0] if topic else rest
    return Parsed(action, rest, language)
