"""Reasons in the reader's language: why an outreach rule fires or not (``outreach.rules.Why``), and why an
outbox message was skipped, withdrawn or failed (the English ``last_error`` the outbox stores).

A stored reason is split at ``"; "`` and each known part is translated; a part nobody wrote here (a
provider's own error text) is shown as it is.
"""

import re
from collections.abc import Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from clinic.web.labels import SEGMENT_LABELS, VISIT_STATUS_LABELS, label, language_label
from outreach.rules import Why

LAYER_LABELS = {"basic": _l("Basic"), "segment": _l("Segment"), "sub_segment": _l("Sub-segment")}
FACT_LABELS = {
    "age": _l("age"),
    "region": _l("region"),
    "needs": _l("needs"),
    "language": _l("language"),
    "channel": _l("channel"),
    "pathway": _l("pathway"),
}
CHANNEL_WORDS = {"sms": _l("SMS"), "voice": _l("call"), "email": _l("e-mail"), "patient": _l("patient's own channel")}

STORED_REASONS = {
    "the patient opted out of non-essential messages": _l("the patient opted out of non-essential messages"),
    "booked too late for this message": _l("booked too late for this message"),
    "it could only go out after the visit has started": _l("it could only go out after the visit has started"),
    "booked too late for the planned time: sent at the earliest allowed moment": _l(
        "booked too late for the planned time: sent at the earliest allowed moment"
    ),
    "no longer planned (visit moved, cancelled or rules changed)": _l(
        "no longer planned (visit moved, cancelled or rules changed)"
    ),
    "visit cancelled": _l("visit cancelled"),
    "no volunteer meets this visit any more, or it moved": _l("no volunteer meets this visit any more, or it moved"),
    "the day has passed": _l("the day has passed"),
    "not sent: the patient opted out": _l("not sent: the patient opted out"),
    "no address for this channel": _l("no address for this channel"),
    "the channel cannot say what it sent": _l("the channel cannot say what it sent"),
    "the provider does not have it": _l("the provider does not have it"),
    "on the front desk's call list": _l("on the front desk's call list"),
    "outcome was unknown": _l("outcome was unknown"),
    "not sent again, please call": _l("not sent again, please call"),
    "sent before the dispatcher stopped": _l("sent before the dispatcher stopped"),
    "dispatcher stopped before sending": _l("dispatcher stopped before sending"),
    "queued again": _l("queued again"),
    "refused": _l("refused"),
    "no e-mail address": _l("no e-mail address"),
    "no number": _l("no number"),
    "no number or empty text": _l("no number or empty text"),
}


def _status(code: str) -> str:
    return label(VISIT_STATUS_LABELS, code).lower()


STORED_PATTERNS: tuple[tuple[re.Pattern, Callable[[re.Match], str]], ...] = (
    (re.compile(r"not sent: the visit is (\w+)"), lambda m: _("not sent: the visit is %(status)s", status=_status(m[1]))),
    (re.compile(r"falling back to (\w+)"), lambda m: _("falling back to %(channel)s", channel=label(CHANNEL_WORDS, m[1]))),
    (re.compile(r"no answer from the provider \((.*)\)"), lambda m: _("no answer from the provider (%(detail)s)", detail=m[1])),
    (re.compile(r"outcome unknown \((.*)\), please call"),
     lambda m: _("outcome unknown (%(why)s), please call", why=stored_reason(m[1]))),
)  # fmt: skip


def stored_reason(text: str | None) -> str:
    """An outbox row's English ``last_error`` (or a planned message's reason) in the reader's language."""
    if not text:
        return ""
    if isinstance(text, Why):
        return why_text(text)
    parts = []
    for part in text.split("; "):
        known = STORED_REASONS.get(part)
        if known is not None:
            parts.append(str(known))
            continue
        for pattern, say in STORED_PATTERNS:
            match = pattern.fullmatch(part)
            if match:
                parts.append(say(match))
                break
        else:
            parts.append(part)
    return "; ".join(parts)


def _value(fact: str, value: object) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(_value(fact, v) for v in value) + "]"
    if fact == "region":
        return label(SEGMENT_LABELS, value).lower()
    if fact == "language":
        return language_label(value)
    if fact == "channel":
        return label(CHANNEL_WORDS, value)
    return str(value)


def _needs(values: tuple) -> str:
    return ", ".join(label(SEGMENT_LABELS, v).lower() for v in values)


def why_text(why: str) -> str:
    """Why a rule fires or not, in the reader's language (``"age 76 ≥ 70"`` -> ``"leeftijd 76 ≥ 70"``)."""
    if not isinstance(why, Why):
        return stored_reason(why)
    p = why.params
    match why.key:
        case "basic":
            return _("every patient (basic service)")
        case "only_cancelled":
            return _("only when the visit is cancelled")
        case "visit_status":
            return _("the visit is %(status)s", status=_status(p["status"]))
        case "replaced":
            return _("replaced by %(rule)s (%(layer)s)", rule=p["rule"], layer=label(LAYER_LABELS, p["layer"]).lower())
        case "and":
            texts = [why_text(part) for part in p["parts"]]
            sentence = texts[0]
            for text in texts[1:]:
                sentence = _("%(first)s and %(second)s", first=sentence, second=text)
            return sentence
        case "not":
            return _("not (%(reason)s)", reason=why_text(p["parts"][0]))
        case "needs":
            return _("needs %(needs)s", needs=_needs(p["values"]))
        case "needs_not":
            if len(p["values"]) == 1:
                return _("does not need %(needs)s", needs=_needs(p["values"]))
            return _("needs none of %(needs)s", needs=_needs(p["values"]))
        case "unknown":
            return _("%(fact)s unknown", fact=label(FACT_LABELS, p["fact"]))
        case "compare":
            fact, symbol = p["fact"], p["symbol"]
            words = {"fact": label(FACT_LABELS, fact), "actual": _value(fact, p["actual"]), "symbol": symbol,
                     "value": _value(fact, p["value"])}  # fmt: skip
            if p["op"] == "in":
                words["symbol"] = _("in") if p["holds"] else _("not in")
                return _("%(fact)s %(actual)s %(symbol)s %(value)s", **words)
            if p["holds"]:
                return _("%(fact)s %(actual)s %(symbol)s %(value)s", **words)
            return _("%(fact)s %(actual)s not %(symbol)s %(value)s", **words)
    return str(why)


_YES_NO = {"yes": _l("yes"), "no": _l("no"), "-": "-"}
NOTE_PATTERNS: tuple[tuple[re.Pattern, Callable[[re.Match], str]], ...] = (
    (re.compile(r'needed: (yes|no|-), good job: (yes|no|-)(?: — "(.*)")?', re.S),
     lambda m: _("needed: %(needed)s, good job: %(good)s", needed=label(_YES_NO, m[1]), good=label(_YES_NO, m[2]))
     + (f' — "{m[3]}"' if m[3] is not None else "")),
    (re.compile(r"survey (\d+): no answer"), lambda m: _("survey %(id)s: no answer", id=m[1])),
    (re.compile(r"survey (\d+): yes to both"), lambda m: _("survey %(id)s: yes to both", id=m[1])),
    (re.compile(r"survey (\d+) by (\w+)"), lambda m: _("survey %(id)s by %(channel)s", id=m[1],
                                                         channel=label(CHANNEL_WORDS, m[2]))),
    (re.compile(r"overdue: shown to the coordinator"), lambda m: _("overdue: shown to the coordinator")),
)  # fmt: skip


def follow_up_note(text: str | None) -> str:
    """A follow-up's summary or event note as written by the system (``needed: no, good job: yes``), in the
    reader's language; what staff wrote is shown as written."""
    if not text:
        return ""
    for pattern, say in NOTE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return say(match)
    return text
