"""Building our MIME messages directly, without the email package's parse-and-refold cost.

The email package's object API parses every header it is given and refolds
every header when it writes; at notification volumes that costs more than
the SMTP exchange itself. Our mails have a fixed shape and every value is
already one line (`bot.mail.headers`), so headers are encoded and folded here
(RFC 2047 encoded words, lines of at most 78) and stored as they are
(`Message.set_raw`); bodies are encoded once (quoted-printable, base64). The
result is an ordinary EmailMessage that the package writes without
refolding, exactly as if it had been parsed from the wire.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy, quoprimime
from email.message import EmailMessage, MIMEPart

CRLF = "\r\n"
MAX_LINE = 78
_WORD_BYTES = 42  # 56 base64 characters: "=?utf-8?b?…?=" stays within 68 (RFC 2047: 75)
_SPECIALS = frozenset('()<>[]:;@\\,."')


def _words(text: str) -> list[str]:
    """UTF-8 text as base64 encoded words, split after a space where it can be (the space
    stays inside the word before: a reader drops the folding between two encoded words),
    and never inside a character."""
    chunks: list[bytes] = []
    current = b""

    def add(piece: bytes) -> None:
        nonlocal current
        if current and len(current) + len(piece) > _WORD_BYTES:
            chunks.append(current)
            current = b""
        current += piece

    pieces = text.split(" ")
    for n, word in enumerate(pieces):
        piece = (word if n == len(pieces) - 1 else word + " ").encode("utf-8")
        if len(piece) <= _WORD_BYTES:
            add(piece)
        else:  # longer than a word can hold: split between characters
            for ch in piece.decode("utf-8"):
                add(ch.encode("utf-8"))
    chunks.append(current)
    return [f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in chunks if c]


def _fold(name: str, tokens: Sequence[str]) -> str:
    """Tokens joined by spaces, folded (CRLF + space) so no line passes MAX_LINE."""
    lines = [tokens[0] if tokens else ""]
    used = len(name) + 2 + len(lines[0])
    for token in tokens[1:]:
        if used + 1 + len(token) > MAX_LINE:
            lines.append(token)
            used = 1 + len(token)
        else:
            lines[-1] += " " + token
            used += 1 + len(token)
    return f"{CRLF} ".join(lines)


def _plain(token: str, phrase: bool = False) -> bool:
    """Written as it is: ASCII, nothing that looks like an encoded word, and in a display
    name no specials (those would need quoting)."""
    return token.isascii() and "=?" not in token and not (phrase and _SPECIALS & set(token))


def _tokens(value: str, phrase: bool = False) -> list[str]:
    """Words of a one-line value; each run of words that are not plain becomes encoded
    words (the spaces inside a run are encoded with it: between two encoded words a
    reader drops the space, between an encoded word and plain text it keeps it)."""
    tokens: list[str] = []
    run: list[str] = []
    for word in value.split(" "):
        if _plain(word, phrase):
            if run:
                tokens.extend(_words(" ".join(run)))
                run = []
            tokens.append(word)
        else:
            run.append(word)
    if run:
        tokens.extend(_words(" ".join(run)))
    return tokens


def text_value(name: str, value: str) -> str:
    """An unstructured header value (Subject), folded, with encoded words where needed."""
    return _fold(name, _tokens(value))


def address_value(name: str, addr_spec: str, display_name: str = "") -> str:
    """`Display Name <addr@domain>`: the name as it is, quoted, or as encoded words."""
    if not display_name:
        return addr_spec
    if display_name.isascii() and "=?" not in display_name and _SPECIALS & set(display_name):
        escaped = display_name.replace("\\", "\\\\").replace('"', '\\"')
        if len(name) + len(escaped) + len(addr_spec) + 7 <= MAX_LINE:
            return f'"{escaped}" <{addr_spec}>'
    return _fold(name, [*_tokens(display_name, phrase=True), f"<{addr_spec}>"])


def ids_value(name: str, ids: Sequence[str]) -> str:
    """A list of message ids (References), folded between ids."""
    return _fold(name, list(ids))


@dataclass(frozen=True)
class Leaf:
    content_type: str
    encoding: str
    body: str
    disposition: str = ""


@dataclass(frozen=True)
class Multi:
    subtype: str
    children: Sequence[Leaf | Multi] = field(default_factory=tuple)


def text(subtype: str, content: str) -> Leaf:
    """UTF-8 text as quoted-printable (7-bit clean, lines of at most 76)."""
    lines = content.replace("\r\n", "\n").replace("\r", "\n")
    if not lines.endswith("\n"):
        lines += "\n"
    raw = lines.encode("utf-8").decode("latin-1")  # one character per byte, as quoprimime wants
    body = str(quoprimime.body_encode(raw, 76, eol=CRLF))
    return Leaf(f'text/{subtype}; charset="utf-8"', "quoted-printable", body)


def binary(content_type: str, data: bytes, disposition: str = "") -> Leaf:
    body = base64.encodebytes(data).decode("ascii").replace("\n", CRLF)
    return Leaf(content_type, "base64", body, disposition)


def boundary(seed: str, level: int) -> str:
    """Never in QP or base64 text ("=_" cannot occur there), and the same for the same
    message, so a repeated mail is the same mail byte for byte (but for its Date)."""
    digest = hashlib.sha256(f"{seed}/{level}".encode()).hexdigest()[:16]
    return f"=_sto{level}_{digest}"  # short: the Content-Type line stays within 78


def _fill(part: MIMEPart, entity: Leaf | Multi, seed: str, level: int) -> None:
    if isinstance(entity, Leaf):
        part.set_raw("Content-Type", entity.content_type)
        part.set_raw("Content-Transfer-Encoding", entity.encoding)
        if entity.disposition:
            part.set_raw("Content-Disposition", entity.disposition)
        part.set_payload(entity.body.rstrip(CRLF) + CRLF)
        return
    part.set_raw("Content-Type", f'multipart/{entity.subtype}; boundary="{boundary(seed, level)}"')
    for child in entity.children:
        sub = EmailMessage(policy=policy.SMTP)  # as the parser makes them
        _fill(sub, child, seed, level + 1)
        part.attach(sub)


def message(headers: Sequence[tuple[str, str]], body: Leaf | Multi, seed: str) -> EmailMessage:
    """The message: these header values (already encoded and folded), then the body."""
    msg = EmailMessage(policy=policy.SMTP)
    for name, value in headers:
        msg.set_raw(name, value)
    msg.set_raw("MIME-Version", "1.0")
    _fill(msg, body, seed, 0)
    return msg


def _entity(entity: Leaf | Multi, seed: str, level: int, out: list[str]) -> None:
    """The entity as the email package's generator writes it (`message(...).as_bytes()`)."""
    if isinstance(entity, Leaf):
        out.append(f"Content-Type: {entity.content_type}{CRLF}")
        out.append(f"Content-Transfer-Encoding: {entity.encoding}{CRLF}")
        if entity.disposition:
            out.append(f"Content-Disposition: {entity.disposition}{CRLF}")
        out.append(CRLF + entity.body.rstrip(CRLF) + CRLF)
        return
    mark = boundary(seed, level)
    out.append(f'Content-Type: multipart/{entity.subtype}; boundary="{mark}"{CRLF}{CRLF}')
    for n, child in enumerate(entity.children):
        out.append(f"--{mark}{CRLF}" if n == 0 else f"{CRLF}--{mark}{CRLF}")
        _entity(child, seed, level + 1, out)
    out.append(f"{CRLF}--{mark}--{CRLF}")


def wire(headers: Sequence[tuple[str, str]], body: Leaf | Multi, seed: str) -> bytes:
    """The same message as bytes, written directly: what `message(...)` flattens to."""
    out = [f"{name}: {value}{CRLF}" for name, value in headers]
    out.append(f"MIME-Version: 1.0{CRLF}")
    _entity(body, seed, 0, out)
    return "".join(out).encode("ascii")
