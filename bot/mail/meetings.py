"""Theme meetings by mail: registering (oneself, colleagues) and cancelling.

Part of the mail channel's thin layer (`bot.mail.conversation` hands a mail
here first): it reads what the mail says about a meeting, finds the meeting,
and acts through `models.meetings.register` / `cancel_registration`, whose
own mails (registered, waitlisted with the place, cancelled) answer the
person, threaded under their mail. What this module writes itself are the
answers for what the domain cannot do (templates/<lang>/mail/mail_meeting_*).

Which meeting a mail is about, in this order:

1. a code in the new text ("aanmelden TB-2027-03"), then in the subject
   ("Re: [TB-2027-03] U bent aangemeld: ...");
2. the mail it replies to: In-Reply-To / References hold the Message-ID of
   one of our outbox rows about a meeting (its announcement, subject type
   "meeting") or a registration (subject type "registration"); Message-IDs
   derive from the rows' dedupe keys (`headers.message_id`), so they are
   matched by computing them for the sender's meeting mails;
3. an earlier mail in the same thread: when we had to ask (which meeting,
   which region), the plan waits in the thread's draft under "meeting".

Registering or cancelling needs the same sender trust as booking days
(`Conversation._confirm_or_do`): a forged From: can neither take a seat nor
give one away.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import col, select

from bot.mail.headers import domain_of, message_id
from bot.understanding import Intent
from bot.understanding.meetings import Colleague, meeting_codes, read_meeting
from bot.understanding.text import fold
from models import mailbox, people
from models import meetings as mt
from models.actor import Actor
from models.errors import (
    AlreadyRegistered,
    DomainError,
    InvalidMeeting,
    MeetingClosed,
    UnknownMeeting,
    UnknownRegistration,
)
from models.tables import Contact, MailThread, Notification, Registration, ThemeMeeting
from models.types import Channel

if TYPE_CHECKING:
    from bot.mail.conversation import Conversation

MEETING = "meeting"  # the key of a meeting conversation in a thread's draft
REGISTER, CANCEL = "meeting_register", "meeting_cancel"  # pending actions (confirmation codes)
SUBJECTS = ("meeting", "registration")  # outbox rows about a meeting
ASK_AGAIN = ("no_address", "invalid_address")  # colleague outcomes we ask to send again
_OUR_ID = re.compile(r"<sto\.[0-9a-f]{32}@[^<>\s]+>")
# Without a code, a cancellation is about a meeting (not a request) when it says so.
_MEETING_WORDS = re.compile(r"bijeenkomst|meeting|afmeld|uitschrijv|unregister|deregister")


class MeetingMail:
    """One mail about a meeting, for one known contact."""

    def __init__(
        self, conv: Conversation, contact: Contact, person: people.Person, thread: MailThread
    ) -> None:
        self.conv = conv
        self.session = conv.session
        self.contact = contact
        self.person = person
        self.thread = thread

    # -- understanding -------------------------------------------------------------------

    def handle(self, intent: Intent) -> str | None:
        """Act on the mail when it is about a meeting; None leaves it to the other readers."""
        mail = self.conv.mail
        names = self.conv._region_names(self.person)
        pending: dict[str, Any] = dict((self.thread.draft or {}).get(MEETING) or {})
        names_asked = bool(pending.get("names_asked"))
        reading = read_meeting(
            mail.new_text,
            ignore=[self.contact.email, mail.from_address, self.conv.settings.mail_from],
            not_names=[*names, *names.values()],
            names_asked=names_asked,
        )
        if names_asked and not reading.colleagues:
            pending = {"code": pending.get("code", "")}  # no names after all: an ordinary mail
            names_asked = False
        codes = reading.codes or meeting_codes(mail.subject)
        linked = None if codes else self._linked()
        known = bool(codes or linked or pending.get("code"))
        action = self._action(intent, reading.attend, reading.decline, known, pending)
        if action is None:
            return None
        code = codes[0] if codes else linked.code if linked else pending.get("code", "")
        if names_asked and action == REGISTER:  # the writer was dealt with before
            colleagues = [[c.name, c.email] for c in reading.colleagues]
            unnamed, includes_self = 0, False
        elif reading.colleagues or reading.seats is not None or action != pending.get("action"):
            colleagues = [[c.name, c.email] for c in reading.colleagues]
            unnamed = max(0, (reading.seats or 0) - len(colleagues) - reading.includes_self)
            includes_self = reading.includes_self
        else:  # a reply that only adds the code or the region: the plan stays
            colleagues = list(pending.get("colleagues") or [])
            unnamed = int(pending.get("unnamed") or 0)
            includes_self = bool(pending.get("self", True))
        plan: dict[str, Any] = {
            "action": action,
            "code": code,
            "region": str(pending.get("region") or ""),
            "self": includes_self,
            "colleagues": colleagues,
            "unnamed": unnamed,
        }
        return self._plan(plan)

    def _action(
        self, intent: Intent, attend: bool, decline: bool, known: bool, pending: dict[str, Any]
    ) -> str | None:
        if intent is Intent.cancel:
            if known or self._about_meetings():
                return CANCEL
            return None  # a request's cancellation: the request reader's
        if intent is Intent.register:
            return REGISTER
        # Coming or not, said beside a question ("Ik kom graag. Kan ik later komen?"),
        # still acts; the question goes to the team (Conversation.run).
        if intent in (Intent.unknown, Intent.question) and known and decline:
            return CANCEL
        if intent in (Intent.unknown, Intent.question) and known and attend:
            return REGISTER
        waiting = str(pending.get("action") or "")
        if intent is Intent.unknown and waiting in (REGISTER, CANCEL):
            return waiting  # the answer to our question: the code, the region
        return None

    def _about_meetings(self) -> bool:
        mail = self.conv.mail
        if mail.reference or self.thread.request_id is not None:
            return False
        return bool(_MEETING_WORDS.search(fold(f"{mail.subject}\n{mail.new_text}")))

    def _linked(self) -> ThemeMeeting | None:
        """The meeting of our mail that this one replies to (In-Reply-To first)."""
        mail = self.conv.mail
        wanted = [*mail.in_reply_to, *reversed(mail.references)]
        ours = [i for i in dict.fromkeys(wanted) if _OUR_ID.fullmatch(i)]
        if not ours:
            return None
        domain = domain_of(self.conv.settings.mail_from)
        about_meetings = select(
            Notification.dedupe_key, Notification.subject_type, Notification.subject_id
        ).where(Notification.channel == "email", col(Notification.subject_type).in_(SUBJECTS))
        # The sender's own meeting mails first; a forwarded announcement is anybody's.
        to_sender = about_meetings.where(func.lower(Notification.recipient) == mail.from_address)
        for query in (to_sender, about_meetings):
            rows = self.session.exec(query).all()
            found = {message_id(key, domain): (kind, sid) for key, kind, sid in rows}
            for candidate in ours:
                if candidate in found:
                    return self._meeting_of(*found[candidate])
        return None

    def _meeting_of(self, kind: str, subject_id: int | None) -> ThemeMeeting | None:
        if subject_id is not None and kind == "registration":
            reg = self.session.get(Registration, subject_id)
            subject_id = reg.meeting_id if reg is not None else None
        return self.session.get(ThemeMeeting, subject_id) if subject_id is not None else None

    # -- asking what is missing ----------------------------------------------------------

    def _plan(self, plan: dict[str, Any]) -> str:
        action = str(plan["action"])
        if not plan["code"]:
            return self._ask_meeting(plan, "")
        try:
            meeting = mt.get_meeting(self.session, str(plan["code"]))
        except UnknownMeeting:
            return self._ask_meeting({**plan, "code": ""}, str(plan["code"]))
        plan["code"] = meeting.code
        if action == REGISTER and not plan["region"]:
            names = self.conv._region_names(self.person)
            region = self.conv._region_in_text(self.person)
            if not region and len(names) > 1:
                self._save(plan, "waiting_region")
                regions = sorted(names.items())
                facts = {"code": meeting.code, "title": meeting.title, "regions": regions}
                self.conv._answer(self.contact, "mail_meeting_ask_region", facts)
                return f"asked for the region ({meeting.code})"
            plan["region"] = region
        self._save(plan, "open")
        return self.conv._confirm_or_do(self.contact, self.person, self.thread, action)

    def _ask_meeting(self, plan: dict[str, Any], unknown_code: str) -> str:
        self._save(plan, "waiting_meeting")
        action = "cancel" if plan["action"] == CANCEL else "register"
        facts = {"code": unknown_code, "action": action, "meetings": self._upcoming()}
        self.conv._answer(self.contact, "mail_meeting_unknown", facts)
        return f"asked which meeting ({unknown_code or 'no code'})"

    def _upcoming(self) -> list[dict[str, Any]]:
        now = self.conv.now
        return [
            {
                "code": m.code,
                "title": m.title,
                "starts_at": m.starts_at.isoformat(),
                "ends_at": m.ends_at.isoformat(),
                "timezone": m.timezone,
                "seats_left": mt.seats_left(self.session, m),
                "open": now <= m.registration_deadline and now < m.starts_at,
            }
            for m in mt.list_meetings(self.session, now=now)
        ]

    def _save(self, plan: dict[str, Any], state: str) -> None:
        mailbox.update(self.session, self.thread, self.conv.now, draft={MEETING: plan}, state=state)

    # -- acting --------------------------------------------------------------------------

    def perform(self, action: str) -> str:
        """Register or cancel as the thread's plan says (trusted, or confirmed by code)."""
        plan: dict[str, Any] = dict((self.thread.draft or {}).get(MEETING) or {})
        code = str(plan.get("code") or "")
        try:
            meeting = mt.get_meeting(self.session, code)
        except UnknownMeeting:
            return self._ask_meeting({**plan, "code": ""}, code)
        self._save({"code": meeting.code}, "done")  # a later reply still knows the meeting
        if action == CANCEL:
            return self._cancel(meeting)
        return self._register(meeting, plan)

    def _by(self) -> Actor:
        return Actor(f"{self.contact.name} (mail:{self.contact.email})", Channel.email)

    def _reply(self) -> dict[str, Any]:
        """The thread headers of this mail, for the domain's own mails to its writer."""
        headers = self.conv._reply_headers()
        return {"in_reply_to": headers["in_reply_to"], "references": headers["references"]}

    def _cancel(self, meeting: ThemeMeeting) -> str:
        try:
            with self.session.begin_nested():
                reg = mt.cancel_registration(
                    self.session,
                    (meeting.code, self.contact.email),
                    by=self._by(),
                    now=self.conv.now,
                    reply=self._reply(),
                )
        except UnknownRegistration:
            facts = {"code": meeting.code, "title": meeting.title, "email": self.contact.email}
            self.conv._answer(self.contact, "mail_meeting_not_registered", facts)
            return f"not registered for {meeting.code}"
        except DomainError as error:
            return self._refused(error)
        self._remember(reg)
        return f"cancelled the registration for {meeting.code}"

    def _register(self, meeting: ThemeMeeting, plan: dict[str, Any]) -> str:
        region = str(plan.get("region") or "") or None
        done: list[str] = []
        if plan.get("self", True):
            try:
                reg = self._one(meeting, self.contact.name, self.contact.email, region, mine=True)
            except AlreadyRegistered as error:
                self._already(meeting, error)
                done.append(f"already {error.params['status']}")
            except MeetingClosed as error:
                facts = {
                    "code": meeting.code,
                    "title": meeting.title,
                    "reason": error.params["reason"],
                }
                self.conv._answer(self.contact, "mail_meeting_closed", facts)
                return f"closed ({error.params['reason']})"
            except DomainError as error:
                return self._refused(error)
            else:
                self._remember(reg)
                done.append(reg.status)
        colleagues = [Colleague(str(n), str(e)) for n, e in plan.get("colleagues") or []]
        lines = [self._colleague(meeting, c, region) for c in colleagues]
        unnamed = int(plan.get("unnamed") or 0)
        if lines or unnamed:
            facts = {"code": meeting.code, "title": meeting.title, "lines": lines}
            self.conv._answer(
                self.contact, "mail_meeting_colleagues", {**facts, "unnamed": unnamed}
            )
            done.extend(f"{line['email'] or line['name']} {line['outcome']}" for line in lines)
        if unnamed or any(line["outcome"] in ASK_AGAIN for line in lines):
            # We asked for names and addresses: the reply in this thread brings them.
            again = {"code": meeting.code, "action": REGISTER, "region": region or ""}
            self._save({**again, "self": False, "colleagues": [], "names_asked": True}, "open")
        return f"{meeting.code}: {', '.join(done) or 'nobody named'}"

    def _one(
        self, meeting: ThemeMeeting, name: str, email: str, region: str | None, *, mine: bool
    ) -> Registration:
        contact_id = self.contact.id
        if not mine:  # a colleague who is a contact too reads the mail in their language
            other = people.by_email(self.session, email)
            contact_id = other.id if other is not None and other.kind == "contact" else None
        with self.session.begin_nested():
            return mt.register(
                self.session,
                meeting.code,
                name=name,
                email=email,
                region_code=region,
                contact_id=contact_id,
                channel=Channel.email.value,
                by=self._by(),
                now=self.conv.now,
                reply=self._reply() if mine else None,
            )

    def _colleague(
        self, meeting: ThemeMeeting, colleague: Colleague, region: str | None
    ) -> dict[str, Any]:
        line: dict[str, Any] = {"name": colleague.name, "email": colleague.email, "place": None}
        if not colleague.email:
            return {**line, "outcome": "no_address"}
        try:
            reg = self._one(meeting, colleague.name, colleague.email, region, mine=False)
        except InvalidMeeting as error:
            problem = "invalid_address" if error.params.get("field") == "email" else "closed"
            return {**line, "outcome": problem}
        except AlreadyRegistered as error:
            place = error.params.get("place")
            return {**line, "outcome": f"already_{error.params['status']}", "place": place}
        except DomainError:
            return {**line, "outcome": "closed"}
        place = mt.waitlist_position(self.session, meeting.code, reg.email)
        return {**line, "outcome": reg.status, "place": place}

    def _already(self, meeting: ThemeMeeting, error: AlreadyRegistered) -> None:
        facts = {
            "code": meeting.code,
            "title": meeting.title,
            "email": self.contact.email,
            "status": error.params["status"],
            "place": error.params["place"],
            "starts_at": meeting.starts_at.isoformat(),
            "ends_at": meeting.ends_at.isoformat(),
            "timezone": meeting.timezone,
        }
        self.conv._answer(self.contact, "mail_meeting_already", facts)

    def _refused(self, error: DomainError) -> str:
        facts = {"error": error.code, "params": dict(error.params)}
        self.conv._answer(self.contact, "mail_refused", facts)
        return f"refused ({error.code})"

    def _remember(self, reg: Registration) -> None:
        """The domain's mails about this registration are ours: a reply finds the thread."""
        assert reg.id is not None
        keys = self.session.exec(
            select(Notification.dedupe_key).where(
                Notification.subject_type == "registration", Notification.subject_id == reg.id
            )
        ).all()
        domain = domain_of(self.conv.settings.mail_from)
        for key in keys:
            mailbox.remember(self.session, self.thread, message_id(key, domain))
