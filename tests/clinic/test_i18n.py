"""Languages: the switch, Accept-Language, the user's own language and locale-aware formatting."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from sqlmodel import select

from clinic.columns import Language
from clinic.i18n import format_date, format_datetime, format_money, format_time
from clinic.users.models import Role, User
from tests.factories import make_user


def nbsp_free(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def test_english_by_default(client):
    html = client.get("/sign-in").get_data(as_text=True)
    assert 'lang="en"' in html and "User name" in html


@pytest.mark.parametrize(
    ("header", "lang", "phrase"),
    [
        ("nl-NL,nl;q=0.9,en;q=0.5", "nl", "Gebruikersnaam"),
        ("fr-FR,fr;q=0.9", "fr", "Nom d’utilisateur"),
        ("de-DE,de;q=0.9", "en", "User name"),
    ],
)
def test_accept_language_is_honoured(client, header, lang, phrase):
    html = client.get("/sign-in", headers={"Accept-Language": header}).get_data(as_text=True)
    assert f'lang="{lang}"' in html and phrase in html


def test_switching_to_dutch_makes_the_page_dutch_and_is_kept_on_the_account(desk_client, session, form_token):
    token = form_token(desk_client, "/board")
    response = desk_client.post("/language", data={"language": "nl", "next": "/board", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/board"
    html = desk_client.get("/board").get_data(as_text=True)
    assert 'lang="nl"' in html and "Dagoverzicht" in html and "Afmelden" in html
    user = session.exec(select(User).where(User.username == "desk")).one()
    session.refresh(user)
    assert user.language == Language.NL


def test_switching_to_french_before_signing_in(client, form_token):
    token = form_token(client, "/sign-in")
    client.post("/language", data={"language": "fr", "next": "/sign-in", "csrf_token": token})
    html = client.get("/sign-in", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert 'lang="fr"' in html and "Se connecter" in html and "Mot de passe" in html


def test_unknown_language_is_refused(client, form_token):
    token = form_token(client, "/sign-in")
    assert client.post("/language", data={"language": "de", "csrf_token": token}).status_code == 400


def test_users_own_language_applies_after_sign_in(client, session, post_form):
    make_user(session, username="fleur", password="onevisit-demo", role=Role.FRONT_DESK, language=Language.FR)
    post_form(client, "/sign-in", {"username": "fleur", "password": "onevisit-demo"})
    html = client.get("/board", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="fr"' in html and "Tableau du jour" in html


def test_the_switch_redirects_only_to_local_pages(client, form_token):
    token = form_token(client, "/sign-in")
    response = client.post(
        "/language", data={"language": "nl", "next": "https://evil.example/", "csrf_token": token}
    )
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("locale", "money", "day"),
    [
        ("en", "€1,234.50", "5 Mar 2026"),  # the unit's order (FORMAT_LOCALE nl_NL), English words
        ("nl", "€ 1.234,50", "5 mrt 2026"),
        ("fr", "1 234,50 €", "5 mars 2026"),
    ],
)
def test_money_and_dates_per_locale(app, locale, money, day):
    from flask_babel import force_locale

    with app.test_request_context("/"), force_locale(locale):
        assert nbsp_free(format_money(123450)) == money
        assert nbsp_free(format_date(date(2026, 3, 5))) == day


def test_times_are_shown_in_the_clinic_time_zone(app):
    summer = datetime(2026, 7, 1, 7, 30, tzinfo=UTC)
    winter = datetime(2026, 1, 15, 7, 30)  # naive: stored UTC
    with app.test_request_context("/", headers={"Accept-Language": "nl"}):
        assert format_time(summer) == "09:30"
        assert format_time(winter) == "08:30"
        assert format_date(datetime(2026, 1, 15, 23, 30, tzinfo=UTC)) == "16 jan 2026"
        assert "09:30" in format_datetime(summer)
        assert format_time(None) == "" and format_money(None) == ""


MONDAY = datetime(2026, 12, 7, 4, 2, tzinfo=UTC)  # 05:02 in Amsterdam


@pytest.mark.parametrize(
    ("locale", "short_date", "medium", "full", "time", "short_datetime"),
    [
        ("en", "07-12-2026", "7 Dec 2026", "Monday 7 December 2026", "05:02", "07-12-2026, 05:02"),
        ("nl", "07-12-2026", "7 dec 2026", "maandag 7 december 2026", "05:02", "07-12-2026, 05:02"),
        ("fr", "07-12-2026", "7 déc. 2026", "lundi 7 décembre 2026", "05:02", "07-12-2026 05:02"),
    ],
)
def test_the_units_formats_with_the_readers_words(app, locale, short_date, medium, full, time, short_datetime):
    """An English page in a Dutch unit: day before month, 24-hour clock (never 12/7/26, 5:02 AM)."""
    from flask_babel import force_locale

    with app.test_request_context("/"), force_locale(locale):
        assert format_date(MONDAY, "short") == short_date
        assert format_date(MONDAY) == medium
        assert format_date(MONDAY, "full") == full
        assert format_time(MONDAY) == time
        assert nbsp_free(format_datetime(MONDAY, "short")) == short_datetime
        assert format_date(MONDAY, "EEEE") == full.split()[0]  # a pattern is used as given


def test_format_locale_is_a_setting(app_config, clean_db, monkeypatch):
    from flask_babel import force_locale

    from clinic import create_app

    monkeypatch.setenv("ONEVISIT_FORMAT_LOCALE", "en_GB")
    british = create_app(app_config)
    with british.test_request_context("/"), force_locale("en"):
        assert format_date(MONDAY, "short") == "07/12/2026"
        assert format_date(MONDAY, "full") == "Monday, 7 December 2026"
        assert format_time(MONDAY) == "05:02"


def test_an_unknown_format_locale_stops_start_up(monkeypatch):
    from clinic.settings import ConfigError, load_settings

    monkeypatch.setenv("ONEVISIT_FORMAT_LOCALE", "xx_QQ")
    with pytest.raises(ConfigError, match="FORMAT_LOCALE"):
        load_settings({"TESTING": True})


@pytest.mark.parametrize(("locale", "shown"), [("en", "140.5"), ("nl", "140,5"), ("fr", "140,5")])
def test_numbers_follow_the_readers_locale(app, locale, shown):
    from flask_babel import force_locale

    from clinic.i18n import format_number

    with app.test_request_context("/"), force_locale(locale):
        assert format_number(140.5) == shown and format_number(12.0) == "12"


def test_money_in_another_currency(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert nbsp_free(format_money(999, "USD")) == "$9.99"


ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "clinic" / "translations"


def test_catalogs_are_compiled():
    for code in ("nl", "fr"):
        assert (TRANSLATIONS / code / "LC_MESSAGES" / "messages.mo").is_file(), (
            f"no compiled {code} catalog: run `make translations` (pybabel compile -d clinic/translations)"
        )


def test_every_ui_string_is_translated_in_dutch_and_french(tmp_path):
    """Extracts the sources afresh: a new ``_()`` string without nl and fr translations fails here."""
    pot = tmp_path / "messages.pot"
    extract = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-k", "_l", "-k", "lazy_gettext"]
    CommandLineInterface().run([*extract, "-o", str(pot), str(ROOT)])
    wanted = {message.id for message in read_po(pot.open("rb")) if message.id}
    for code in ("nl", "fr"):
        catalog = read_po((TRANSLATIONS / code / "LC_MESSAGES" / "messages.po").open("rb"), locale=code)
        done = {
            message.id
            for message in catalog
            if message.id
            and message.string
            and all(message.string if isinstance(message.string, tuple) else [1])
            and not message.fuzzy
        }
        missing = sorted(str(msgid) for msgid in wanted - done)
        assert not missing, (
            f"{len(missing)} strings lack a {code} translation (pybabel extract -F babel.cfg -k _l -k lazy_gettext "
            f"-o clinic/translations/messages.pot . && pybabel update -i clinic/translations/messages.pot "
            f"-d clinic/translations, then translate): {missing[:10]}"
        )


def test_each_catalog_defines_a_message_once() -> None:
    """Babel keeps the last of two definitions silently (GNU msgfmt refuses them): a merge must not leave two."""
    import collections
    import pathlib
    import re

    for po in sorted(pathlib.Path(__file__).resolve().parents[2].glob("clinic/translations/*/LC_MESSAGES/messages.po")):
        keys = collections.Counter(
            re.sub(r"\n#[^\n]*", "", block).split("\nmsgstr", 1)[0].strip()
            for block in po.read_text(encoding="utf-8").split("\n\n")
            if "msgid" in block
        )
        twice = [key for key, n in keys.items() if n > 1]
        assert not twice, f"{po}: defined twice: {twice[:3]}"
