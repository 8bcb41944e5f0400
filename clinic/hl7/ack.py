"""The acknowledgement (ACK) the listener answers every framed message with, in ER7.

MSA-1 is AA (applied), AE (a field is missing or wrong, or the change clashes with what is stored) or AR
(not a message the feed takes); MSA-2 is the message's MSH-10. A rejected message gets an ERR segment with
the location (segment^1^field) and the reason, in ERR-2/3/4/8 from version 2.5 on and in ERR-1 before; the
reason is also in MSA-3 (cut to its 80 characters) for engines that only read MSA.
"""

import datetime as dt
import uuid

from clinic.hl7.adt import DEFAULT_ENCODING, DEFAULT_VERSION, ERROR_NAMES, Header, Rejected

_ESCAPED = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}
MSA_TEXT_LENGTH = 80


def escape(value: str) -> str:
    """``value`` as ER7 text with the default encoding characters; line breaks become spaces."""
    value = " ".join(value.splitlines())
    return "".join(_ESCAPED.get(char, char) for char in value)


def _version_at_least(version: str, minimum: tuple[int, ...]) -> bool:
    try:
        return tuple(int(part) for part in version.split(".")) >= minimum
    except ValueError:
        return False


def build_ack(
    header: Header | None,
    code: str,
    *,
    application: str,
    rejected: Rejected | None = None,
    now: dt.datetime | None = None,
) -> str:
    """The ACK (segments separated by CR) of the message with ``header`` (None: its MSH was unreadable)."""
    header = header or Header()
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    version = header.version or DEFAULT_VERSION
    message_type = "ACK"
    if header.event:
        message_type += "^" + escape(header.event) + ("^ACK" if _version_at_least(version, (2, 4)) else "")
    msh = [
        "MSH",
        DEFAULT_ENCODING,
        escape(application),
        escape(header.receiving_facility),
        escape(header.sending_application),
        escape(header.sending_facility),
        now.strftime("%Y%m%d%H%M%S+0000"),
        "",
        message_type,
        uuid.uuid4().hex[:20].upper(),
        escape(header.processing_id or "P"),
        escape(version),
    ]
    msa = ["MSA", code, escape(header.control_id or "")]
    segments = ["|".join(msh)]
    if rejected is None:
        segments.append("|".join(msa))
        return "\r".join(segments) + "\r"
    msa.append(escape(rejected.text[:MSA_TEXT_LENGTH]))
    segments.append("|".join(msa))
    location = "^".join(
        part for part in (rejected.segment or "", "1" if rejected.segment else "", str(rejected.field or ""))
    ).rstrip("^")
    name = ERROR_NAMES.get(rejected.error, "")
    if _version_at_least(version, (2, 5)):
        error = f"{rejected.error}^{escape(name)}^HL70357"
        segments.append("|".join(["ERR", "", location, error, "E", "", "", "", escape(rejected.text)]))
    else:
        error = f"{rejected.error}&{escape(name)}&HL70357"
        segments.append("|".join(["ERR", "^".join([*(location.split("^") + ["", "", ""])[:3], error])]))
    return "\r".join(segments) + "\r"
