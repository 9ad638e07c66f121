"""Header values that cannot be abused: one line, bounded, and addresses that parse.

Every value that reaches a header may come from a person (a region's name, a
theme, a display name, a Message-ID from a mail we answer): CR, LF and other
control characters are folded into a space here, so no value can ever start a
header of its own, whatever the email package's own checks do.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from email.headerregistry import Address

MAX_HEADER_TEXT = 200
MAX_REFERENCES = 20
_MSGID = re.compile(r"<([^<>\s@]{1,200}@[^<>\s@]{1,200})>")
_SAFE_DOMAIN = re.compile(r"[^a-z0-9.-]")
_REF = re.compile(r"^[A-Za-z0-9-]{1,40}$")
_THREAD = re.compile(r"^<sto\.request\.([A-Za-z0-9-]{1,40})@[^<>\s]+>$")


class InvalidAddress(ValueError):
    """An address that is not one mailbox (empty, several, a stray CR/LF, bad syntax)."""


def one_line(value: object, limit: int = MAX_HEADER_TEXT) -> str:
    """The value as one line of text: controls and line breaks become spaces, runs collapse."""
    text = "".join(
        " " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in str(value)
    )
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def mailbox(address: str, name: str = "") -> Address:
    """One mailbox, or InvalidAddress; the display name is made one line.

    A domain in other scripts (IDN) is written in its ASCII form (IDNA), so
    every mail travels without SMTPUTF8; a local part that is not ASCII cannot
    be written by Python's email package, so such an address is refused.
    """
    addr = address.strip()
    if not addr or any(unicodedata.category(ch).startswith(("C", "Z")) for ch in addr):
        raise InvalidAddress(address)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or "@" in local or not local.isascii():
        raise InvalidAddress(address)
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidAddress(address) from exc
        addr = f"{local}@{domain}"
    try:
        parsed = Address(display_name=one_line(name, 120), addr_spec=addr)
    except (ValueError, TypeError, IndexError) as exc:  # the parser's defects are ValueErrors
        raise InvalidAddress(address) from exc
    if parsed.addr_spec != addr and parsed.addr_spec.strip('"') != addr:
        raise InvalidAddress(address)
    return parsed


def domain_of(address: str) -> str:
    """The domain of an address, ASCII (IDNA) and safe for a Message-ID; "localhost" if odd."""
    domain = address.rpartition("@")[2].strip().lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "localhost"
    domain = _SAFE_DOMAIN.sub("", domain).strip(".")
    return domain or "localhost"


def message_id(key: str, domain: str) -> str:
    """The Message-ID of a notification: the same dedupe key always gives the same id."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<sto.{digest}@{domain}>"


def thread_id(ref: str, domain: str) -> str | None:
    """A Message-ID that stands for a request's thread (listed in References), or None."""
    ref = ref.strip().upper()
    if not _REF.match(ref):
        return None
    return f"<sto.request.{ref}@{domain}>"


def ref_from_thread_id(value: str) -> str | None:
    """The request reference in one of our thread ids (for the inbound side)."""
    found = _THREAD.match(value.strip())
    return found.group(1) if found else None


def message_ids(values: Iterable[str]) -> list[str]:
    """The well-formed `<id@domain>` tokens in these values, in order, without repeats.

    Anything else (text, line breaks, a header of its own) is dropped. A long
    chain keeps its first id (the thread's root) and the most recent ones.
    """
    seen: list[str] = []
    for value in values:
        for match in _MSGID.finditer(str(value)):
            token = f"<{match.group(1)}>"
            if token.isascii() and token not in seen:
                seen.append(token)
    if len(seen) > MAX_REFERENCES:
        seen = [seen[0], *seen[-(MAX_REFERENCES - 1) :]]
    return seen
