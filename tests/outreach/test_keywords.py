"""Inbound SMS keywords: three languages, case, whitespace, punctuation and accents do not matter."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outreach.keywords import WORDS, Keyword, normalise, parse, words_for


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("YES", Keyword.YES), ("yes", Keyword.YES), ("  Yes \n", Keyword.YES), ("Yes!", Keyword.YES),
        ("JA", Keyword.YES), ("ja, graag", Keyword.YES), ("Oui", Keyword.YES), ("OUI.", Keyword.YES),
        ("NO", Keyword.NO), ("nee", Keyword.NO), ("Non", Keyword.NO),
        ("CANCEL", Keyword.CANCEL), ("annuleer", Keyword.CANCEL), ("Annuler", Keyword.CANCEL),
        ("annulér", Keyword.CANCEL), ("ANNULÉ", Keyword.CANCEL),
        ("STOP", Keyword.STOP), ("stop", Keyword.STOP), ("Arrêt", Keyword.STOP),
        ("START", Keyword.START), (" start", Keyword.START),
        ("HELP", Keyword.HELP), ("help", Keyword.HELP), ("AIDE", Keyword.HELP), ("aide ?", Keyword.HELP),
        ("\u00a0ＪＡ", Keyword.YES),  # no-break space and full-width letters
    ],
)
def test_known_words(text, keyword):
    assert parse(text) is keyword


OPT_OUT = [
    "STOP", "stop", "Stop!", "STOPALL", "stop all", "UNSUBSCRIBE", "Cancel all", "CANCEL ALL please", "END", "quit",
    "STOPPEN", "stoppen", "Afmelden", "UITSCHRIJVEN", "uitschrijven a.u.b.",
    "ARRÊT", "arret", "Arrêter", "DÉSABONNER", "desabonner", "désinscrire",
]
OPT_IN = [
    "START", "start", "UNSTOP", "Subscribe",
    "AANMELDEN", "aanmelden", "Inschrijven",
    "DÉMARRER", "demarrer", "Reprendre",
]


@pytest.mark.parametrize("text", OPT_OUT)
def test_the_opt_out_words_patients_send_in_each_language(text):
    assert parse(text) is Keyword.STOP


@pytest.mark.parametrize("text", OPT_IN)
def test_the_opt_in_words_patients_send_in_each_language(text):
    assert parse(text) is Keyword.START


@pytest.mark.parametrize("text", ["CANCEL", "cancel", "Cancel!", "cancel it", "CANCEL, all the best"])
def test_cancel_alone_still_cancels_the_visit(text):
    assert parse(text) is Keyword.CANCEL


def test_yes_confirms_and_is_never_an_opt_in():
    assert parse("YES") is parse("ja") is parse("oui") is Keyword.YES


@pytest.mark.parametrize("text", ["", "   ", "maybe", "yesterday", "jaja", "1", "2 yes", "?", "nononsense", "STOPPENS",
                                  "ending", "all", "cancelall"])
def test_anything_else_is_not_a_keyword(text):
    assert parse(text) is None


def test_every_language_has_every_keyword():
    for language, table in WORDS.items():
        assert set(table) == set(Keyword), language
        assert words_for(Keyword.YES, language)[0] == {"en": "YES", "nl": "JA", "fr": "OUI"}[language]
    assert words_for(Keyword.HELP, "de") == ("HELP", "INFO")


def test_normalise_strips_accents_and_case():
    assert normalise(" Annulér ") == "ANNULER"


@given(st.sampled_from([w for table in WORDS.values() for words in table.values() for w in words]),
       st.text(alphabet=" \t\n", max_size=3), st.text(alphabet=" \t\n.!", max_size=3), st.booleans())
def test_padding_and_case_never_change_the_answer(word, before, after, lower):
    text = before + (word.lower() if lower else word) + after
    assert parse(text) is parse(word) is not None


@given(st.text(max_size=30))
def test_parse_never_raises(text):
    assert parse(text) is None or isinstance(parse(text), Keyword)


def test_no_word_means_two_things_across_languages():
    meaning: dict[str, Keyword] = {}
    for table in WORDS.values():
        for keyword, words in table.items():
            for word in words:
                assert meaning.setdefault(word, keyword) is keyword, word
