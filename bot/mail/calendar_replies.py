"""Calendars answering our invitations: "Geaccepteerd:", "Declined:", "Tentative:".

Our invitations carry RSVP=TRUE, so Outlook, Google Calendar and Apple
Calendar answer them with a mail to STO_MAIL_FROM when the invitee clicks
Accept or Decline: a text/calendar part with METHOD:REPLY whose ATTENDEE says
PARTSTAT=ACCEPTED / DECLINED / TENTATIVE, under a subject such as
"Geaccepteerd: Themabijeenkomst: ... [TB-2027-03]" or "Declined: ...". Such a
mail is a calendar's, not a question to the team: `classify` gives it
`Verdict.calendar_reply`, so it is never answered and never flagged, and the
inbound record keeps what it says (`summary`), e.g. "calendar reply: ACCEPTED
for meeting:TB-2027-03 by f.elamrani@...".

Which invitation it answers comes from the reply's UID, which we made
(`bot.mail.calendar.invite_uid`, checked by its digest), or else from the
reference in the subject. The data model has no place for an answer to an
invitation (a registration's `attended` is about being there afterwards),
so the inbound row and the log are where it is kept.

The address of the attendee is kept only when the reply answers one of our
own invitations (we invited that address, so we know it already) or comes
from a person we know; otherwise the record says what was answered, not who.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from icalendar import Calendar

from bot.mail.calendar import invite_subject
from bot.mail.parse import ParsedMail

_METHOD = re.compile(r"^METHOD[ \t]*:[ \t]*([A-Za-z-]+)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
# Subjects are folded (lower case, no accents) first; only the start counts, so "RE:
# Geaccepteerd: ..." (a person answering such a mail) is a person's mail.
_SUBJECT_STATUS = (
    (
        "TENTATIVE",
        r"tentative(?:ly\s+accepted)?|voorlopig(?:\s+geaccepteerd)?|mit\s+vorbehalt\s+angenommen"
        r"|provisoirement\s+accepte|accepte\s+provisoirement|provisoire",
    ),
    ("ACCEPTED", r"accepted|geaccepteerd|akzeptiert|zugesagt|accepte"),
    ("DECLINED", r"declined|geweigerd|afgewezen|afgeslagen|abgelehnt|refuse"),
)
_SUBJECT = re.compile(
    r"\s*(?:" + "|".join(f"(?P<{name}>{words})" for name, words in _SUBJECT_STATUS) + r")\s*:"
)
# By its subject alone a mail is a calendar reply only when it also names what
# we invite people to: a reference in brackets, or the programme.
_OURS_IN_SUBJECT = re.compile(
    r"\[[a-z]{2,5}-\d{4}-\d{2,6}\]|sterk\s+techniekonderwijs|critical\s+friend|themabijeenkomst"
    r"|theme\s+meeting"
)
_REFERENCE = re.compile(r"\[([A-Z]{2,5})-(\d{4})-(\d{2,6})\]", re.IGNORECASE)
_PARTSTATS = frozenset({"ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED", "NEEDS-ACTION"})


@dataclass(frozen=True)
class CalendarReply:
    partstat: str  # ACCEPTED, DECLINED, TENTATIVE, DELEGATED; "" when it says none
    about: str  # "meeting:TB-2027-03", "request:STO-2027-0042", "visit:7", or ""
    attendee: str  # the answering address, lower case ("" when unknown)
    uid: str = ""  # the UID the reply carries ("" when read from the subject)
    ours: bool = False  # the UID is one of ours (its digest checked)

    def summary(self, *, by: str) -> str:
        """One line for the inbound record and the log; `by` is the address to name, or ""."""
        what = self.about or (f"UID {self.uid[:120]}" if self.uid else "an unknown invitation")
        status = self.partstat or "no answer"
        return f"calendar reply: {status} for {what}" + (f" by {by}" if by else "")


def reason(mail: ParsedMail) -> str:
    """Why `mail` is a calendar's answer to an invitation, or "" when it is not one."""
    if mail.calendar:
        method = _METHOD.search(mail.calendar)
        if method is not None:
            # A COUNTER (a new time proposed) or a forwarded REQUEST is a person's business.
            return "text/calendar METHOD:REPLY" if method.group(1).upper() == "REPLY" else ""
    subject = _fold(mail.subject)
    if _SUBJECT.match(subject) and _OURS_IN_SUBJECT.search(subject):
        return "calendar reply subject"
    return ""


def read(mail: ParsedMail, domain: str) -> CalendarReply:
    """What the reply says; `domain` is the one our invitation UIDs carry."""
    from_subject = _from_subject(mail)
    if not mail.calendar:
        return from_subject
    try:
        calendar = Calendar.from_ical(mail.calendar)
    except Exception:  # a broken calendar part: the subject still tells the answer
        return from_subject
    for event in calendar.walk("VEVENT"):
        uid = str(event.get("UID", "")).strip()
        about = invite_subject(uid, domain) if uid else None
        partstat, attendee = _attendee(event.get("ATTENDEE"), mail.from_address)
        return CalendarReply(
            partstat=partstat or from_subject.partstat,
            about=about or from_subject.about,
            attendee=attendee or mail.from_address,
            uid=uid,
            ours=about is not None,
        )
    return from_subject


def _from_subject(mail: ParsedMail) -> CalendarReply:
    found = _SUBJECT.match(_fold(mail.subject))
    partstat = next((k for k, v in found.groupdict().items() if v), "") if found else ""
    reference = _REFERENCE.search(mail.subject)
    about = ""
    if reference is not None:
        code = f"{reference.group(1).upper()}-{reference.group(2)}-{reference.group(3)}"
        about = f"{'request' if code.startswith('STO-') else 'meeting'}:{code}"
    return CalendarReply(partstat=partstat, about=about, attendee=mail.from_address)


def _attendee(value: object, sender: str) -> tuple[str, str]:
    """PARTSTAT and address of the attendee who answers: the sender's, else the first."""
    values = value if isinstance(value, list) else [value] if value is not None else []
    found: list[tuple[str, str]] = []
    for item in values:
        params = getattr(item, "params", {})
        partstat = str(params.get("PARTSTAT", "")).upper()
        address = str(item).strip()
        if address.lower().startswith("mailto:"):
            address = address[7:]
        found.append((partstat if partstat in _PARTSTATS else "", address.strip().lower()))
    for partstat, address in found:
        if address == sender:
            return partstat, address
    return found[0] if found else ("", "")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text[:300].lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
