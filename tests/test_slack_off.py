"""A desk without Slack (no SLACK_BOT_TOKEN): nothing waits for ever on a Slack channel.

The team's request cards and absence notes ("team") and App Home refreshes ("home") are
settled as not applicable; a direct message ("slack") goes by mail to the address it
names, and one that names none (a meeting announcement, which has a mail of its own) is
settled too. The team still sees every waiting request: `sto requests list` and the
digest, which now arrives by mail. Through the dispatcher as `sto run` wires it, and
through `sto run` itself as a real process.
"""

from __future__ import annotations

import asyncio
import email
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.mail.compose import Composer
from bot.mail.notifier import MailNotifier
from bot.mail.outbound import RecordingMailer
from bot.render import Renderer
from bot.slack.app import web_client
from bot.slack.deps import SlackDeps
from bot.slack.notifier import SlackNotifier
from config.settings import Settings
from models import outbox
from models.clock import FixedClock
from models.db import transaction
from models.tables import Notification, Visit
from scheduling.dispatcher import Discard, Dispatcher, Notifier
from scheduling.jobs import PeriodicJobs
from scheduling.rules import JOBS
from tests.cli_helpers import Sto, run_until
from tests.conftest import RegionFactory
from tests.slack_fake import FakeSlackApi
from tests.slack_harness import populate
from tests.test_periodic_jobs import add_contact, add_team, submit, utc
from tests.test_visits_mail import OPTIONS as VISIT_OPTIONS
from tests.test_visits_mail import WINDOW as VISIT_WINDOW
from tests.test_visits_mail import Post, to
from tests.visit_helpers import CONTACT_SLACK, proposed_visit
from tests.visit_helpers import world as visit_world

OFF = Discard("slack off")


def slack_off(engine: Engine, mailer: RecordingMailer, at: datetime) -> Dispatcher:
    """The dispatcher as `sto run` wires it without SLACK_BOT_TOKEN."""
    clock = FixedClock(at)
    notifier = MailNotifier(mailer, Composer(Renderer(), "ondersteuning@sto.example"), clock)
    channels: dict[str, Notifier] = {"slack": OFF, "team": OFF, "home": OFF, "email": notifier}
    return Dispatcher(engine, channels, clock)


def drain(dispatcher: Dispatcher) -> None:
    async def run() -> None:
        while await dispatcher.run_once():
            pass

    asyncio.run(run())


def rows(engine: Engine) -> list[Notification]:
    with Session(engine) as session:
        return list(session.exec(select(Notification).order_by(col(Notification.id))).all())


def waiting(engine: Engine) -> list[Notification]:
    with Session(engine) as session:
        return outbox.pending(session)


def test_the_digest_reaches_a_team_member_with_a_slack_id_by_mail(
    engine: Engine, make_region: RegionFactory
) -> None:
    make_region("ZEELAND", days="3")
    add_team(engine, slack_id="UTEAM")
    add_contact(engine, "ZEELAND", "zee@school.example", slack_id="UZEE")
    ref = submit(engine, "ZEELAND", utc(2026, 11, 25, 10, 0))
    at = utc(2026, 12, 1, 8, 0)  # Tuesday 09:00 in Amsterdam: digest, nudge, unused days
    PeriodicJobs(engine, FixedClock(at), JOBS, timezone="Europe/Amsterdam", holder="t").tick()
    mailer = RecordingMailer()
    drain(slack_off(engine, mailer, at + timedelta(seconds=5)))

    assert not waiting(engine)  # nothing waits for ever
    by_channel: dict[str, set[tuple[str, str]]] = {}
    for n in rows(engine):
        by_channel.setdefault(n.channel, set()).add((n.template, n.status))
    assert by_channel["team"] == {("team_request", "cancelled")}
    # The direct messages became mails, the same rows (so the same Message-ID).
    assert "slack" not in by_channel
    assert by_channel["email"] == {
        (t, "sent") for t in ("team_digest", "request_nudge", "unused_days")
    }
    assert {n.last_error for n in rows(engine)} == {
        "not applicable: slack off",  # the team's card
        "not applicable: slack off; by mail instead",
    }
    digest = next(m for m in mailer.sent if "coordinator@sto.example" in str(m["To"]))
    body = digest.get_body(("plain",))
    assert body is not None and ref in body.get_content()  # the waiting request, by mail
    unused = next(m for m in mailer.sent if "zee@school.example" in str(m["To"]))
    assert "Beste Jan de Vries" in str(unused.get_body(("plain",)))


def test_a_direct_message_without_an_address_is_settled_not_mailed(engine: Engine) -> None:
    """A meeting announcement in Slack names no fallback: its mail went out on its own."""
    at = utc(2026, 12, 1, 8, 0)
    with transaction(engine) as session:
        outbox.enqueue(
            session,
            key="announce:1:1:slack",
            template="meeting_announcement",
            channel=outbox.OutboxChannel.slack,
            recipient="UZEE",
            now=at,
            context={"code": "TB-2027-01"},
        )
    drain(slack_off(engine, RecordingMailer(), at))
    [row] = rows(engine)
    assert (row.status, row.last_error) == ("cancelled", "not applicable: slack off")


# --- `sto run` without SLACK_BOT_TOKEN ----------------------------------------------------


def test_sto_run_without_slack_leaves_nothing_waiting(
    engine: Engine,
    make_region: RegionFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(engine, make_region)  # people with Slack ids: ZEELAND's contact is UZEE
    now = datetime.now(UTC) - timedelta(minutes=1)  # `sto run` keeps the real time
    cli = Sto(engine, capsys, monkeypatch, now)
    submitted = cli(
        "requests", "submit", "ZEELAND", "1", "--kind", "process",
        "--requester", "zee@school.example",
    )  # fmt: skip
    assert submitted.code == 0, submitted.err
    ref = submitted.out.split()[0]
    start = (now + timedelta(days=20)).date().isoformat()
    end = (now + timedelta(days=22)).date().isoformat()
    absent = cli("supporters", "absent", "cf@sto.example", "--from", start, "--to", end)
    assert absent.code == 0, absent.err
    made = {n.dedupe_key: (n.channel, n.template) for n in waiting(engine)}
    assert {("slack", "request_submitted"), ("team", "team_request")} <= set(made.values())
    assert {("team", "absence_team"), ("home", "app_home")} <= set(made.values())
    [dm] = [key for key, (channel, _) in made.items() if channel == "slack"]
    keys = list(made)

    def mine() -> dict[str, Notification]:
        with Session(engine) as session:
            found = session.exec(select(Notification).where(col(Notification.dedupe_key).in_(keys)))
            return {n.dedupe_key: n for n in found}

    log = run_until(
        engine,
        tmp_path,
        lambda: (
            len(found := mine()) == len(keys)
            and all(n.status not in ("pending", "sending") for n in found.values())
        ),
    )

    assert "Directe berichten gaan per e-mail" in log
    settled = mine()
    for key in made:
        if key != dm:
            assert (settled[key].status, settled[key].last_error) == (
                "cancelled",
                "not applicable: slack off",
            )
    mailed = settled[dm]  # the direct message became the mail
    assert (mailed.channel, mailed.template) == ("email", "request_submitted")
    assert (mailed.recipient, mailed.status) == ("zee@school.example", "sent")
    assert "fallback_email" not in mailed.context
    [eml] = [
        email.message_from_bytes(p.read_bytes())
        for p in (tmp_path / "var" / "outbox").glob("*.eml")
        if "zee@school.example" in p.read_text(errors="replace")
    ]
    assert ref in str(eml["Subject"])
    listed_keys = {r["key"] for r in cli("reminders", "list", "--json").json()}
    assert not listed_keys & set(keys)
    # The team still sees what waits for it, from the command line.
    listed = cli("requests", "list", "--open", "--json").json()
    assert [(r["ref"], r["status"]) for r in listed] == [(ref, "submitted")]
    assert json.loads(cli("supporters", "absences", "--json").out)


def test_a_visit_proposal_that_went_by_mail_is_answered_by_mail(
    engine: Engine, make_region: RegionFactory, tmp_path: Path
) -> None:
    """The contact on Slack gets the proposal by mail while Slack is off; their answer "2"
    is matched to it (its Message-ID is the proposal's) and schedules the visit."""
    w = visit_world(engine, make_region)
    visit_id, _ = proposed_visit(engine, w.zeeland, w.cf, VISIT_OPTIONS, window=VISIT_WINDOW)
    post = Post(engine, tmp_path)
    mail = post.dispatcher.notifiers["email"]
    post.dispatcher = Dispatcher(
        engine, {"slack": OFF, "team": OFF, "home": OFF, "email": mail}, post.clock
    )
    [proposal] = to(post.deliver(), "zee@school.example")
    assert "kies een moment" in str(proposal["Subject"])

    post.reply("Zeger Zeeuw <zee@school.example>", "2", proposal)
    with Session(engine) as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None
        assert (visit.status, visit.day) == ("scheduled", VISIT_OPTIONS[1])


def test_a_visit_proposal_slack_refused_for_good_is_answered_by_mail(
    engine: Engine, make_region: RegionFactory, tmp_path: Path
) -> None:
    """Slack is on but refuses the contact for good (user_not_found): the proposal goes
    out as the mail standing in for it, and an answer "2" to that mail is matched."""
    w = visit_world(engine, make_region)
    visit_id, _ = proposed_visit(engine, w.zeeland, w.cf, VISIT_OPTIONS, window=VISIT_WINDOW)
    post = Post(engine, tmp_path)
    mail = post.dispatcher.notifiers["email"]
    with FakeSlackApi() as api:
        api.fail("conversations.open", "user_not_found", times=10)
        settings = Settings(
            database_url=engine.url.render_as_string(hide_password=False),
            slack_bot_token=api.token,
            slack_api_url=api.url,
        )
        deps = SlackDeps(settings=settings, engine=engine, clock=post.clock)
        slack = SlackNotifier(deps, web_client(deps))
        post.dispatcher = Dispatcher(
            engine, {"slack": slack, "team": OFF, "home": OFF, "email": mail}, post.clock
        )
        [proposal] = to(post.deliver(), "zee@school.example")
    assert "kies een moment" in str(proposal["Subject"])
    with Session(engine) as session:
        failed = session.exec(select(Notification).where(Notification.status == "failed")).all()
    assert [n.recipient for n in failed] == [CONTACT_SLACK]

    post.reply("Zeger Zeeuw <zee@school.example>", "2", proposal)
    with Session(engine) as session:
        visit = session.get(Visit, visit_id)
        assert visit is not None
        assert (visit.status, visit.day) == ("scheduled", VISIT_OPTIONS[1])
