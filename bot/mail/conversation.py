"""One person's mail, understood and acted on: the mail channel's thin layer.

It parses nothing and decides no rule itself: the understanding comes from
bot.understanding, every change from the domain (models.requests,
models.mailbox, models.meetings through bot.mail.meetings), and every
sentence from templates/<lang>/mail/.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from bot.mail import request_replies, visit_replies
from bot.mail.headers import domain_of, message_id, ref_from_thread_id
from bot.mail.meetings import CANCEL as MEETING_CANCEL
from bot.mail.meetings import MEETING, MeetingMail
from bot.mail.meetings import REGISTER as MEETING_REGISTER
from bot.mail.parse import ParsedMail
from bot.understanding import Intent, Understanding, merge, understand
from config.settings import Settings
from models import mailbox, outbox, people, quota
from models import requests as rq
from models.actor import Actor
from models.errors import DomainError
from models.periods import period_on
from models.quantity import json_number
from models.regions import all_regions
from models.tables import (
    Contact,
    InboundMessage,
    MailThread,
    Notification,
    Region,
    SupportRequest,
)
from models.types import Channel, SupportKind

log = logging.getLogger("sto.mail")


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Error facts as JSON for an outbox row (Decimals become numbers)."""
    return {k: json_number(v) if isinstance(v, Decimal) else v for k, v in params.items()}


def _draft(found: Understanding, region: str) -> dict[str, Any]:
    return {
        "half_days": found.half_days,
        "kind": found.kind.value if found.kind else None,
        "theme": found.theme,
        "preferred_from": found.preferred_from.isoformat() if found.preferred_from else None,
        "preferred_to": found.preferred_to.isoformat() if found.preferred_to else None,
        "preferred_text": found.preferred_text,
        "missing": list(found.missing),
        "region": region,
    }


def _from_draft(draft: dict[str, Any]) -> Understanding:
    def day(key: str) -> date | None:
        value = draft.get(key)
        return date.fromisoformat(value) if value else None

    return Understanding(
        intent=Intent.request,
        half_days=draft.get("half_days"),
        kind=SupportKind(draft["kind"]) if draft.get("kind") else None,
        theme=str(draft.get("theme") or ""),
        preferred_from=day("preferred_from"),
        preferred_to=day("preferred_to"),
        preferred_text=str(draft.get("preferred_text") or ""),
        missing=list(draft.get("missing") or []),
    )


@dataclass
class Conversation:
    session: Session
    settings: Settings
    mail: ParsedMail
    record: InboundMessage
    now: datetime
    today: date
    thread: MailThread | None = None

    # -- entry -----------------------------------------------------------------------------

    def run(self) -> str:
        if not self.mail.from_address:  # nobody to answer: keep it for the team
            return self._flag("no_sender")
        person = people.by_email(self.session, self.mail.from_address)
        contact = self._contact(person)
        if contact is None:
            if person is None:
                self.record.sender = ""  # nothing is kept about people we do not know
                self.session.add(self.record)
                address, template = self.mail.from_address, "mail_unknown_sender"
                quiet = mailbox.UNKNOWN_SENDER_QUIET
                if mailbox.answered_recently(self.session, address, template, self.now, quiet):
                    return "unknown sender (already told)"
                self._answer_address(address, template, {})
                return "unknown sender"
            return self._flag("not_a_contact")
        assert person is not None  # a contact was found through this person
        visit_answer = visit_replies.handle(
            self.session, self.settings, self.mail, contact, self.now
        )
        if visit_answer is not None:  # an answer to a visit proposal (1, 2, 3 or "geen")
            return visit_answer
        dates_answer = request_replies.handle(
            self.session, self.settings, self.mail, contact, self.now
        )
        if dates_answer is not None:  # an answer to a request's proposed dates (1, 2, 3, "geen")
            return dates_answer
        thread = mailbox.find_thread(
            self.session, [*self.mail.in_reply_to, *self.mail.references], self.mail.reference
        )
        if thread is not None and thread.contact_id != contact.id:
            thread = None  # someone else's conversation (a forward, a colleague): start our own
        if thread is None:
            thread = mailbox.open_thread(
                self.session, contact.id, self.mail.subject, self.mail.message_id, self.now
            )
        else:
            mailbox.remember(self.session, thread, self.mail.message_id)
        self.thread = thread
        if thread.state == "waiting_code":
            action = mailbox.redeem_code(self.session, thread, self.mail.new_text, self.now)
            if action:
                return self._perform(contact, person, thread, action)
            if mailbox.CODE_PATTERN.search(self.mail.new_text):
                # A wrong or expired code: say so, and keep the code we sent.
                self._answer(contact, "mail_code_invalid", {})
                return "wrong code"
        expecting = list((thread.draft or {}).get("missing") or [])
        found = understand(self.mail.new_text or self.mail.subject, self.today, expecting=expecting)
        outcome = self._act_on(contact, person, thread, found)
        asked = Intent.question in (found.intent, *found.also)
        if asked and not outcome.startswith("flagged"):
            # Acted on the instruction; the question beside it is for the team to answer.
            self._flag("question")
            outcome = f"{outcome}; question flagged"
        return outcome

    def _act_on(
        self, contact: Contact, person: people.Person, thread: MailThread, found: Understanding
    ) -> str:
        about_a_meeting = MeetingMail(self, contact, person, thread).handle(found.intent)
        if about_a_meeting is not None:
            return about_a_meeting
        if (
            thread.draft
            and MEETING not in thread.draft
            and found.intent
            in (
                Intent.request,
                Intent.unknown,
            )
        ):
            found = merge(_from_draft(thread.draft), found)
        if found.intent is Intent.balance:
            return self._balance(contact, person)
        if found.intent is Intent.cancel:
            return self._cancel(contact, person, thread)
        if found.intent is Intent.request:
            return self._request(contact, person, thread, found)
        if found.intent is Intent.question:
            return self._question(contact, thread)
        return self._flag("not_understood", contact)

    def _contact(self, person: people.Person | None) -> Contact | None:
        if person is None or person.kind != "contact":
            return None
        return self.session.get(Contact, person.id)

    # -- intents ---------------------------------------------------------------------------

    def _balance(self, contact: Contact, person: people.Person) -> str:
        period = period_on(self.session, self.today)
        lines = [
            {
                "region": line.region.code,
                "name": line.region.name,
                "kind": line.balance.kind.value,
                "granted": json_number(line.balance.amount("granted")),
                "reserved": json_number(line.balance.amount("reserved")),
                "used": json_number(line.balance.amount("used")),
                "available": json_number(line.balance.amount("available")),
            }
            for line in quota.overview(self.session, period, codes=person.region_codes)
        ]
        self._answer(contact, "mail_balance", {"period": period.code, "lines": lines})
        return "balance"

    def _request(
        self, contact: Contact, person: people.Person, thread: MailThread, found: Understanding
    ) -> str:
        region = str((thread.draft or {}).get("region") or "") or self._region_in_text(person)
        mailbox.update(self.session, thread, self.now, draft=_draft(found, region))
        if not region:
            mailbox.update(self.session, thread, self.now, state="waiting_region")
            names = sorted(self._region_names(person).items())
            self._answer(contact, "mail_ask_region", {"regions": names})
            return "asked for the region"
        if found.missing or found.days_problem is not None:
            mailbox.update(self.session, thread, self.now, state="waiting_info")
            self._answer(
                contact,
                "mail_ask_missing",
                {
                    "missing": list(found.missing),
                    "days_text": found.days_text,
                    "days_problem": str(found.days_problem or ""),
                    "kind_options": [k.value for k in found.kind_options],
                },
            )
            return f"asked for {', '.join(found.missing) or 'the days'}"
        return self._confirm_or_do(contact, person, thread, "submit")

    def _question(self, contact: Contact, thread: MailThread) -> str:
        """A question ("kan ik later annuleren?") changes nothing: the team answers it."""
        ref = self._request_ref(thread) or ""
        return self._flag("question", contact, "mail_question", {"ref": ref})

    def _cancel(self, contact: Contact, person: people.Person, thread: MailThread) -> str:
        ref = self._request_ref(thread)
        if ref is None:
            return self._flag("cancel_without_request", contact)
        mailbox.update(self.session, thread, self.now, draft={**thread.draft, "cancel": ref})
        return self._confirm_or_do(contact, person, thread, "cancel")

    # -- acting ----------------------------------------------------------------------------

    def _trusted(self) -> bool:
        """DMARC passed at our own receiving server, or the deployment trusts From: as is."""
        if self.settings.mail_trust_from:
            return True
        authserv = self.settings.mail_authserv_id
        results = self.mail.authentication_results
        if not authserv or not results:
            return False
        top = results[0].lower()  # the topmost header is the one our server added
        return top.split(";", 1)[0].strip() == authserv.lower() and "dmarc=pass" in top

    def _confirm_or_do(
        self, contact: Contact, person: people.Person, thread: MailThread, action: str
    ) -> str:
        if self._trusted():
            return self._perform(contact, person, thread, action)
        code = mailbox.issue_code(self.session, thread, action, self.now)
        # The code goes to the address we know, never to a Reply-To the mail asked for.
        self._answer(contact, "mail_confirm_code", {"code": code, "action": action})
        return f"asked to confirm {action}"

    def _perform(
        self, contact: Contact, person: people.Person, thread: MailThread, action: str
    ) -> str:
        if action in (MEETING_REGISTER, MEETING_CANCEL):
            return MeetingMail(self, contact, person, thread).perform(action)
        by = Actor(f"{contact.name} (mail:{contact.email})", Channel.email)
        reply = {**self._reply_headers(), "name": contact.name}
        draft = thread.draft or {}
        try:
            if action == "cancel":
                ref = str(draft.get("cancel") or "")
                request = rq.get_request(self.session, ref)
                region = self.session.get(Region, request.region_id)
                assert region is not None
                person.require_requester_side("cancel", region.code)
                with self.session.begin_nested():
                    rq.cancel(self.session, ref, by, self.now, reason="mail", reply=reply)
                mailbox.update(self.session, thread, self.now, state="done")
                return f"cancelled {ref}"
            found = _from_draft(draft)
            assert found.half_days is not None and found.kind is not None
            new = rq.NewRequest(
                region=str(draft["region"]),
                kind=found.kind.value,
                half_days=found.half_days,
                theme=found.theme,
                description=self.mail.new_text[: rq.MAX_TEXT],
                preferred_period=found.preferred_text,
                preferred_from=found.preferred_from,
                preferred_to=found.preferred_to,
                requester_contact_id=contact.id,
            )
            person.require_region("request", new.region)
            with self.session.begin_nested():
                request = rq.submit(self.session, new, by, self.now, reply=reply)
            mailbox.update(
                self.session, thread, self.now, state="done", request_id=request.id, draft={}
            )
            self._remember_notifications(thread, request)
            return f"submitted {request.ref}"
        except DomainError as error:
            self._answer(
                contact, "mail_refused", {"error": error.code, "params": _plain(error.params)}
            )
            return f"refused ({error.code})"

    # -- helpers ---------------------------------------------------------------------------

    def _region_names(self, person: people.Person) -> dict[str, str]:
        return {r.code: r.name for r in all_regions(self.session) if r.code in person.region_codes}

    def _region_in_text(self, person: people.Person) -> str:
        """A contact of several regions may name one: by code or by name."""
        names = self._region_names(person)
        if len(names) == 1:
            return next(iter(names))
        text = f"{self.mail.subject}\n{self.mail.new_text}".lower()
        hits = [c for c, n in names.items() if c.lower() in text or n.lower() in text]
        return hits[0] if len(hits) == 1 else ""

    def _request_ref(self, thread: MailThread) -> str | None:
        """The request a cancellation is about: the thread's, or the one our mail was about."""
        if thread.request_id is not None:
            request = self.session.get(SupportRequest, thread.request_id)
            if request is not None:
                return request.ref
        for value in self.mail.references:
            ref = ref_from_thread_id(value)
            if ref:
                return ref
        return self.mail.reference

    def _reply_headers(self) -> dict[str, Any]:
        references = [*self.mail.references, self.mail.message_id]
        return {
            "in_reply_to": self.mail.message_id,
            "references": references[-20:],
            "name": "",
        }

    def _remember_notifications(self, thread: MailThread, request: SupportRequest) -> None:
        """The confirmation mail the domain wrote is ours too: a reply to it finds the thread."""
        assert request.id is not None
        rows = self.session.exec(
            select(Notification).where(
                Notification.subject_type == "request",
                Notification.subject_id == request.id,
                Notification.channel == "email",
            )
        ).all()
        domain = domain_of(self.settings.mail_from)
        for row in rows:
            mailbox.remember(self.session, thread, message_id(row.dedupe_key, domain))

    def _answer(self, contact: Contact, template: str, context: dict[str, Any]) -> None:
        self._answer_address(contact.email, template, context, contact.language, contact.name)

    def _answer_address(
        self,
        address: str,
        template: str,
        context: dict[str, Any],
        language: str = "nl",
        name: str = "",
    ) -> None:
        if mailbox.answers_last_hour(self.session, address, self.now) >= mailbox.ANSWERS_PER_HOUR:
            log.warning("not answering %s: too many answers this hour", address)
            return
        key = f"mail:{self.mail.message_id}:{template}"
        if self.thread is not None:  # a reply to our answer must find this thread again
            domain = domain_of(self.settings.mail_from)
            mailbox.remember(self.session, self.thread, message_id(key, domain))
        outbox.enqueue(
            self.session,
            key=key,
            template=template,
            channel=outbox.OutboxChannel.email,
            recipient=address,
            now=self.now,
            language=language,
            context={
                **context,
                **self._reply_headers(),
                "name": name,
                "reply_subject": self.mail.subject,
            },
        )

    def _flag(
        self,
        reason: str,
        contact: Contact | None = None,
        template: str = "mail_flagged",
        context: dict[str, Any] | None = None,
    ) -> str:
        """Keep the mail for the team (`sto mail list`) and tell the contact, when there is one."""
        mailbox.flag(
            self.session,
            self.record,
            sender=self.mail.from_address,
            subject=self.mail.subject,
            reason=reason,
            excerpt=self.mail.new_text or self.mail.text,
            now=self.now,
        )
        if contact is not None:
            self._answer(contact, template, context or {})
        return f"flagged ({reason})"
