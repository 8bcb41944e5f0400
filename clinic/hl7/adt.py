"""Reading an ADT message (ER7) into a command: register, update or merge a patient.

hl7apy parses the segments the feed reads (MSH, PID, MRG) in its tolerant mode; the components of the
fields used are taken from the parsed repetitions and unescaped here, the same way for every HL7 version
hl7apy knows (2.1 to 2.8.2). Only those segments are parsed: the others (EVN, PV1, NK1, ...) are not read,
and parsing the whole message costs several times as much.

A problem raises ``Rejected`` with the ACK code it deserves: ``AR`` when the message is not one the feed
takes (not HL7, an unsupported version or trigger), ``AE`` when a field it needs is missing or wrong,
naming the segment-field, e.g. "PID-7 birth date 20261350 is not a date".
"""

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Any

from hl7apy import SUPPORTED_LIBRARIES
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_segment

from clinic.columns import Language
from clinic.errors import ValidationError
from clinic.patients.records import PatientRecord, parse_record

DEFAULT_VERSION = "2.5"
DEFAULT_ENCODING = "^~\\&"

REGISTER = frozenset({"A04", "A28"})
UPDATE = frozenset({"A08", "A31"})
MERGE = frozenset({"A40"})
TRIGGERS = REGISTER | UPDATE | MERGE

# HL7 table 0357, message error condition codes
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT = "201"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
SEGMENT_SEQUENCE_ERROR = "100"
INTERNAL_ERROR = "207"

ERROR_NAMES = {
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT: "Unsupported event code",
    UNSUPPORTED_VERSION: "Unsupported version id",
    UNKNOWN_KEY: "Unknown key identifier",
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    INTERNAL_ERROR: "Application internal error",
}

LANGUAGES = {
    "nl": Language.NL, "nld": Language.NL, "dut": Language.NL,
    "fr": Language.FR, "fra": Language.FR, "fre": Language.FR,
    "en": Language.EN, "eng": Language.EN,
}
"""PID-15 codes (ISO 639-1 or -2, any case, a region after ``-`` ignored) to the languages the unit speaks;
another language is left unset (the patient's current one stays; Dutch for a new patient)."""

FIELD_LOCATIONS = {
    "mrn": ("PID", 3, "patient identifier"),
    "given_name": ("PID", 5, "given name"),
    "family_name": ("PID", 5, "family name"),
    "birth_date": ("PID", 7, "birth date"),
    "address_line": ("PID", 11, "street address"),
    "postcode": ("PID", 11, "postcode"),
    "city": ("PID", 11, "city"),
    "phone": ("PID", 13, "phone"),
    "email": ("PID", 13, "e-mail"),
    "language": ("PID", 15, "primary language"),
}
"""Where each field of a ``PatientRecord`` comes from, to name it in an error."""


@dataclass(frozen=True)
class Header:
    """What the ACK and the inbound log need from MSH, read before anything else can fail."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    control_id: str | None = None
    message_type: str = ""
    event: str = ""
    version: str = DEFAULT_VERSION
    processing_id: str = "P"
    encoding: str = DEFAULT_ENCODING

    @property
    def trigger(self) -> str | None:
        """``ADT^A04``, or None when MSH-9 was unreadable."""
        return f"{self.message_type}^{self.event}" if self.message_type else None


class Rejected(Exception):
    """The message cannot be applied; ``code`` is the ACK's MSA-1 (AE or AR), ``error`` an HL7 table 0357
    code, ``segment``/``field`` the location (``PID``, 7), ``text`` the reason, ``header`` the message's MSH
    when it could be read."""

    def __init__(
        self,
        code: str,
        text: str,
        *,
        error: str,
        segment: str | None = None,
        field: int | None = None,
        header: Header | None = None,
    ):
        super().__init__(text)
        self.code = code
        self.text = text
        self.error = error
        self.segment = segment
        self.field = field
        self.header = header


@dataclass(frozen=True)
class Register:
    header: Header
    record: PatientRecord


@dataclass(frozen=True)
class Update:
    header: Header
    record: PatientRecord


@dataclass(frozen=True)
class Merge:
    """A40: ``survivor_mrn`` (PID-3) is the surviving patient, ``merged_mrn`` the record merged into it
    (MRG-1). ``record`` is PID's demographics when PID carries all the required ones (the survivor is then
    created or updated from it first), None when an engine sends the usual minimal PID (identifiers and
    name): the survivor must then be known already."""

    header: Header
    survivor_mrn: str
    merged_mrn: str
    record: PatientRecord | None


Command = Register | Update | Merge


def decode(payload: bytes) -> str:
    """UTF-8 (ASCII included), else ISO 8859-1, which many Dutch and Belgian systems send (MSH-18 8859/1)."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("iso-8859-1")


def segments(text: str) -> list[str]:
    """The message's segments: CR is the separator, LF and CRLF are taken too; blank lines are dropped, and
    NUL characters (not HL7 text, and refused by PostgreSQL) too."""
    text = text.replace("\x00", "").strip("\x0b\x1c\r\n ")
    return [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]


_ESCAPES = {"F": "field", "S": "component", "T": "subcomponent", "R": "repetition", "E": "escape"}


class Encoding:
    """The message's separators (MSH-1, MSH-2) and unescaping."""

    def __init__(self, field: str, characters: str):
        if len(characters) < 4 or len(set(field + characters[:4])) != 5:
            raise Rejected("AR", "MSH-2 encoding characters are not valid", error=DATA_TYPE_ERROR,
                           segment="MSH", field=2)
        self.field = field
        self.component, self.repetition, self.escape, self.subcomponent = characters[:4]
        self.characters = characters[:4]
        self._escaped = re.compile(re.escape(self.escape) + r"([^" + re.escape(self.escape) + r"]*)"
                                   + re.escape(self.escape))

    def hl7apy(self) -> dict[str, str] | None:
        if self.field + self.characters == "|" + DEFAULT_ENCODING:
            return None
        return {"FIELD": self.field, "COMPONENT": self.component, "REPETITION": self.repetition,
                "ESCAPE": self.escape, "SUBCOMPONENT": self.subcomponent, "GROUP": "\r", "SEGMENT": "\r"}

    def unescape(self, value: str) -> str:
        def one(match: re.Match) -> str:
            name = _ESCAPES.get(match.group(1))
            return getattr(self, name) if name else ""

        return self._escaped.sub(one, value) if self.escape in value else value

    def components(self, er7: str) -> list[list[str]]:
        """One field repetition as its components, each a list of its subcomponents, unescaped (an escaped
        separator such as ``\\T\\`` is text, not a separator)."""
        return [[self.unescape(sub) for sub in part.split(self.subcomponent)] for part in er7.split(self.component)]


Parts = list[list[str]]


def _pick(parts: Parts, index: int) -> str:
    """The first subcomponent of component ``index`` (1-based), stripped; "" when absent."""
    return parts[index - 1][0].strip() if len(parts) >= index else ""


def _subs(parts: Parts, index: int) -> list[str]:
    """Every subcomponent of component ``index`` (1-based), stripped."""
    return [sub.strip() for sub in parts[index - 1]] if len(parts) >= index else []


def _parse(segment_text: str, header: Header, encoding: Encoding) -> Any:
    try:
        return parse_segment(segment_text, version=header.version, encoding_chars=encoding.hl7apy(),
                             validation_level=VALIDATION_LEVEL.TOLERANT)
    except HL7apyException as exc:
        name = segment_text[:3]
        raise Rejected("AE", f"{name} segment cannot be read: {exc}", error=DATA_TYPE_ERROR, segment=name) from None
    except Exception as exc:  # noqa: BLE001 - hl7apy raises plain errors on some malformed input
        name = segment_text[:3]
        raise Rejected("AE", f"{name} segment cannot be read ({type(exc).__name__})", error=DATA_TYPE_ERROR,
                       segment=name) from None



def read_header(text: str) -> tuple[Header, list[str], Encoding]:
    """MSH of ``text`` with the message's segments and encoding; ``Rejected`` AR when it is not an HL7
    message, has no control id or is of a version hl7apy does not know.

    MSH is read by splitting it (it must be readable to answer at all, even when hl7apy would refuse it)."""
    lines = segments(text)
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        raise Rejected("AR", "not an HL7 message: it does not start with an MSH segment",
                       error=SEGMENT_SEQUENCE_ERROR, segment="MSH")
    msh = lines[0]
    separator = msh[3]
    encoding = Encoding(separator, msh[4:].split(separator, 1)[0])
    fields = msh.split(separator)

    def msh_field(n: int) -> str:  # MSH-1 is the separator itself, so MSH-n is fields[n - 1]
        return fields[n - 1] if len(fields) >= n else ""

    def first_component(n: int, limit: int) -> str:
        return _pick(encoding.components(msh_field(n).split(encoding.repetition)[0]), 1)[:limit]

    message_type = encoding.components(msh_field(9))
    header = Header(
        sending_application=first_component(3, 227),
        sending_facility=first_component(4, 227),
        receiving_application=first_component(5, 227),
        receiving_facility=first_component(6, 227),
        control_id=encoding.unescape(msh_field(10)).strip()[:199] or None,
        message_type=_pick(message_type, 1)[:3],
        event=_pick(message_type, 2)[:3],
        version=first_component(12, 10) or DEFAULT_VERSION,
        processing_id=first_component(11, 3) or "P",
        encoding=encoding.characters,
    )
    if header.control_id is None:
        raise Rejected("AR", "MSH-10 message control id is missing", error=REQUIRED_FIELD_MISSING,
                       segment="MSH", field=10, header=header)
    if header.version not in SUPPORTED_LIBRARIES:
        raise Rejected("AR", f"MSH-12 version {header.version} is not supported", error=UNSUPPORTED_VERSION,
                       segment="MSH", field=12, header=replace(header, version=DEFAULT_VERSION))
    return header, lines, encoding


READ_FIELDS = {"PID": (3, 5, 7, 11, 13, 15), "MRG": (1,)}
"""The fields read of each segment: only they are handed to hl7apy (the others blanked), which halves the
parsing time of a typical PID."""


def _segment(lines: list[str], name: str, header: Header, encoding: Encoding) -> Any:
    found = [line for line in lines if line[:3] == name and (len(line) == 3 or line[3] == encoding.field)]
    if not found:
        raise Rejected("AE", f"{name} segment is missing", error=SEGMENT_SEQUENCE_ERROR, segment=name, header=header)
    fields = found[0].split(encoding.field)
    kept = READ_FIELDS[name]
    trimmed = [name] + [fields[n] if n in kept and n < len(fields) else "" for n in range(1, max(kept) + 1)]
    return _parse(encoding.field.join(trimmed), header, encoding)


def _repetitions(segment: Any, name: str, encoding: Encoding) -> list[Parts]:
    """The non-empty repetitions of field ``name`` (``pid_3``) of a parsed segment, as components."""
    try:
        field = getattr(segment, name)
    except HL7apyException:
        return []
    return [parts for parts in (encoding.components(rep.to_er7(encoding_chars=encoding.hl7apy())) for rep in field)
            if any(sub.strip() for part in parts for sub in part)]


def _identifier(repetitions: list[Parts], authority: str | None) -> str | None:
    """CX-1 of the repetition whose assigning authority (CX-4, its namespace or universal id) is
    ``authority``, or of the first repetition when no authority is configured."""
    for parts in repetitions:
        if not authority:
            return _pick(parts, 1) or None
        if authority in _subs(parts, 4)[:2]:
            return _pick(parts, 1) or None
    return None


def _missing(segment: str, field: int, what: str, header: Header) -> Rejected:
    return Rejected("AE", f"{segment}-{field} {what} is missing", error=REQUIRED_FIELD_MISSING, segment=segment,
                    field=field, header=header)


def _mrn(segment: Any, name: str, authority: str | None, header: Header, encoding: Encoding, what: str) -> str:
    seg, field = name.split("_")[0].upper(), int(name.split("_")[1])
    repetitions = _repetitions(segment, name, encoding)
    mrn = _identifier(repetitions, authority)
    if mrn is None:
        if repetitions and authority:
            raise Rejected("AE", f"{seg}-{field} {what} has no identifier of assigning authority {authority}",
                           error=UNKNOWN_KEY, segment=seg, field=field, header=header)
        raise _missing(seg, field, what, header)
    return mrn


def _birth_date(value: str, header: Header) -> dt.date:
    digits = value.strip()
    if not digits:
        raise _missing("PID", 7, "birth date", header)
    try:
        if not re.fullmatch(r"\d{8}([0-9.+-]*)", digits):
            raise ValueError
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise Rejected("AE", f"PID-7 birth date {digits} is not a date (YYYYMMDD)", error=DATA_TYPE_ERROR,
                       segment="PID", field=7, header=header) from None


def _name(repetitions: list[Parts]) -> tuple[str, str]:
    """(family, given) of the legal name (XPN-7 ``L``) or the first."""
    chosen = next((parts for parts in repetitions if _pick(parts, 7) == "L"), repetitions[0] if repetitions else [])
    return _pick(chosen, 1), _pick(chosen, 2)


def _address(repetitions: list[Parts]) -> tuple[str, str, str]:
    """(street line, postcode, city) of the first home address (XAD-7 ``H``) with a street, else of the
    first address with one. The street is SAD-1, or SAD-2 (street name) and SAD-3 (house number) as Dutch
    profiles send it, followed by XAD-2 (other designation, e.g. a house number addition)."""

    def line(parts: Parts) -> str:
        sad = _subs(parts, 1) + ["", "", ""]
        street = sad[0] or " ".join(piece for piece in sad[1:3] if piece)
        return " ".join(piece for piece in (street, _pick(parts, 2)) if piece)

    ordered = sorted(repetitions, key=lambda parts: _pick(parts, 7).upper() != "H")
    chosen = next((parts for parts in ordered if line(parts)), ordered[0] if ordered else [])
    return line(chosen), _pick(chosen, 5), _pick(chosen, 3)


def _is_email(parts: Parts) -> bool:
    return _pick(parts, 2).upper() == "NET" or _pick(parts, 3).lower() in ("internet", "x.400")


def _phone_of(parts: Parts) -> str:
    """XTN-12 (unformatted), else +XTN-5 XTN-6 XTN-7, else XTN-1 (the old free-text number)."""
    if _pick(parts, 12):
        return _pick(parts, 12)
    if _pick(parts, 7):
        country = _pick(parts, 5).lstrip("+0")
        number = _pick(parts, 6) + _pick(parts, 7)
        return f"+{country}{number}" if country else number
    return _pick(parts, 1)


def _contacts(repetitions: list[Parts]) -> tuple[str, str | None]:
    """(phone, e-mail) from PID-13: a mobile (XTN-3 ``CP``) before another phone, an e-mail address from a
    repetition of use ``NET`` or type ``Internet`` (XTN-4, else XTN-1)."""
    phones = [parts for parts in repetitions if not _is_email(parts) and _phone_of(parts)]
    phones.sort(key=lambda parts: _pick(parts, 3).upper() != "CP")
    emails = [_pick(parts, 4) or _pick(parts, 1) for parts in repetitions if _is_email(parts)]
    return (_phone_of(phones[0]) if phones else ""), next((mail for mail in emails if mail), None)


def _language(repetitions: list[Parts]) -> Language | None:
    code = _pick(repetitions[0], 1).lower().split("-")[0].split("_")[0] if repetitions else ""
    return LANGUAGES.get(code)


def _record(pid: Any, authority: str | None, header: Header, encoding: Encoding) -> PatientRecord:
    mrn = _mrn(pid, "pid_3", authority, header, encoding, "patient identifier")
    family, given = _name(_repetitions(pid, "pid_5", encoding))
    if not family:
        raise _missing("PID", 5, "patient name (family name)", header)
    if not given:
        raise _missing("PID", 5, "patient name (given name)", header)
    birth_dates = _repetitions(pid, "pid_7", encoding)
    birth = _birth_date(_pick(birth_dates[0], 1) if birth_dates else "", header)
    line, postcode, city = _address(_repetitions(pid, "pid_11", encoding))
    for value, what in ((line, "street address"), (postcode, "postcode"), (city, "city")):
        if not value:
            raise _missing("PID", 11, f"patient address ({what})", header)
    phone, email = _contacts(_repetitions(pid, "pid_13", encoding))
    if not phone:
        raise _missing("PID", 13, "phone number", header)
    data = {"mrn": mrn, "given_name": given, "family_name": family, "birth_date": birth, "phone": phone,
            "email": email, "language": _language(_repetitions(pid, "pid_15", encoding)),
            "address_line": line, "postcode": postcode, "city": city}
    try:
        return parse_record(data)
    except ValidationError as exc:
        segment, field, what = FIELD_LOCATIONS.get(exc.field or "", ("PID", None, exc.field or "value"))
        shown = data.get(exc.field or "")
        raise Rejected("AE", f"{segment}-{field} {what} {shown}: {exc.message}", error=DATA_TYPE_ERROR,
                       segment=segment, field=field, header=header) from None


def parse(text: str, *, assigning_authority: str | None = None) -> Command:
    """The command ``text`` (one ER7 message) asks for, or ``Rejected`` saying why not.

    ``assigning_authority``: the record number is PID-3's identifier of that authority (CX-4); without it,
    the first identifier."""
    header, lines, encoding = read_header(text)
    if header.message_type != "ADT":
        raise Rejected("AR", f"MSH-9 message type {header.message_type or '(empty)'} is not supported: "
                       "the feed takes ADT", error=UNSUPPORTED_MESSAGE_TYPE, segment="MSH", field=9, header=header)
    if header.event not in TRIGGERS:
        raise Rejected("AR", f"MSH-9 trigger event {header.event or '(empty)'} is not supported: the feed takes "
                       f"{', '.join(sorted(TRIGGERS))}", error=UNSUPPORTED_EVENT, segment="MSH", field=9,
                       header=header)
    pid = _segment(lines, "PID", header, encoding)
    if header.event in MERGE:
        return _merge(header, lines, encoding, pid, assigning_authority)
    record = _record(pid, assigning_authority, header, encoding)
    if header.event in REGISTER:
        return Register(header=header, record=record)
    return Update(header=header, record=record)


def _merge(header: Header, lines: list[str], encoding: Encoding, pid: Any, authority: str | None) -> Merge:
    survivor = _mrn(pid, "pid_3", authority, header, encoding, "patient identifier").upper()
    try:
        record: PatientRecord | None = _record(pid, authority, header, encoding)
    except Rejected as problem:
        if problem.error != REQUIRED_FIELD_MISSING:
            raise
        record = None
    mrg = _segment(lines, "MRG", header, encoding)
    merged = _mrn(mrg, "mrg_1", authority, header, encoding, "prior patient identifier").upper()
    if merged == survivor:
        raise Rejected("AE", f"MRG-1 prior patient identifier {merged} is the surviving patient's own (PID-3)",
                       error=DATA_TYPE_ERROR, segment="MRG", field=1, header=header)
    return Merge(header=header, survivor_mrn=survivor, merged_mrn=merged, record=record)
