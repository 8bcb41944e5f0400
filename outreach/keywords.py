"""Inbound SMS keywords in English, Dutch and French (pure: no database, no Flask).

``parse("  oui ")`` -> ``Keyword.YES``. Case, surrounding whitespace, punctuation and accents do not
matter, and only the first word counts ("Ja, graag!" is YES), or the first two where a keyword is two words
("CANCEL ALL" is STOP, while "CANCEL" alone cancels the visit); anything else is ``None``.

STOP and START are the opt-out and opt-in words patients actually send: Twilio's standard list (STOP,
STOPALL, UNSUBSCRIBE, END, QUIT; START, UNSTOP) with "CANCEL ALL" in place of Twilio's CANCEL, which here
cancels the visit, and the Dutch and French words. YES confirms a visit, so it is never an opt-in.
Every word is recognised whatever the patient's language; docs/messages.md lists them for the desk.
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
        Keyword.STOP: ("STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL ALL", "END", "QUIT"),
        Keyword.START: ("START", "UNSTOP", "SUBSCRIBE"),
        Keyword.HELP: ("HELP", "INFO"),
    },
    "nl": {
        Keyword.YES: ("JA", "J"),
        Keyword.NO: ("NEE",),
        Keyword.CANCEL: ("ANNULEER", "ANNULEREN"),
        Keyword.STOP: ("STOP", "STOPPEN", "AFMELDEN", "UITSCHRIJVEN"),
        Keyword.START: ("START", "AANMELDEN", "INSCHRIJVEN"),
        Keyword.HELP: ("HELP",),
    },
    "fr": {
        Keyword.YES: ("OUI", "O"),
        Keyword.NO: ("NON",),
        Keyword.CANCEL: ("ANNULER", "ANNULE"),
        Keyword.STOP: ("STOP", "ARRET", "ARRETER", "DESABONNER", "DESINSCRIRE"),
        Keyword.START: ("START", "DEMARRER", "REPRENDRE"),
        Keyword.HELP: ("AIDE",),
    },
}
"""Accent-free upper-case words per language (``ARRET`` also matches ``arrêt``); two words are one space apart."""

_LOOKUP: dict[str, Keyword] = {word: keyword for table in WORDS.values() for keyword, words in table.items() for word in words}
_FIRST_WORD = re.compile(r"[A-Z]+")
_NEXT_WORD = re.compile(r"\s+([A-Z]+)")


def normalise(text: str) -> str:
    """Upper case without accents: ``" Annulér "`` -> ``"ANNULER"``."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.upper().strip()


def parse(text: str) -> Keyword | None:
    """The keyword an inbound SMS starts with (after spaces and punctuation only), or ``None``.
    A two-word keyword ("CANCEL ALL") wins over its first word ("CANCEL")."""
    normal = normalise(text)
    match = _FIRST_WORD.search(normal)
    if match is None or any(ch.isalnum() for ch in normal[: match.start()]):
        return None
    second = _NEXT_WORD.match(normal, match.end())
    if second is not None and (pair := f"{match.group()} {second.group(1)}") in _LOOKUP:
        return _LOOKUP[pair]
    return _LOOKUP.get(match.group())


def words_for(keyword: Keyword, language: str) -> tuple[str, ...]:
    """The words a patient of ``language`` is told to reply with (first one is the one to show)."""
    return WORDS.get(language, WORDS["en"])[keyword]
