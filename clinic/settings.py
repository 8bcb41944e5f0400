"""The clinic's settings: one typed object read from defaults, the environment and overrides.

Order of precedence (last wins): the defaults below, plain ``DATABASE_URL`` / ``SECRET_KEY``,
``ONEVISIT_<NAME>`` variables, then the overrides given to ``load_settings`` (``create_app``'s
``test_config``). Twilio, SMTP and outreach settings form groups but keep their flat names
(``ONEVISIT_TWILIO_AUTH_TOKEN`` is ``settings.twilio.auth_token``). A bad value, an unknown
``ONEVISIT_`` variable or settings that cannot work together raise ``ConfigError`` naming the setting.
"""

import difflib
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from babel import Locale, UnknownLocaleError
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from clinic import json_text

ENV_PREFIX = "ONEVISIT_"
DEFAULT_TIMEZONE = "Europe/Amsterdam"
SEED_DIR = Path(__file__).resolve().parent.parent / "seed_data"
SUPPORTED_LANGUAGES = ("en", "nl", "fr")
#: ``ONEVISIT_`` variables read by others than ``Settings``: ``INSTANCE_PATH`` is a field but also
#: read before the app exists; ``SPECS_DIR`` is the scheduling tests' example days.
OTHER_VARIABLES = frozenset({"SPECS_DIR"})
#: Fields that only overrides may set, never the environment.
OVERRIDE_ONLY = frozenset({"TESTING"})


class ConfigError(click.ClickException):
    """The configuration cannot work; the message says which setting and how to fix it.

    A ``ClickException`` so that ``flask --app clinic ...`` prints ``Error: <message>`` and exits
    with status 1 instead of a stack trace.
    """


class TwilioSettings(BaseModel):
    """SMS and voice go through Twilio when SID, token and number are all set."""

    model_config = ConfigDict(frozen=True)

    account_sid: str = ""
    auth_token: str = ""
    from_number: str = ""
    #: Where the REST client sends its requests instead of https://api.twilio.com (tests: a fake server).
    api_base_url: str = ""
    #: SharedKey secret for webhooks signed that way; otherwise webhooks are checked with the auth token.
    webhook_secret: str = ""
    timeout_seconds: int = 10

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token and self.from_number)


class SmtpSettings(BaseModel):
    """E-mail goes through this server when ``host`` is set, else the development channel."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    host: str = ""
    port: int = 25
    username: str = ""
    password: str = ""
    sender: str = Field("onevisit@localhost", validation_alias="from")
    starttls: bool = False
    timeout_seconds: int = 10


class OutreachSettings(BaseModel):
    """The dispatcher: how often it looks for due messages, how many it takes, and its lease."""

    model_config = ConfigDict(frozen=True)

    interval_seconds: float = 5.0
    batch: int = 100
    claim_batch: int = 10
    lease_seconds: float = 60.0
    stale_seconds: float = 120.0


class SiuSettings(BaseModel):
    """The optional HL7 v2 SIU feed of appointments (``clinic.messaging.siu``): off while ``mllp_address``
    (``host:port`` of the receiving system's MLLP listener) is empty."""

    model_config = ConfigDict(frozen=True)

    mllp_address: str = ""
    #: Seconds to wait for the connection and for the receiver's ACK.
    timeout_seconds: float = 10.0
    #: MSH-3 / MSH-4 (who sends) and MSH-5 / MSH-6 (who receives).
    sending_application: str = "ONEVISIT"
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.mllp_address)

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.mllp_address.rpartition(":")
        return host.strip("[]"), int(port)

    @field_validator("mllp_address")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        host, colon, port = value.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port of the MLLP listener, e.g. hl7.hospital.local:2575")
        return value

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not 0 < value <= 300:
            raise ValueError("expected seconds above 0 and at most 300")
        return value


class OidcSettings(BaseModel):
    """Sign-in through the hospital's identity provider (OpenID Connect) when ``issuer`` is set.

    ``role_map`` maps values of the ``roles_claim`` claim (a list or one string) to the app's roles
    (``front_desk``, ``coordinator``, ``volunteer``, ``admin``); a person with none of them is refused."""

    model_config = ConfigDict(frozen=True)

    issuer: str = ""
    client_id: str = ""
    client_secret: str = ""
    scopes: str = "openid profile email"
    roles_claim: str = "groups"
    role_map: Annotated[dict[str, str], NoDecode] = {}
    #: Seconds to wait for the provider's discovery document, token and keys.
    timeout_seconds: int = 10

    @property
    def configured(self) -> bool:
        return bool(self.issuer)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("expected the provider's address, https://... (its discovery document is "
                             "<issuer>/.well-known/openid-configuration)")
        return value

    @field_validator("role_map", mode="before")
    @classmethod
    def _role_map(cls, value: Any) -> dict[str, str]:
        from clinic.users.models import Role

        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                value = json_text.loads(value)
            except ValueError:
                raise ValueError('expected a JSON object, e.g. {"daycare-desk": "front_desk"}') from None
        if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in value.items()):
            raise ValueError('expected a JSON object of texts, e.g. {"daycare-desk": "front_desk"}')
        roles = [role.value for role in Role]
        wrong = sorted(v for v in value.values() if v not in roles)
        if wrong:
            raise ValueError(f"unknown role {wrong[0]!r}: the roles are {', '.join(roles)}")
        return dict(value)


class Hl7Settings(BaseModel):
    """The HL7 v2 patient feed (``flask --app clinic hl7 listen``, docs/hl7.md): where the MLLP listener
    listens, which assigning authority's identifier in PID-3 is the record number (empty: the first one),
    and the name this side gives itself in the ACK's MSH-3."""

    model_config = ConfigDict(frozen=True)

    listen_host: str = "127.0.0.1"
    listen_port: int = 2575
    assigning_authority: str = ""
    application: str = "ONEVISIT"

    @field_validator("listen_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError("expected a TCP port from 1 to 65535 (0: any free port)")
        return value

    @field_validator("listen_host", "assigning_authority", "application")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()


#: A patient asked to come at 9:00 may find the first step at most this late (minutes).
MAX_ARRIVAL_TOLERANCE = 60


class Settings(BaseSettings):
    """Every setting of a clinic (README, "Configuration"); build it with ``load_settings``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        case_sensitive=False,
        frozen=True,
        populate_by_name=True,
        extra="forbid",
    )

    env: str = "production"
    testing: bool = False
    instance_path: str = Field(default_factory=lambda: default_instance_path())
    #: Empty: ``onevisit.db`` in the instance folder.
    database_url: str = Field("", validation_alias=AliasChoices("onevisit_database_url", "database_url"))
    secret_key: str = Field("", validation_alias=AliasChoices("onevisit_secret_key", "secret_key"))
    seed_dir: str = str(SEED_DIR)
    clinic_timezone: str = DEFAULT_TIMEZONE
    languages: Annotated[tuple[str, ...], NoDecode] = SUPPORTED_LANGUAGES
    region_local_km: int = 25
    region_regional_km: int = 50
    currency: str = "EUR"
    #: The unit's locale for the *shape* of dates and times (order, separators, 24-hour clock); the words
    #: (month and day names) stay in each reader's language.
    format_locale: str = "nl_NL"
    #: None: each step type's own rate (0 % in the demo); else the rate of every invoice line.
    vat_rate_bp: int | None = None
    board_refresh_seconds: int = 20
    #: How much later than its announced arrival a booked visit's first step may be re-arranged to.
    arrival_tolerance_minutes: int = 15
    #: How long an API client's ``$hold`` keeps a proposed itinerary's place (minutes, 0 to 60).
    hold_minutes: int = 5
    proxy_count: int = 0
    public_base_url: str = ""
    desk_phone: str = ""
    #: The unit's name and street address as printed on the patient's appointment slip.
    unit_name: str = "OneVisit day-care unit"
    unit_address: str = "Heidelberglaan 100, 3584 CX Utrecht"
    #: The FHIR API's identifier system for the hospital's record numbers (``Patient.identifier.system``).
    fhir_mrn_system: str = "urn:onevisit:mrn"
    follow_up_due_working_days: int = 2
    survey_reask_hours: int = 24
    #: Sign-in throttling: this many wrong passwords for one account, or from one address, within the window
    #: make further attempts wait (HTTP 429) until the oldest of them leaves the window.
    sign_in_account_failures: int = 5
    sign_in_address_failures: int = 20
    sign_in_window_minutes: int = 15
    #: A signed-in session unused for this long ends (shared tablets); 0 turns the idle timeout off.
    idle_minutes: int = 30
    #: ``Strict-Transport-Security`` max-age sent on requests that came over TLS; 0 sends none.
    hsts_seconds: int = 31_536_000
    #: ``text`` (default) or ``json``: one JSON object per log line (clinic/logs.py, docs/deploy.md).
    log_format: str = "text"
    #: Optimising a coming day (``clinic.visits.optimise``): the solver's budget per day, how many days
    #: ahead the nightly job optimises (from tomorrow), and the clinic-local hour it runs at.
    optimise_seconds: float = 20.0
    optimise_days_ahead: int = 7
    optimise_hour: int = 2
    #: False: staff sign in only through the hospital's identity provider (``OIDC_*``), the password form is gone.
    local_passwords: bool = True
    twilio: TwilioSettings = TwilioSettings()
    smtp: SmtpSettings = SmtpSettings()
    outreach: OutreachSettings = OutreachSettings()
    oidc: OidcSettings = OidcSettings()
    siu: SiuSettings = SiuSettings()
    hl7: Hl7Settings = Hl7Settings()

    @property
    def relaxed(self) -> bool:
        """Development and testing may run over plain HTTP and without a configured secret key."""
        return self.env == "development" or self.testing

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> str:
        return "development" if str(value).strip().lower() == "development" else "production"

    @field_validator("instance_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return os.path.abspath(value)

    @field_validator("clinic_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known time zone (e.g. Europe/Amsterdam)") from None
        return value

    @field_validator("fhir_mrn_system")
    @classmethod
    def _uri(cls, value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", value):
            raise ValueError("expected a URI naming the hospital's record numbers (e.g. urn:oid:2.16.528.1.1007.3.3.1234 "
                             "or https://hospital.example/mrn)")
        return value

    @field_validator("format_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        try:
            Locale.parse(value.strip().replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            raise ValueError("not a locale Babel knows (e.g. nl_NL, en_GB, fr_BE)") from None
        return value.strip().replace("-", "_")

    @field_validator("languages", mode="before")
    @classmethod
    def _languages(cls, value: Any) -> tuple[str, ...]:
        parts = value.split(",") if isinstance(value, str) else list(value)
        languages = tuple(str(part).strip() for part in parts if str(part).strip())
        if not languages or any(code not in SUPPORTED_LANGUAGES for code in languages):
            raise ValueError(f"choose from {', '.join(SUPPORTED_LANGUAGES)}")
        return languages

    @field_validator("vat_rate_bp", mode="before")
    @classmethod
    def _vat(cls, value: Any) -> int | None:
        return _vat_rate_bp(value)

    @field_validator("sign_in_account_failures", "sign_in_address_failures", "sign_in_window_minutes")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError("expected a whole number, at least 1")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in ("text", "json"):
            raise ValueError("expected text or json")
        return text

    @field_validator("idle_minutes", "hsts_seconds")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("expected a whole number, 0 or more")
        return value

    @field_validator("board_refresh_seconds")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("expected a whole number of seconds, at least 1")
        return value

    @field_validator("arrival_tolerance_minutes")
    @classmethod
    def _tolerance(cls, value: int) -> int:
        if not 0 <= value <= MAX_ARRIVAL_TOLERANCE:
            raise ValueError(f"expected a whole number of minutes from 0 to {MAX_ARRIVAL_TOLERANCE}")
        return value


    @field_validator("hold_minutes")
    @classmethod
    def _hold_minutes(cls, value: int) -> int:
        if not 0 <= value <= 60:
            raise ValueError("expected a whole number of minutes from 0 to 60")
        return value

    @field_validator("optimise_seconds")
    @classmethod
    def _optimise_seconds(cls, value: float) -> float:
        if not 0.5 <= value <= 600:
            raise ValueError("expected seconds from 0.5 to 600")
        return value

    @field_validator("optimise_days_ahead")
    @classmethod
    def _days_ahead(cls, value: int) -> int:
        if not 0 <= value <= 60:
            raise ValueError("expected a number of days from 0 (the job does nothing) to 60")
        return value

    @field_validator("optimise_hour")
    @classmethod
    def _hour(cls, value: int) -> int:
        if not 0 <= value <= 23:
            raise ValueError("expected an hour from 0 to 23")
        return value


def default_instance_path() -> str:
    """Where Flask would put ``clinic``'s instance folder: beside the checkout, or ``<prefix>/var``."""
    from flask.sansio.scaffold import find_package

    prefix, package_path = find_package("clinic")
    if prefix is None:
        return os.path.join(package_path, "instance")
    return os.path.join(prefix, "var", "clinic-instance")


def _vat_rate_bp(raw: Any) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = -1
    if not 0 <= value <= 10000:
        raise ValueError("expected basis points from 0 to 10000 (900 = 9 %, 2100 = 21 %) or empty")
    return value


def vat_rate_bp(raw: Any) -> int | None:
    """``VAT_RATE_BP``: empty means "each step type's own rate"; else 0-10000 basis points (2100 = 21 %)."""
    try:
        return _vat_rate_bp(raw)
    except ValueError as exc:
        raise ConfigError(f"VAT_RATE_BP={raw!r}: {exc}") from None


def _flat_names() -> dict[str, tuple[str, ...]]:
    """``{"TWILIO_AUTH_TOKEN": ("twilio", "auth_token"), "CURRENCY": ("currency",), ...}``."""
    names: dict[str, tuple[str, ...]] = {}
    for name, field in Settings.model_fields.items():
        group = field.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            for sub, info in group.model_fields.items():
                alias = info.validation_alias if isinstance(info.validation_alias, str) else sub
                names[f"{name}_{alias}".upper()] = (name, alias)
        else:
            names[name.upper()] = (name,)
    return names


FLAT_NAMES = _flat_names()


def _nest(values: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in values.items():
        *groups, last = FLAT_NAMES[key]
        target = nested
        for group in groups:
            target = target.setdefault(group, {})
        target[last] = value
    return nested


def flatten(settings: Settings) -> dict[str, Any]:
    """The settings under their flat names (``TWILIO_AUTH_TOKEN``), as overrides take them."""
    flat: dict[str, Any] = {}
    for key, path in FLAT_NAMES.items():
        value: Any = settings
        for part in path:
            value = getattr(value, "sender" if part == "from" else part)
        flat[key] = value
    return flat


def _refuse_unknown(environ: Mapping[str, str]) -> None:
    known = {ENV_PREFIX + name for name in (FLAT_NAMES.keys() - OVERRIDE_ONLY) | OTHER_VARIABLES}
    unknown = sorted(name for name in environ if name.upper().startswith(ENV_PREFIX) and name.upper() not in known)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1)
            hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
        raise ConfigError(
            "Unknown setting in the environment: " + ", ".join(hints) + ". Remove it or fix its name "
            "(README.md, Configuration, lists every ONEVISIT_ variable)."
        )


_EXPECTED = {
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "int_type": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text",
}


def _describe(exc: ValidationError, environ: Mapping[str, str]) -> str:
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        name = "_".join(loc).upper().removeprefix(ENV_PREFIX)
        variable = ENV_PREFIX + name if ENV_PREFIX + name in environ else name
        if error["type"] == "value_error":
            expected = str(error["ctx"]["error"])
        else:
            expected = _EXPECTED.get(error["type"], error["msg"])
        lines.append(f"{variable}={error['input']!r}: {expected}")
    return "\n".join(lines)


def development_secret_key(instance_path: str) -> str:
    """Create once and reuse ``instance/secret_key`` (mode 0600) so sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _finish(settings: Settings) -> Settings:
    """Fill derived settings and refuse combinations that cannot work."""
    updates: dict[str, Any] = {}
    if not settings.secret_key:
        if settings.env == "development":
            updates["secret_key"] = development_secret_key(settings.instance_path)
        elif not settings.testing:
            raise ConfigError(
                "SECRET_KEY is not set: set the SECRET_KEY (or ONEVISIT_SECRET_KEY) environment variable "
                "to a long random string, or set ONEVISIT_ENV=development on a development machine."
            )
    if not 0 < settings.region_local_km <= settings.region_regional_km:
        raise ConfigError(
            "REGION_LOCAL_KM must be above 0 and at most REGION_REGIONAL_KM "
            f"(got {settings.region_local_km} and {settings.region_regional_km})"
        )
    if settings.smtp.host and not settings.relaxed and not settings.public_base_url.startswith(("https://", "http://")):
        raise ConfigError(
            "SMTP_HOST is set but PUBLIC_BASE_URL is not an http(s) address: e-mails link patients to pages of "
            "this app, so set ONEVISIT_PUBLIC_BASE_URL to the address they reach it at (https://...)."
        )
    oidc = settings.oidc
    if oidc.configured and not (oidc.client_id and oidc.role_map):
        raise ConfigError(
            "OIDC_ISSUER is set but OIDC_CLIENT_ID or OIDC_ROLE_MAP is not: set the client id (and secret) the "
            'identity provider gave this app, and which groups give which role, e.g. OIDC_ROLE_MAP={"daycare-desk": '
            '"front_desk", "daycare-coord": "coordinator"}.'
        )
    if not settings.local_passwords and not oidc.configured:
        raise ConfigError(
            "LOCAL_PASSWORDS is false but OIDC_ISSUER is not set: nobody could sign in. Set the identity "
            "provider (OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_ROLE_MAP) or keep local passwords."
        )
    url = settings.database_url or f"sqlite:///{Path(settings.instance_path) / 'onevisit.db'}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    updates["database_url"] = url
    return settings.model_copy(update=updates)


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """The settings from the environment, with ``overrides`` (flat names, e.g. ``{"SMTP_HOST": ...}``) on top.

    Raises ``ConfigError`` for an unknown ``ONEVISIT_`` variable or override, a bad value, or settings
    that cannot work together.
    """
    overrides = dict(overrides or {})
    unknown = sorted(overrides.keys() - FLAT_NAMES.keys())
    if unknown:
        raise ConfigError(f"Unknown setting: {', '.join(unknown)}")
    _refuse_unknown(os.environ)
    try:
        settings = Settings(**_nest(overrides))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, os.environ)) from None
    return _finish(settings)
