"""The public webhook URLs handed to Twilio, built without Flask (the dispatcher runs outside requests).

``/twilio/voice/<key>`` serves an outreach call's TwiML; ``key`` is the visit id (and the action, when the
call is not the reminder) signed with the app's ``SECRET_KEY`` (not guessable, not forgeable).
``/twilio/status`` takes delivery callbacks. Both paths are
the ``twilio`` blueprint's (``clinic.messaging.inbound_views``), whose tests check they agree.
"""

from itsdangerous import BadSignature, URLSafeSerializer

VOICE_SALT = "onevisit-twilio-voice"
VOICE_PATH = "/twilio/voice/"
STATUS_PATH = "/twilio/status"


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=VOICE_SALT)


def voice_key(secret_key: str, visit_id: int, action: str = "reminder") -> str:
    """The signed key of an outreach call: the visit, and the action when it is not the reminder (whose keys,
    a bare visit id, stay as they were so calls already placed keep working)."""
    if action == "reminder":
        return _serializer(secret_key).dumps(int(visit_id))
    return _serializer(secret_key).dumps([int(visit_id), str(action)])


def call_for_key(secret_key: str, key: str) -> tuple[int, str] | None:
    """``(visit id, action)`` of a key made by ``voice_key``, or ``None`` when it is not ours."""
    try:
        value = _serializer(secret_key).loads(key)
    except BadSignature:
        return None
    visit_id, action = value if isinstance(value, list) and len(value) == 2 else (value, "reminder")
    if isinstance(visit_id, int) and not isinstance(visit_id, bool) and isinstance(action, str):
        return visit_id, action
    return None


def voice_url(public_base_url: str, secret_key: str, visit_id: int, action: str = "reminder") -> str:
    return public_base_url.rstrip("/") + VOICE_PATH + voice_key(secret_key, visit_id, action)


def status_url(public_base_url: str) -> str:
    return public_base_url.rstrip("/") + STATUS_PATH
