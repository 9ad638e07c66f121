"""What people type reaches an HTML mail escaped, once; the text/plain part shows it as typed.

Through the real flow on both databases: the domain (and the inbound mail pipeline)
writes outbox rows, the dispatcher hands them to the mail notifier, FileMailer writes
the .eml files, and they are parsed back here. The text is a contact's name, a region's
name, a theme, a reason, a supporter's name, a meeting's title and place, and the
display name of a stranger's mail: each of them reaches the mail through the phrases of
mail.j2 (greeting, meeting place, proposal texts, answers) as well as directly.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import date, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from bot.mail.compose import Composer
from bot.mail.inbound import Inbound, MailDeps
from bot.mail.notifier import MailNotifier
from bot.mail.outbound import FileMailer
from bot.render import Renderer
from config.settings import Settings
from models import meetings as mt
from models import request_proposals as rp
from models import requests as rq
from models.clock import FixedClock
from models.db import transaction
from models.tables import Contact, Region, RegionContact, Supporter
from scheduling.dispatcher import Dispatcher
from tests.conftest import NOW, TEAM, RegionFactory

EVIL = '<script>x</script> & <a href="https://evil.example/">klik</a>'
ESCAPED = "&lt;script&gt;x&lt;/script&gt; &amp; &lt;a href="
SENDER = "ondersteuning@sto.example"


def _dispatch(engine: Engine, folder: Path) -> list[EmailMessage]:
    clock = FixedClock(NOW)
    notifier = MailNotifier(FileMailer(folder), Composer(Renderer(), SENDER), clock)
    asyncio.run(Dispatcher(engine, {"email": notifier}, clock).run_once())
    found = []
    for path in sorted(folder.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        found.append(msg)
    return found


def _check(mail: EmailMessage) -> bool:
    """The HTML part has no raw markup of ours and nothing escaped twice; True when the
    mail carries the text at all."""
    text_part, html_part = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = str(text_part.get_content()), str(html_part.get_content())
    subject = str(mail["Subject"])
    assert "<script" not in html and "<a href" not in html, (subject, html)
    assert "&amp;lt;" not in html and "&amp;amp;" not in html, (subject, html)  # not twice
    if EVIL in text:
        assert ESCAPED in html, (subject, html)
        return True
    assert ESCAPED not in html, subject  # the same text in both parts
    return False


def test_request_mails_escape_every_value_in_html(
    engine: Engine, make_region: RegionFactory, tmp_path: Path
) -> None:
    region = make_region("ZEELAND", days="10")
    with transaction(engine) as session:
        found = session.get(Region, region.id)
        assert found is not None
        found.name = f"Zeeland {EVIL}"
        contact = Contact(email="jose@school.example", name=f"José {EVIL}")
        session.add_all([found, contact])
        session.add(Supporter(email="piet@sto.example", name=f"Piet {EVIL}", role="specialist"))
        session.flush()
        assert contact.id is not None and region.id is not None
        session.add(RegionContact(region_id=region.id, contact_id=contact.id))
        contact_id = contact.id

    def new() -> str:
        with transaction(engine) as session:
            request = rq.NewRequest(
                region="ZEELAND", kind="process", half_days=3, theme=f"leerlijnen {EVIL}",
                description=f"graag {EVIL}", requester_contact_id=contact_id,
                preferred_from=date(2027, 1, 11), preferred_to=date(2027, 2, 12),
            )  # fmt: skip
            return rq.submit(session, request, TEAM, NOW).ref

    rejected, proposed, cancelled = new(), new(), new()
    with transaction(engine) as session:
        rq.reject(session, rejected, TEAM, NOW, reason=f"het budget {EVIL}")
        rq.approve(session, proposed, TEAM, NOW)
        rq.assign(session, proposed, TEAM, NOW, supporter_email="piet@sto.example")
        rp.propose_dates(session, proposed, [[date(2027, 1, 12), date(2027, 1, 13)]], TEAM, NOW)
        rq.approve(session, cancelled, TEAM, NOW)
        rq.schedule(session, cancelled, TEAM, NOW, days=[date(2027, 1, 19), date(2027, 1, 20)])
        rq.cancel(session, cancelled, TEAM, NOW, reason=f"school dicht {EVIL}")
    mails = _dispatch(engine, tmp_path)
    templates_seen = {str(m["Subject"]) for m in mails}
    assert len(mails) >= 9, templates_seen
    carrying = [m for m in mails if _check(m)]
    assert len(carrying) == len(mails)  # every one greets José or names the region


def test_meeting_mails_escape_the_title_the_place_and_the_name(
    engine: Engine, tmp_path: Path
) -> None:
    with transaction(engine) as session:
        meeting = mt.create_meeting(
            session,
            title=f"Leerlijnen {EVIL}",
            theme="doorlopende-leerlijnen",
            description="",
            starts_at=NOW + timedelta(days=30),
            ends_at=NOW + timedelta(days=30, hours=3),
            timezone="Europe/Amsterdam",
            location=f"Utrecht {EVIL}",
            online_url="",
            capacity=1,
            registration_deadline=NOW + timedelta(days=20),
            by=TEAM,
            now=NOW,
        )
        code = meeting.code
    for who in ("anna@school.example", "bram@school.example"):
        with transaction(engine) as session:
            mt.register(
                session, code, name=f"{who[:4].title()} {EVIL}", email=who, region_code=None,
                contact_id=None, channel="cli", by=TEAM, now=NOW,
            )  # fmt: skip
    with transaction(engine) as session:
        mt.cancel_registration(session, (code, "anna@school.example"), by=TEAM, now=NOW)
    mails = _dispatch(engine, tmp_path)
    assert len(mails) == 3  # Bram waitlisted, Anna unregistered, Bram promoted
    assert all(_check(m) for m in mails)


def test_answers_to_mail_escape_what_the_sender_wrote(
    engine: Engine, make_region: RegionFactory, tmp_path: Path
) -> None:
    make_region("ZEELAND", days="2")
    with transaction(engine) as session:
        region = session.exec(select(Region)).one()
        contact = Contact(email="zeger@school.example", name=f"Zeger {EVIL}")
        session.add(contact)
        session.flush()
        assert contact.id is not None and region.id is not None
        session.add(RegionContact(region_id=region.id, contact_id=contact.id))
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        mail_from=SENDER,
        mail_trust_from=True,
    )
    inbound = Inbound(MailDeps(settings=settings, engine=engine, clock=FixedClock(NOW)))
    for sender, body in (
        ("wie@elders.example", "Hoeveel dagen hebben wij nog?"),  # a stranger
        ("zeger@school.example", "Wij willen graag 5 dagen procesbegeleiding in maart."),
    ):
        msg = EmailMessage()
        msg["From"] = Address(display_name=f"Iemand {EVIL}", addr_spec=sender)
        msg["To"] = SENDER
        msg["Subject"] = f"Vraag {EVIL}"
        msg["Message-ID"] = f"<{sender.split('@')[0]}@client.example>"
        msg.set_content(body)
        assert asyncio.run(inbound.handle(bytes(msg))) is True
    mails = _dispatch(engine, tmp_path)
    assert len(mails) == 2  # the stranger's polite answer, and the refusal (only 2 days)
    assert [_check(m) for m in mails] == [False, True]  # a stranger is not greeted by name
