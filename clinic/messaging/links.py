"""The links patients get in their messages: each names one record, signed with the app's ``SECRET_KEY`` (not
guessable, not forgeable) and rooted at ``PUBLIC_BASE_URL``.

* ``/twilio/survey/<key>``: the TwiML of a survey call (``survey_key``; no expiry, Twilio fetches it at once);
* ``/survey/<token>``: an e-mailed survey's page (``email_token``, valid ``SURVEY_LINK_DAYS``);
* ``/answer/<token>``: an outreach e-mail's answer page (``answer_token``, valid ``ANSWER_LINK_DAYS``).

The paths are the blueprints' (``clinic.feedback.views``, ``clinic.messaging.answers_views``, ``clinic.messaging.inbound_views``),
whose tests follow these links.
"""

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

SURVEY_VOICE_SALT = "onevisit-twilio-survey"
SURVEY_EMAIL_SALT = "onevisit-survey-email"
ANSWER_SALT = "onevisit-email-answer"
SURVEY_LINK_DAYS = 14
ANSWER_LINK_DAYS = 60
SURVEY_CALL_PATH, SURVEY_PATH, ANSWER_PATH = "/twilio/survey/", "/survey/", "/answer/"


def _an_id(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _timed_dumps(secret_key: str, salt: str, record_id: int) -> str:
    return URLSafeTimedSerializer(secret_key, salt=salt).dumps(int(record_id))


def _timed_loads(secret_key: str, salt: str, token: str, max_age_days: int) -> int | None:
    try:
        return _an_id(URLSafeTimedSerializer(secret_key, salt=salt).loads(token, max_age=max_age_days * 86400))
    except (BadSignature, SignatureExpired):
        return None


def survey_key(secret_key: str, survey_id: int) -> str:
    """The signed key in a survey call's TwiML URL."""
    return URLSafeSerializer(secret_key, salt=SURVEY_VOICE_SALT).dumps(int(survey_id))


def survey_for_key(secret_key: str, key: str) -> int | None:
    try:
        return _an_id(URLSafeSerializer(secret_key, salt=SURVEY_VOICE_SALT).loads(key))
    except BadSignature:
        return None


def email_token(secret_key: str, survey_id: int) -> str:
    return _timed_dumps(secret_key, SURVEY_EMAIL_SALT, survey_id)


def survey_for_token(secret_key: str, token: str, *, max_age_days: int = SURVEY_LINK_DAYS) -> int | None:
    """The survey id in an e-mailed link; ``None`` when forged or older than ``max_age_days``."""
    return _timed_loads(secret_key, SURVEY_EMAIL_SALT, token, max_age_days)


def answer_token(secret_key: str, outbox_id: int) -> str:
    return _timed_dumps(secret_key, ANSWER_SALT, outbox_id)


def outbox_for_token(secret_key: str, token: str, *, max_age_days: int = ANSWER_LINK_DAYS) -> int | None:
    """The outbox row of an outreach e-mail's link; ``None`` when forged or older than ``max_age_days``."""
    return _timed_loads(secret_key, ANSWER_SALT, token, max_age_days)


@dataclass(frozen=True)
class Links:
    """Where patients reach the app (``PUBLIC_BASE_URL``) and the key that signs their links."""

    public_base_url: str = ""
    secret_key: str = ""

    def _url(self, path: str, key: str) -> str:
        return self.public_base_url.rstrip("/") + path + key

    def voice_url(self, survey_id: int) -> str | None:
        """A survey call's TwiML; ``None`` without a public address (Twilio could not reach a relative one)."""
        if not (self.public_base_url and self.secret_key):
            return None
        return self._url(SURVEY_CALL_PATH, survey_key(self.secret_key, survey_id))

    def email_url(self, survey_id: int) -> str:
        return self._url(SURVEY_PATH, email_token(self.secret_key, survey_id))

    def answer_url(self, outbox_id: int) -> str:
        return self._url(ANSWER_PATH, answer_token(self.secret_key, outbox_id))


NO_LINKS = Links()
"""Relative links signed with an empty key: the default of callers not told where patients reach the app."""
