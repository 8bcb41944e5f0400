"""Twilio's webhooks: inbound SMS, the outreach calls' TwiML and their keys, delivery status callbacks.

Every request must carry a valid ``X-Twilio-Signature`` (``RequestValidator``) computed over the URL
Twilio called: behind a proxy that is ``PUBLIC_BASE_URL`` + the path, not what Flask sees. A forged or
unsigned request gets 403 and changes nothing. CSRF does not apply (Twilio cannot carry a token; the
signature is the proof), so the blueprint is exempt. Replies are built with ``twilio.twiml``.

The URLs handed to Twilio come from ``outreach.channels.twilio_urls`` (no Flask needed: the Twilio
channels fill them in from ``PUBLIC_BASE_URL`` for the dispatcher); ``voice_url`` here and
``clinic.web.public_urls.status_callback_url`` are the same inside a request.
"""

import logging
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

from clinic.db import get_session
from clinic.errors import DomainError
from clinic.extensions import csrf
from clinic.feedback import surveys
from clinic.messaging import delivery, inbound, links
from clinic.messaging.texts import VOICE_LANGUAGES
from clinic.web.clock import messaging_now
from clinic.web.container import settings, unit
from clinic.web.patient_replies import answer_call, answer_sms
from clinic.web.public_urls import public_url
from outreach.channels import twilio_urls

bp = Blueprint("twilio", __name__, url_prefix="/twilio")
csrf.exempt(bp)
log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"


# --- URLs for Twilio ------------------------------------------------------------------------------


def voice_key(visit_id: int, action: str = "reminder") -> str:
    """An opaque key naming the visit (and action) an outreach call is about (signed: not guessable)."""
    return twilio_urls.voice_key(current_app.config["SECRET_KEY"], visit_id, action)


def call_for_key(key: str) -> tuple[int, str] | None:
    return twilio_urls.call_for_key(current_app.config["SECRET_KEY"], key)


def voice_url(visit_id: int, action: str = "reminder") -> str:
    return public_url("twilio.voice", key=voice_key(visit_id, action))


# --- signature ------------------------------------------------------------------------------------


def requested_url() -> str:
    """The URL Twilio signed: the configured public base plus path and query, else the request's own."""
    base = unit().public_base_url.rstrip("/")
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return base + request.path + (f"?{query}" if query else "")


def signature_is_valid() -> bool:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    signature_settings = request.headers.get(SETTINGS_HEADER)
    twilio = settings().twilio
    secret = twilio.auth_token
    if signature_settings:
        secret = twilio.webhook_secret or secret
    if not signature or not secret:
        return False
    params = request.form if request.method == "POST" else {}
    try:
        return RequestValidator(secret).validate(
            requested_url(), params, signature, algorithm=get_signature_algorithm(signature_settings)
        )
    except (ValueError, TypeError):
        return False


def signed(view):
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        if not signature_is_valid():
            log.warning("refused an unsigned or forged Twilio webhook to %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    return wrapped


# --- helpers -------------------------------------------------------------------------------------


def _xml(twiml: Any, status: int = 200) -> Response:
    return Response(str(twiml), status=status, mimetype="text/xml")


# --- SMS -----------------------------------------------------------------------------------------


@bp.post("/sms")
@signed
def sms() -> Response:
    sender = request.form.get("From", "").strip()
    if not sender:
        return _xml(MessagingResponse(), 400)
    result = answer_sms(
        sender=sender,
        body=request.form.get("Body", ""),
        provider_id=request.form.get("MessageSid") or request.form.get("SmsSid") or None,
    )
    reply = MessagingResponse()
    if result is not None and result.reply:
        reply.message(result.reply)
    return _xml(reply)


# --- voice ---------------------------------------------------------------------------------------


def _call_or_404(key: str) -> tuple[int, str]:
    call = call_for_key(key)
    if call is None:
        abort(404)
    return call


@bp.route("/voice/<key>", methods=["GET", "POST"])
@signed
def voice(key: str) -> Response:
    visit_id, action = _call_or_404(key)
    session = get_session()
    try:
        visit = inbound.visit_service.get_visit(session=session, visit_id=visit_id)
    except DomainError:
        abort(404)
    language, intro, menu = inbound.call_script(session=session, visit=visit, unit=unit(), action=action)
    say_language = VOICE_LANGUAGES.get(language, "en-GB")
    response = VoiceResponse()
    if menu is None:
        response.say(intro, language=say_language)
        response.hangup()
        return _xml(response)
    gather = Gather(
        num_digits=1, action=public_url("twilio.gather", key=key), method="POST", timeout=8, language=say_language
    )
    gather.say(intro, language=say_language)
    gather.say(menu, language=say_language)
    response.append(gather)
    response.say(inbound.call_goodbye(language), language=say_language)
    response.hangup()
    return _xml(response)


@bp.post("/voice/<key>/gather")
@signed
def gather(key: str) -> Response:
    visit_id, action = _call_or_404(key)
    result = answer_call(
        visit_id=visit_id,
        action=action,
        digits=request.form.get("Digits", ""),
        call_sid=request.form.get("CallSid") or None,
        to=request.form.get("To", ""),  # the patient is the called party
    )
    if result is None:
        abort(404)
    say_language = VOICE_LANGUAGES.get(result.language, "en-GB")
    response = VoiceResponse()
    response.say(result.reply, language=say_language)
    if result.outcome == "desk":
        desk = unit().desk_phone
        if desk:
            response.dial(desk)
        else:
            response.say(inbound.desk_unavailable(result.language), language=say_language)
            response.hangup()
    elif result.outcome == "unknown":
        response.redirect(public_url("twilio.voice", key=key), method="POST")
    else:
        response.hangup()
    return _xml(response)


# --- delivery status -------------------------------------------------------------------------------


@bp.post("/status")
@signed
def status() -> Response:
    provider_id = request.form.get("MessageSid") or request.form.get("CallSid") or ""
    state = request.form.get("MessageStatus") or request.form.get("CallStatus") or ""
    if not provider_id or not state:
        return Response(status=400)
    session = get_session()
    try:
        delivery.record_status_callback(
            session=session, provider_id=provider_id, status=state.strip().lower(), now=messaging_now(), unit=unit()
        )
    except DomainError:
        session.rollback()
    return Response(status=204)


# --- the two questions by phone (clinic.feedback.surveys) --------------------------------------------


def _survey_or_404(key: str):
    survey_id = links.survey_for_key(current_app.config["SECRET_KEY"], key)
    survey = surveys.find_survey(session=get_session(), survey_id=survey_id)
    if survey is None:
        abort(404)
    return survey


def _question(key: str, language: str, number: int, first: str | None = None) -> Gather:
    say_language = VOICE_LANGUAGES.get(language, "en-GB")
    values = {"key": key, "question": number} | ({"first": first} if first else {})
    gather = Gather(num_digits=1, action=public_url("twilio.survey_gather", **values), method="POST", timeout=8,
                    language=say_language)
    gather.say(surveys.voice_texts(language)["q1" if number == 1 else "q2"], language=say_language)
    return gather


@bp.route("/survey/<key>", methods=["GET", "POST"])
@signed
def survey_call(key: str) -> Response:
    """A survey call's TwiML: the greeting, then question 1 (press 1 yes, 2 no)."""
    survey = _survey_or_404(key)
    language = str(survey.language)
    say_language = VOICE_LANGUAGES.get(language, "en-GB")
    spoken = surveys.voice_texts(language)
    response = VoiceResponse()
    response.say(spoken["intro"], language=say_language)
    response.append(_question(key, language, 1))
    response.say(spoken["goodbye"], language=say_language)
    response.hangup()
    return _xml(response)


@bp.post("/survey/<key>/<int:question>")
@signed
def survey_gather(key: str, question: int) -> Response:
    """A key pressed for question 1 (then question 2 is asked, carrying the first answer in its URL) or for
    question 2 (then both answers are stored). Any other key repeats the question."""
    survey = _survey_or_404(key)
    language = str(survey.language)
    say_language = VOICE_LANGUAGES.get(language, "en-GB")
    spoken = surveys.voice_texts(language)
    digit = (request.form.get("Digits") or "").strip()[:1]
    first = request.args.get("first", "")
    response = VoiceResponse()
    if question not in (1, 2) or (question == 2 and first not in ("1", "2")):
        abort(404)
    if digit not in ("1", "2"):
        response.say(spoken["again"], language=say_language)
        response.append(_question(key, language, question, first if question == 2 else None))
        response.say(spoken["goodbye"], language=say_language)
        response.hangup()
        return _xml(response)
    if question == 1:
        response.append(_question(key, language, 2, digit))
        response.say(spoken["goodbye"], language=say_language)
        response.hangup()
        return _xml(response)
    session = get_session()
    got, good = first == "1", digit == "1"
    try:
        surveys.record_answer(session=session, survey_id=survey.id, got_what_needed=got, good_job=good, now=messaging_now(),
                              unit=unit())
    except DomainError:  # answered twice (a retried webhook): the first answer stands
        session.rollback()
    response.say(spoken["thanks_yes"] if got and good else spoken["thanks_no"], language=say_language)
    response.hangup()
    return _xml(response)
