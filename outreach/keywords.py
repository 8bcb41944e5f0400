"""Inbound SMS keywords in English, Dutch and French (pure: no database, no Flask).

``parse("  oui ")`` -> ``Keyword.YES``. Case, surrounding whitespace, punctuation and accents do not
matter, and only the first word counts ("Ja, graag!" is YES); anything else is ``None``.
"""

import enum
import re
import unicodedata


class Keyword(enum.StrEnum):
    YES = "yes"
    NO = "no"
    CANCEL = "cancel"
    STOP = "stop"
    START = "start"
    HELP = "help"


WORDS: dict[str, dict[Keyword, tuple[str, ...]]] = {
    "en": {
        Keyword.YES: ("YES", "Y"),
        Keyword.NO: ("NO", "N"),
        Keyword.CANCEL: ("CANCEL",),
        Keyword.STOP: ("STOP", "UNSUBSCRIBE"),
        Keyword.START: ("START", "UNSTOP"),
        Keyword.HELP: ("HELP", "INFO"),
    },
    "nl": {
        Keyword.YES: ("JA", "J"),
        Keyword.NO: ("NEE",),
        Keyword.CANCEL: ("ANNULEER", "ANNULEREN"),
        Keyword.STOP: ("STOP",),
        Keyword.START: ("START",),
        Keyword.HELP: ("HELP",),
    },
    "fr": {
        Keyword.YES: ("OUI", "O"),
        Keyword.NO: ("NON",),
        Keyword.CANCEL: ("ANNULER", "ANNULE"),
        Keyword.STOP: ("STOP", "ARRET"),
        Keyword.START: ("START",),
        Keyword.HELP: ("AIDE",),
    },
}
"""Accent-free upper-case words per language; ``ARRET`` also matches ``arrêt``."""

_LOOKUP: dict[str, Keyword] = {word: keyword for table in WORDS.values() for keyword, words in table.items() for word in words}
_FIRST_WORD = re.compile(r"[A-Z]+")


def normalise(text: str) -> str:
    """Upper case without accents: ``" Annulér "`` -> ``"ANNULER"``."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.upper().strip()


def parse(text: str) -> Keyword | None:
    """The keyword an inbound SMS starts with (after spaces and punctuation only), or ``None``."""
    normal = normalise(text)
    match = _FIRST_WORD.search(normal)
    if match is None or any(ch.isalnum() for ch in normal[: match.start()]):
        return None
    return _LOOKUP.get(match.group())


def words_for(keyword: Keyword, language: str) -> tuple[str, ...]:
    """The words a patient of ``language`` is told to reply with (first one is the one to show)."""
    return WORDS.get(language, WORDS["en"])[keyword]
