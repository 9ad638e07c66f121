"""One inbound mail as plain values, whatever bytes arrive.

`parse` never raises: a mail that cannot be read completely is still a mail
that must be recorded (by its Message-ID) and either answered, ignored with
a reason or flagged for the team. So every step falls back to something
smaller, and `problems` names what went wrong:

- ``parse_failed``: the email package gave up; only a synthetic id is left;
- ``too_big``: more than `max_bytes`; only the first `max_bytes` were read;
- ``malformed_mime``: broken multipart structure (lost boundary, no header
  separator, a part that claims to be multipart but is not, too deep nesting);
- ``bad_encoding``: broken base64 in a body part (what decodes is kept);
- ``bad_charset``: a declared charset that is unknown or does not fit the bytes;
- ``bad_header``: a header the email package could not parse (we fell back);
- ``bad_html``: HTML the HTML reader choked on (we stripped tags instead);
- ``no_message_id`` / ``bad_message_id``: the id is synthetic;
- ``no_from``: no usable sender address;
- ``bad_date``: a Date header that is no date;
- ``no_body``: no readable text at all;
- ``subject_too_long``: the subject was cut to `MAX_SUBJECT` characters;
- ``text_too_long``: the body text was cut to `MAX_TEXT` characters;
- ``attachment_too_big``: an attachment above `max_attachment` (listed, not decoded);
- ``too_many_parts``: the mail was cut after `MAX_PARTS` parts or `MAX_DEPTH`
  boundaries.

Unstructured header values (the subject, file names) are decoded by our own
code (RFC 2047 words, raw 8-bit bytes) rather than through the email
package's header registry, which can raise or silently drop text on
malformed input. Addresses do go through the registry (it knows groups,
comments and quoting), with a plain pattern to fall back on.

Limits keep the cost of one mail bounded whatever it holds, so a hostile or
broken mail cannot stall the inbound pipeline: see `_limit_parts`,
`_tame_html` and the MAX_* values below.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import errors, policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html import unescape
from typing import Literal

from bot.mail.headers import ref_from_thread_id
from bot.understanding import html_to_text, mail_text

MAX_BYTES = 10_000_000
MAX_ATTACHMENT = 5_000_000
MAX_SUBJECT = 1000
MAX_NAME = 200
MAX_TEXT = 200_000  # far beyond any real request; keeps the memory per mail bounded
MAX_HTML = 1_000_000  # Word's HTML of a long thread stays well below this
# The new words are at the top, so only the head of a very long text is read.
# (The quote reader is linear in the number of lines; the head bounds the cost
# of a hostile mail all the same, and keeps what is read the same as before.)
MAX_READ_CHARS = 20_000
MAX_READ_LINES = 500
MAX_PARTS = 500
MAX_DEPTH = 30
MAX_IDS = 100
MAX_CALENDAR = 100_000  # a calendar reply is a few kilobytes; more is not read
_CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})
MAX_MESSAGE_ID = 250  # the inbound table keeps 500 characters
# The registry's address parser is quadratic on some input ('"' * 20_000 takes
# seconds); a longer value is read with a plain pattern instead.
_MAX_PARSED_ADDRESS_HEADER = 2_000

SYNTHETIC_DOMAIN = "synthetic.sto.invalid"  # .invalid: can never be a real mail's id

_REFERENCE = re.compile(r"(?<![A-Za-z0-9])STO-(\d{4})-(\d{4,6})(?![0-9])", re.IGNORECASE)
_MSG_ID = re.compile(r"<([^<>\s\x00-\x1f\x7f]{1,998})>")
_BARE_ID = re.compile(r"[^<>\s\x00-\x1f\x7f@]+@[^<>\s\x00-\x1f\x7f@]+")
_SPEC = r"[^\s<>@\",;:()\[\]\\]{1,64}@[^\s<>@\",;:()\[\]\\]{1,255}"
_ADDRESS = re.compile(_SPEC)
# An address inside other text: whole, never the first 255 characters of a longer run.
_ADDRESS_IN_TEXT = re.compile(rf"(?<![^\s<>,;:\"()\[\]]){_SPEC}(?![^\s<>,;:\"()\[\]])")
_SIMPLE_MAILBOX = re.compile(
    rf'\s*(?:(?:"(?P<quoted>[^"\\]*)"|(?P<name>[^"<>,;:()\\@]*?))\s*<(?P<angle>{_SPEC})>'
    rf"|(?P<bare>{_SPEC}))\s*"
)
_CONTENT_TYPE = re.compile(r"\s*([\w!#$%&'*+.^`|~-]+/[\w!#$%&'*+.^`|~-]+)")
_PARAM = re.compile(r";\s*([\w!#$%&'*+.^`|~-]+)\s*=\s*(\"[^\"]*\"|[^;\s]*)")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_ENCODED_WORD = re.compile(r"=\?([^?\s*]{1,60})(?:\*[^?\s]{0,20})?\?([bBqQ])\?([^?\s]{0,4000})\?=")
_BOUNDARY_PARAM = re.compile(
    rb'boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.IGNORECASE
)
_BOUNDARY_LINE = re.compile(r"^--([0-9A-Za-z'()+_,./:=?-]{1,70})[ \t]*\r?$", re.MULTILINE)
_MIME_LINE = re.compile(r"--\S*\s*$|content-[\w-]+:", re.IGNORECASE)
_TAG_LIKE = re.compile(r"</?[A-Za-z][^<>]*>|<![^<>]*>|<\?[^<>]*>")

# Defect classes that mean the structure itself is broken.
_STRUCTURE_DEFECTS = (
    errors.StartBoundaryNotFoundDefect,
    errors.CloseBoundaryNotFoundDefect,
    errors.MultipartInvariantViolationDefect,
    errors.FirstHeaderLineIsContinuationDefect,
    errors.MisplacedEnvelopeHeaderDefect,
    errors.MissingHeaderBodySeparatorDefect,
    errors.NoBoundaryInMultipartDefect,
)
_ENCODING_DEFECTS = (
    errors.InvalidBase64PaddingDefect,
    errors.InvalidBase64CharactersDefect,
    errors.InvalidBase64LengthDefect,
)

# Labels mail clients use that Python's codecs do not know, or know as a
# stricter sibling: decode the way browsers do (WHATWG Encoding Standard).
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "x-user-defined": "cp1252",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "shift_jis": "cp932",
    "unicode-1-1-utf-7": "utf-7",
}
# Python's own codecs that are no charset a mail can declare.
_NOT_CHARSETS = frozenset(
    {"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined", "unicode_internal"}
)
# Declared single-byte charsets that are often really UTF-8 (see _decode_bytes).
_WESTERN = frozenset({"ascii", "cp1252", "latin_1", "iso8859_15"})
# Header fields added on the way (per hop, per delivery): left out of the
# synthetic id, so the same mail delivered twice gets the same id.
_TRACE = frozenset(
    {
        b"received",
        b"return-path",
        b"delivered-to",
        b"x-original-to",
        b"authentication-results",
        b"received-spf",
        b"x-received",
        b"arc-seal",
        b"arc-message-signature",
        b"arc-authentication-results",
    }
)
_PARSER = BytesParser(policy=policy.default)


class _Problems:
    """An ordered set of problem names."""

    def __init__(self) -> None:
        self._names: dict[str, None] = {}

    def add(self, name: str) -> None:
        self._names[name] = None

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def as_tuple(self) -> tuple[str, ...]:
        return tuple(self._names)


class Headers(Mapping[str, tuple[str, ...]]):
    """Header fields by case-insensitive name: every value, in order, unfolded.

    Values are as written (RFC 2047 words not decoded: an address header must
    stay parseable), with raw 8-bit bytes turned into text.
    """

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        fields: dict[str, list[str]] = {}
        for name, value in items:
            fields.setdefault(name.strip().lower(), []).append(value)
        self._fields = {name: tuple(values) for name, values in fields.items()}

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return self._fields[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def first(self, name: str, default: str = "") -> str:
        values = self._fields.get(name.lower())
        return values[0] if values else default

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._fields == other._fields

    def __hash__(self) -> int:
        return hash(tuple(self._fields.items()))

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


@dataclass(frozen=True)
class Attachment:
    """A part that is no body text.

    `size` is in bytes, decoded; it is estimated from the encoded size (and
    the part never decoded) when `oversized`, and for an attached mail
    (message/rfc822, a bounce's delivery-status) it counts its bodies only.
    """

    filename: str
    content_type: str
    size: int
    oversized: bool = False


@dataclass(frozen=True)
class ParsedMail:
    """One inbound mail, as far as it could be read; `problems` says what could not."""

    message_id: str  # "<...>"; synthetic (and flagged) when missing or unusable
    message_id_synthetic: bool
    from_address: str  # lower-cased addr-spec, "" when there is none
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    date: datetime | None  # always aware
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    reference: str | None  # "STO-2027-0042"
    text: str
    text_source: Literal["plain", "html", ""]
    new_text: str
    attachments: tuple[Attachment, ...]
    headers: Headers
    authentication_results: tuple[str, ...]
    content_type: str  # of the whole message, e.g. "multipart/report"
    size: int  # bytes received
    problems: tuple[str, ...]
    # The first iCalendar part (text/calendar, or an attached .ics), as text: a
    # calendar's answer to an invitation says what it is there (METHOD:REPLY).
    # The part is listed in `attachments` too.
    calendar: str = ""


def parse(
    raw: bytes, *, max_bytes: int = MAX_BYTES, max_attachment: int = MAX_ATTACHMENT
) -> ParsedMail:
    """Read one mail; never raises. What was wrong is listed in `problems`."""
    problems = _Problems()
    try:
        return _parse(bytes(raw), max_bytes, max_attachment, problems)
    except Exception:  # the last line of defence: a mail is never lost to a crash
        problems.add("parse_failed")
        return _unreadable(raw, problems)


def _unreadable(raw: object, problems: _Problems) -> ParsedMail:
    data = raw if isinstance(raw, bytes) else b""
    try:
        mid = _synthetic_id(data)
    except Exception:
        mid = f"<unreadable@{SYNTHETIC_DOMAIN}>"
    problems.add("no_body")
    return ParsedMail(
        message_id=mid,
        message_id_synthetic=True,
        from_address="",
        from_name="",
        to=(),
        cc=(),
        reply_to=(),
        subject="",
        date=None,
        in_reply_to=(),
        references=(),
        reference=None,
        text="",
        text_source="",
        new_text="",
        attachments=(),
        headers=Headers(),
        authentication_results=(),
        content_type="",
        size=len(data),
        problems=problems.as_tuple(),
    )


def _parse(raw: bytes, max_bytes: int, max_attachment: int, problems: _Problems) -> ParsedMail:
    data = raw
    if len(raw) > max_bytes:
        problems.add("too_big")
        data = raw[:max_bytes]
    data = _limit_parts(data, problems)
    try:
        msg = _PARSER.parsebytes(data)
    except Exception:  # e.g. RecursionError on absurd nesting: read the headers alone
        problems.add("malformed_mime")
        msg = _PARSER.parsebytes(data, headersonly=True)
    headers = Headers((name, _header_text(value)) for name, value in msg.raw_items())

    message_id, synthetic = _message_id(headers, raw, problems)
    senders = _addresses(headers, "from", problems)
    if not senders:
        problems.add("no_from")
    subject = _subject(headers.first("subject"), problems)
    body = _Body(max_attachment, problems)
    body.read(msg)
    text, source = body.text()
    new = _new_text(text)
    in_reply_to = _ids(headers.get("in-reply-to", ()))
    references = _ids(headers.get("references", ()))
    if not text.strip():
        problems.add("no_body")
    return ParsedMail(
        message_id=message_id,
        message_id_synthetic=synthetic,
        from_address=senders[0][1] if senders else "",
        from_name=senders[0][0] if senders else "",
        to=tuple(a for _, a in _addresses(headers, "to", problems)),
        cc=tuple(a for _, a in _addresses(headers, "cc", problems)),
        reply_to=tuple(a for _, a in _addresses(headers, "reply-to", problems)),
        subject=subject,
        date=_date(headers.first("date"), problems),
        in_reply_to=in_reply_to,
        references=references,
        reference=_reference(subject, (*in_reply_to, *references), new, text),
        text=text,
        text_source=source,
        new_text=new,
        attachments=tuple(body.attachments),
        headers=headers,
        authentication_results=headers.get("authentication-results", ()),
        content_type=_part_info(msg).content_type,
        size=len(raw),
        problems=problems.as_tuple(),
        calendar=body.calendar or "",
    )


def _limit_parts(data: bytes, problems: _Problems) -> bytes:
    """The mail cut before its part beyond `MAX_PARTS` or its boundary beyond `MAX_DEPTH`.

    The email package's parser does work for every part and, for nested
    multiparts, for every line at every level: thousands of parts or levels
    take it seconds. Cutting the raw bytes first keeps the top of the mail,
    where its text is, and the cost bounded.
    """
    boundaries: list[bytes] = []
    for found in _BOUNDARY_PARAM.finditer(data):
        boundary = found.group(1) or found.group(2)
        if boundary in boundaries:
            continue
        if len(boundaries) >= MAX_DEPTH:
            problems.add("too_many_parts")
            data = data[: found.start()]
            break
        boundaries.append(boundary)
    delimiters: list[int] = []
    for boundary in boundaries:
        needle = b"\n--" + boundary
        position = data.find(needle)
        count = 0
        while position >= 0 and count <= MAX_PARTS:
            delimiters.append(position)
            count += 1
            position = data.find(needle, position + len(needle))
    if len(delimiters) > MAX_PARTS:
        problems.add("too_many_parts")
        data = data[: sorted(delimiters)[MAX_PARTS]]
    return data


# --- charsets ---------------------------------------------------------------


def _codec(label: str | None) -> str | None:
    """The Python codec for a declared charset label, or None when there is none."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


def _decode_bytes(data: bytes, label: str | None) -> tuple[str, bool]:
    """Text from bytes in the declared charset, else UTF-8, else windows-1252.

    The second value says whether the declared charset was right. Without a
    label the charset is US-ASCII (RFC 2045). A mail declaring a western
    single-byte charset whose bytes are valid, non-ASCII UTF-8 is read as
    UTF-8: such byte pairs ("Ã©") are never what someone typed, while UTF-8
    labelled iso-8859-1 is common. windows-1252 decodes every byte (see
    `_c1`), so nothing is ever lost.
    """
    codec = _codec(label) if label else "ascii"
    if codec in _WESTERN and not data.isascii():
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    if codec is not None:
        try:
            return data.decode(codec, _C1 if codec == "cp1252" else "strict"), True
        except Exception:  # UnicodeError, or a codec that fails in its own way
            pass
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("cp1252", _C1), False


def _c1(error: UnicodeError) -> tuple[str, int]:
    """The five bytes windows-1252 leaves undefined, read as the C1 controls they are in
    iso-8859-1: what browsers do (WHATWG), and what makes windows-1252 decode every byte."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin_1"), error.end


_C1 = "sto-windows-1252-c1"
codecs.register_error(_C1, _c1)


def _fix_surrogates(text: str) -> str:
    """Raw 8-bit bytes (kept by the parser as surrogates) decoded as UTF-8 or windows-1252."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return _decode_bytes(text.encode("utf-8", "surrogateescape"), "utf-8")[0]


def _header_text(value: object) -> str:
    """A raw header value as one line of text, raw 8-bit bytes decoded."""
    text = value if isinstance(value, str) else str(value)
    return _fix_surrogates(_FOLD.sub("", text))


def _raw_header(part: Message, name: str) -> str:
    """A part's header value as written, without the registry's parsing (which may raise)."""
    for key, value in part.raw_items():
        if key.lower() == name:
            return _header_text(value)
    return ""


def _one_line(text: str) -> str:
    """Control characters and runs of white space collapsed to one space."""
    if not text.isascii() or not text.isprintable():
        text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(text.split())


def _decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded; a word that does not decode stays as written.

    Adjacent words of one charset are joined before decoding, so a character
    split over two words (some clients split bytes, not characters) comes
    out whole; the white space between adjacent words is no text (RFC 2047 6.2).
    """
    if "=?" not in value:
        return value
    pieces: list[str] = []
    run = bytearray()
    run_charset: str | None = None
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        position = match.end()
        data = _word_bytes(match.group(2), match.group(3))
        adjacent = run_charset is not None and not gap.strip()
        if data is None:
            if run_charset is not None:
                pieces.append(_decode_bytes(bytes(run), run_charset)[0])
            run, run_charset = bytearray(), None
            pieces.append(gap + match.group())
            continue
        charset = match.group(1).lower()
        if adjacent and charset == run_charset:
            run += data
            continue
        if run_charset is not None:
            pieces.append(_decode_bytes(bytes(run), run_charset)[0])
        if not adjacent:
            pieces.append(gap)
        run, run_charset = bytearray(data), charset
    if run_charset is not None:
        pieces.append(_decode_bytes(bytes(run), run_charset)[0])
    pieces.append(value[position:])
    return "".join(pieces)


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    if not payload.isascii():
        return None
    try:
        if encoding in "qQ":
            return binascii.a2b_qp(payload.encode("ascii"), header=True)
        return base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


# --- header fields ------------------------------------------------------------


def _subject(raw: str, problems: _Problems) -> str:
    limit = MAX_SUBJECT * 20  # decode no more than can survive the cut
    if len(raw) > limit:
        raw = raw[:limit]
        problems.add("subject_too_long")
    subject = _one_line(_decode_words(raw))
    if len(subject) > MAX_SUBJECT:
        problems.add("subject_too_long")
        subject = subject[:MAX_SUBJECT].rstrip()
    return subject


def _message_id(headers: Headers, raw: bytes, problems: _Problems) -> tuple[str, bool]:
    value = headers.first("message-id").strip()
    if not value:
        problems.add("no_message_id")
        return _synthetic_id(raw), True
    found = _MSG_ID.search(value)
    token = f"<{found.group(1)}>" if found else None
    if token is None and _BARE_ID.fullmatch(value):
        token = f"<{value}>"  # some mailers forget the angle brackets
    if token is None or len(token) > MAX_MESSAGE_ID:
        problems.add("bad_message_id")
        return _synthetic_id(raw), True
    return token, False


def _synthetic_id(raw: bytes) -> str:
    """A Message-ID for a mail without one: the same mail always gets the same id.

    Trace fields that each hop adds (Received, Return-Path, ...) and line
    endings are left out of the hash, so a redelivery is recognised.
    """
    end = _HEAD_END.search(raw)
    head, body = (raw[: end.start()], raw[end.end() :]) if end else (raw, b"")
    digest = hashlib.sha256()
    keep = True
    for line in head.splitlines():
        if line[:1] not in (b" ", b"\t"):
            keep = line.split(b":", 1)[0].strip().lower() not in _TRACE
        if keep:
            digest.update(line.rstrip(b"\r") + b"\n")
    digest.update(b"\n")
    digest.update(body.replace(b"\r\n", b"\n"))
    return f"<{digest.hexdigest()[:40]}@{SYNTHETIC_DOMAIN}>"


def _ids(values: Iterable[str]) -> tuple[str, ...]:
    """The `<id>` tokens in these values, in order, without repeats.

    A very long chain keeps its root and its most recent ids: those are the
    ones a thread is found by.
    """
    seen: dict[str, None] = {}
    for value in values:
        for match in _MSG_ID.finditer(value):
            seen[f"<{match.group(1)}>"] = None
    ids = list(seen)
    if len(ids) > MAX_IDS:
        ids = [ids[0], *ids[-(MAX_IDS - 1) :]]
    return tuple(ids)


def _addresses(headers: Headers, name: str, problems: _Problems) -> list[tuple[str, str]]:
    """(display name, lower-cased addr-spec) of every mailbox in these fields."""
    found: list[tuple[str, str]] = []
    for value in headers.get(name, ()):
        found.extend(_mailboxes(name, value, problems))
    return found


def _mailboxes(name: str, value: str, problems: _Problems) -> list[tuple[str, str]]:
    # Most fields hold one plain mailbox: read those directly, the registry
    # costs more than the rest of parse() together.
    simple = _SIMPLE_MAILBOX.fullmatch(value) if len(value) <= _MAX_PARSED_ADDRESS_HEADER else None
    if simple:
        display = simple.group("quoted") or simple.group("name") or ""
        spec = simple.group("angle") or simple.group("bare")
        return [(_one_line(_decode_words(display))[:MAX_NAME], spec.lower())]
    mailboxes: list[tuple[str, str]] = []
    if len(value) <= _MAX_PARSED_ADDRESS_HEADER:
        try:
            for address in policy.default.header_factory(name, value).addresses:
                spec = f"{address.username}@{address.domain}"
                if address.username and address.domain and _ADDRESS.fullmatch(spec):
                    display = _one_line(_fix_surrogates(address.display_name))[:MAX_NAME]
                    mailboxes.append((display, spec.lower()))
        except Exception:  # the registry's parser has crashed on odd input before
            problems.add("bad_header")
            mailboxes = []
    if mailboxes or "@" not in value:
        return mailboxes
    # Nothing usable where there is an "@" (or too long to parse): take the bare addresses.
    return [("", m.group().lower()) for m in _ADDRESS_IN_TEXT.finditer(value)]


def _date(value: str, problems: _Problems) -> datetime | None:
    if not value.strip():
        return None
    try:
        when = parsedate_to_datetime(value)
    except Exception:  # ValueError, TypeError, OverflowError, IndexError on odd dates
        problems.add("bad_date")
        return None
    # "-0000" means UTC without saying where the sender is (RFC 5322 3.3).
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _reference(subject: str, ids: Iterable[str], new_text: str, text: str) -> str | None:
    """The request reference: subject first, then our thread ids, then the body."""
    if found := _REFERENCE.search(subject):
        return _format_reference(found)
    for token in ids:
        ref = ref_from_thread_id(token)
        if ref and (found := _REFERENCE.fullmatch(ref)):
            return _format_reference(found)
    for source in (new_text, text):
        if found := _REFERENCE.search(source):
            return _format_reference(found)
    return None


def _format_reference(match: re.Match[str]) -> str:
    return f"STO-{match.group(1)}-{match.group(2)}"


@dataclass(frozen=True)
class _PartInfo:
    content_type: str  # "maintype/subtype", lower case
    params: Mapping[str, str]  # the Content-Type parameters, by lower-case name
    disposition: str  # "inline", "attachment" or ""
    filename: str


def _part_info(part: Message) -> _PartInfo:
    """A part's Content-Type and Content-Disposition, each parsed once.

    Message's own accessors (get_content_type, get_param, get_filename, ...)
    parse the header again on every call; that was most of parse()'s time.
    """
    raw_type = _raw_header(part, "content-type")
    ctype, params = _structured("content-type", raw_type)
    if not raw_type or ctype.count("/") != 1:
        ctype = "text/plain"  # RFC 2045 5.2: the default, also for a broken value
    disposition, disposition_params = _structured(
        "content-disposition", _raw_header(part, "content-disposition")
    )
    filename = disposition_params.get("filename") or params.get("name") or ""
    return _PartInfo(ctype, params, disposition, filename)


def _structured(name: str, raw: str) -> tuple[str, dict[str, str]]:
    """The value and parameters of a Content-Type or Content-Disposition header."""
    if not raw:
        return "", {}
    try:
        header = policy.default.header_factory(name, raw)
        value = header.content_type if name == "content-type" else header.content_disposition
        params = {str(k).lower(): str(v) for k, v in header.params.items()}
    except Exception:  # the registry again: read "value; name=value" plainly
        found = _CONTENT_TYPE.match(raw)
        value = found.group(1) if found else raw.split(";", 1)[0].strip()
        params = {m.group(1).lower(): m.group(2).strip('"') for m in _PARAM.finditer(raw)}
    return str(value or "").lower(), params


# --- the body -----------------------------------------------------------------


class _Body:
    """Walks the parts: body text from the inline text parts, the rest as attachments."""

    def __init__(self, max_attachment: int, problems: _Problems) -> None:
        self.max_attachment = max_attachment
        self.problems = problems
        self.plain: list[str] = []
        self.html: str | None = None
        self.attachments: list[Attachment] = []
        self.calendar: str | None = None
        self.salvaged = False  # one re-read per mail: a salvage never salvages itself

    def read(self, msg: Message) -> None:
        # Iterative, depth-limited: nesting is in the sender's hands.
        stack: list[tuple[Message, int]] = [(msg, 0)]
        seen = 0
        while stack:
            part, depth = stack.pop()
            seen += 1
            if seen > MAX_PARTS:
                self.problems.add("too_many_parts")
                return
            try:
                stack.extend(self._part(part, depth))
            except Exception:  # one broken part does not cost the others
                self.problems.add("malformed_mime")

    def _part(self, part: Message, depth: int) -> list[tuple[Message, int]]:
        """Reads one part; returns the parts inside it, still to be read."""
        if any(isinstance(d, _STRUCTURE_DEFECTS) for d in part.defects):
            self.problems.add("malformed_mime")
        info = _part_info(part)
        ctype = info.content_type
        payload = _payload_of(part)
        if ctype.startswith("message/"):
            # A forwarded or bounced mail: its text is not this mail's text.
            self._attach(part, info, estimated=_encoded_size(part))
        elif isinstance(payload, list):
            if depth < MAX_DEPTH:
                return [(c, depth + 1) for c in reversed(payload)]
            self.problems.add("malformed_mime")
        elif ctype.startswith("multipart/"):
            # The declared boundary never occurs: the parts are one string.
            self.problems.add("malformed_mime")
            salvaged = None if self.salvaged else _salvage(payload)
            self.salvaged = True
            if salvaged is not None:
                return [(salvaged, depth + 1)]
            self.plain.append(_broken_text(payload))
        else:
            self._leaf(part, info)
        return []

    def _leaf(self, part: Message, info: _PartInfo) -> None:
        ctype = info.content_type
        inline = info.disposition != "attachment" and not info.filename
        if ctype in ("text/plain", "text/html") and inline:
            data = self._payload(part)
            if data is None:
                return
            text, right = _decode_bytes(data, info.params.get("charset"))
            if not right:
                self.problems.add("bad_charset")
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            if ctype == "text/html":
                self.html = text if self.html is None else self.html
            elif info.params.get("format", "").lower() == "flowed":
                self.plain.append(_unflow(text, info.params.get("delsp", "").lower() == "yes"))
            else:
                self.plain.append(text)
            return
        estimated = _encoded_size(part)
        if ctype in _CALENDAR_TYPES and self.calendar is None and estimated <= self.max_attachment:
            data = self._payload(part)
            if data is not None:
                charset = info.params.get("charset") or "utf-8"  # RFC 5545: UTF-8
                self.calendar = _decode_bytes(data[:MAX_CALENDAR], charset)[0]
        self._attach(part, info, estimated=estimated)

    def _attach(self, part: Message, info: _PartInfo, *, estimated: int) -> None:
        ctype = info.content_type
        filename = _one_line(_decode_words(info.filename))[:MAX_NAME]
        if estimated > self.max_attachment:
            # Listed, never decoded: a 50 MB video costs no memory beyond its bytes.
            self.problems.add("attachment_too_big")
            self.attachments.append(Attachment(filename, ctype, estimated, oversized=True))
            return
        size = estimated
        if not ctype.startswith(("message/", "multipart/")):
            data = self._payload(part)
            size = len(data) if data is not None else estimated
        self.attachments.append(Attachment(filename, ctype, size))

    def _payload(self, part: Message) -> bytes | None:
        try:
            data = part.get_payload(decode=True)
        except Exception:
            self.problems.add("bad_encoding")
            return None
        if any(isinstance(d, _ENCODING_DEFECTS) for d in part.defects):
            self.problems.add("bad_encoding")
        return data if isinstance(data, bytes) else None

    def text(self) -> tuple[str, Literal["plain", "html", ""]]:
        plain = "\n".join(self.plain)
        if plain.strip():
            return self._cap(plain), "plain"
        if self.html is not None and self.html.strip():
            html = self.html
            if len(html) > MAX_HTML:
                self.problems.add("text_too_long")
                html = html[:MAX_HTML]
            return self._cap(_html_text(html, self.problems)), "html"
        return "", ""

    def _cap(self, text: str) -> str:
        if len(text) > MAX_TEXT:
            self.problems.add("text_too_long")
            return text[:MAX_TEXT]
        return text


def _salvage(payload: str) -> Message | None:
    """The parts of a multipart whose declared boundary never occurs, read with the one it uses.

    Mail that went through a broken gateway or was edited by hand keeps its
    parts under another boundary than the header names; the first
    boundary-like line ("--xyz") tells which.
    """
    found = _BOUNDARY_LINE.search(payload)
    if found is None:
        return None
    boundary = found.group(1)
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'.encode("ascii")
    try:
        salvaged = _PARSER.parsebytes(head + payload.encode("utf-8", "surrogateescape"))
    except Exception:
        return None
    return salvaged if salvaged.is_multipart() else None


def _broken_text(payload: str) -> str:
    """The words of an unreadable multipart: its lines without boundaries and part headers."""
    text = _fix_surrogates(payload).replace("\r\n", "\n")
    return "\n".join(line for line in text.split("\n") if not _MIME_LINE.match(line))


def _new_text(text: str) -> str:
    # For HTML-only mail `text` is already html_to_text's reading (history
    # left out), so mail_text sees plain text either way.
    head = "\n".join(text[:MAX_READ_CHARS].split("\n", MAX_READ_LINES)[:MAX_READ_LINES])
    try:
        return mail_text(head)
    except Exception:  # the readers are not ours to fix here; the text itself is a safe answer
        return head.strip()


def _encoded_size(part: Message) -> int:
    """The decoded size of a part, estimated from its encoded form without decoding it."""
    total = 0
    stack = [part]
    while stack and len(stack) < MAX_PARTS:
        current = stack.pop()
        payload = _payload_of(current)
        if isinstance(payload, list):
            stack.extend(payload)
        else:
            cte = _raw_header(current, "content-transfer-encoding").lower()
            total += len(payload) * 3 // 4 if "base64" in cte else len(payload)
    return total


def _payload_of(part: Message) -> list[Message] | str:
    """A part's payload as parsed: its parts, or its still-encoded text."""
    try:
        payload = part.get_payload()
    except Exception:  # a charset label that is no codec name breaks even this
        try:
            data = part.get_payload(decode=True)
        except Exception:
            return ""
        return data.decode("latin_1") if isinstance(data, bytes) else ""
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    return payload if isinstance(payload, str) else ""


def _unflow(text: str, delsp: bool) -> str:
    """Join format=flowed lines: a line ending in a space goes on in the next one.

    Apple Mail and Thunderbird wrap long lines this way; joined, a sentence
    is one line again for the readers.
    """
    out: list[str] = []
    paragraph: list[str] = []
    depth_of_paragraph = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        if paragraph and depth != depth_of_paragraph:
            out.append(_quote(depth_of_paragraph, "".join(paragraph)))
            paragraph = []
        flowed = content.endswith(" ") and content != "-- "
        paragraph.append(content[:-1] if flowed and delsp else content)
        depth_of_paragraph = depth
        if not flowed:
            out.append(_quote(depth, "".join(paragraph)))
            paragraph = []
    if paragraph:
        out.append(_quote(depth_of_paragraph, "".join(paragraph)))
    return "\n".join(out)


def _quote(depth: int, text: str) -> str:
    return f"{'>' * depth} {text}" if depth else text


def _tame_html(html: str) -> str:
    """HTML in which every "<" opens a complete tag, comment or declaration.

    Python's HTMLParser rescans the rest of the document for every "<" it
    cannot finish, which is quadratic: a few hundred kilobytes of "<!--" or
    "<a" keep it busy for minutes. Such a "<" becomes "&lt;" here, in one
    linear pass, which reads the same.
    """
    out: list[str] = []
    position = 0
    comments_close = True  # once no "-->" follows, none follows later either
    while True:
        start = html.find("<", position)
        if start < 0:
            out.append(html[position:])
            return "".join(out)
        out.append(html[position:start])
        if html.startswith("<!--", start):
            end = html.find("-->", start + 4) if comments_close else -1
            if end >= 0:
                out.append(html[start : end + 3])
                position = end + 3
                continue
            comments_close = False
        elif found := _TAG_LIKE.match(html, start):
            out.append(found.group())
            position = found.end()
            continue
        out.append("&lt;")
        position = start + 1


def _html_text(html: str, problems: _Problems) -> str:
    tamed = _tame_html(html)
    try:
        return html_to_text(tamed)
    except Exception:  # HTMLParser asserts on some declarations; strip the tags instead
        problems.add("bad_html")
        stripped = re.sub(r"<[^<>]*>", " ", tamed)
        return "\n".join(_one_line(unescape(line)) for line in stripped.split("\n")).strip()
