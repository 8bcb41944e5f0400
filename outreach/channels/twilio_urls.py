"""The public webhook URLs handed to Twilio, built without Flask (the dispatcher runs outside requests).

``/twilio/voice/<key>`` serves a reminder call's TwiML; ``key`` is the visit id signed with the app's
``SECRET_KEY`` (not guessable, not forgeable). ``/twilio/status`` takes delivery callbacks. Both paths are
the ``twilio`` blueprint's (``clinic.web.twilio_hooks``), whose tests check they agree.
"""

from itsdangerous import BadSignature, URLSafeSerializer

VOICE_SALT = "onevisit-twilio-voice"
VOICE_PATH = "/twilio/voice/"
STATUS_PATH = "/twilio/status"


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=VOICE_SALT)


def voice_key(secret_key: str, visit_id: int) -> str:
    return _serializer(secret_key).dumps(int(visit_id))


def visit_for_key(secret_key: str, key: str) -> int | None:
    try:
        value = _serializer(secret_key).loads(key)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def voice_url(public_base_url: str, secret_key: str, visit_id: int) -> str:
    return public_base_url.rstrip("/") + VOICE_PATH + voice_key(secret_key, visit_id)


def status_url(public_base_url: str) -> str:
    return public_base_url.rstrip("/") + STATUS_PATH
