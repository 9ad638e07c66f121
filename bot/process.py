"""The one async process that `sto run` starts.

It brings the database up to date, seeds it on first start, and serves the
HTTP listener (`GET /healthz`; Slack's `POST /slack/events` joins it later).
Database work is synchronous SQLAlchemy, so it runs in a worker thread:
nothing blocks the event loop that has to answer within Slack's 3 seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import signal
import uuid
from datetime import UTC
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine, func
from sqlmodel import select

from bot.render import default_renderer
from config.settings import Settings, SlackMode
from models.clock import Clock, SystemClock
from models.db import make_engine, transaction
from models.outbox import OutboxChannel
from models.schema import upgrade
from models.tables import Region
from scheduling.dispatcher import Discard, Dispatcher
from scheduling.jobs import PeriodicJobs
from scheduling.rules import JOBS, ROLLOVER_CAP

log = logging.getLogger("sto")
ENGINE_KEY = web.AppKey("engine", Engine)


def prepare_database(engine: Engine, clock: Clock) -> bool:
    """Migrate, and seed when the database has no regions yet; True when it seeded."""
    from models.actor import Actor
    from models.reference import is_seeded, seed

    upgrade(engine)
    with transaction(engine) as session:
        if is_seeded(session):
            return False
        seed(session, Actor.system(), clock.now())
        return True


def periodic_jobs(settings: Settings, engine: Engine, clock: Clock) -> PeriodicJobs:
    """The periodic reminder rules, led by this process while it holds the lease."""
    return PeriodicJobs(
        engine,
        clock,
        JOBS,
        timezone=settings.timezone,
        holder=f"{platform.node()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        options={ROLLOVER_CAP: settings.rollover_max_half_days},
    )


def _count_regions(engine: Engine) -> int:
    with transaction(engine) as session:
        return int(session.exec(select(func.count()).select_from(Region)).one())


async def healthz(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    try:
        regions = await asyncio.to_thread(_count_regions, engine)
    except Exception as exc:  # the answer is the report: any database failure is "down"
        log.warning("healthz: database check failed: %s", exc)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "regions": regions})


def build_app(engine: Engine) -> web.Application:
    app = web.Application()
    app[ENGINE_KEY] = engine
    app.router.add_get("/healthz", healthz)
    return app


async def run_async(settings: Settings, clock: Clock | None = None) -> None:
    clock = clock or SystemClock()
    say = default_renderer()
    lang = settings.language.value
    engine = make_engine(settings.database_url)
    seeded = await asyncio.to_thread(prepare_database, engine, clock)
    url = engine.url.render_as_string()
    log.info(say.render("process.database_ready", lang, url=url, seeded=seeded))

    web_app = build_app(engine)
    dispatcher = Dispatcher(engine, {}, clock)
    socket = None
    if settings.slack_bot_token:
        socket = _start_slack(settings, engine, clock, dispatcher, web_app)
        log.info(say.render("process.slack_on", lang, mode=str(settings.slack_mode)))
    else:
        # Nothing goes out in Slack: App Home refreshes and the team's request cards are
        # settled as not applicable (the team reads `sto requests list` and its digest), and
        # a direct message becomes the mail to the address it names (scheduling.dispatcher).
        off = Discard("slack off")
        for channel in (OutboxChannel.slack, OutboxChannel.team, OutboxChannel.home):
            dispatcher.register(channel.value, off)
        log.info(say.render("process.slack_off", lang))

    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info(
        say.render("process.listening", lang, host=settings.http_host, port=settings.http_port)
    )

    # APScheduler is the clock, the outbox the memory: the jobs only wake the dispatcher
    # and look, once a minute, which periodic reminders are due (scheduling/jobs.py).
    periodic = periodic_jobs(settings, engine, clock)

    async def tick() -> None:
        try:
            ran = await asyncio.to_thread(periodic.tick)
        except Exception:  # the database may be away for a while; the next tick tries again
            log.exception("periodic jobs: tick failed")
            return
        if any(r.written for r in ran):
            dispatcher.wake()

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(dispatcher.wake, "interval", seconds=30, id="dispatch", replace_existing=True)
    scheduler.add_job(
        tick,
        "interval",
        seconds=60,
        id="periodic",
        replace_existing=True,
        next_run_time=clock.now(),
    )
    scheduler.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if socket is not None:
        await socket.connect_async()
    mail = await _start_mail(settings, engine, clock, dispatcher, stop)
    log.info(say.render("process.mail", lang, **mail.describe(settings)))
    dispatching = asyncio.create_task(dispatcher.run_forever(stop, poll=None))
    await stop.wait()
    log.info(say.render("process.stopping", lang))
    scheduler.shutdown(wait=False)
    await asyncio.to_thread(periodic.step_down)
    await mail.stop_inbound()  # no new mail in, then let the dispatcher finish its round
    await dispatching
    await mail.notifier.close()
    if socket is not None:
        await socket.close_async()
    await runner.cleanup()
    engine.dispose()


class _Mail:
    """The running mail channel: outbound notifier, built-in receiver, IMAP reader."""

    def __init__(self, notifier: Any, receiver: Any, imap: asyncio.Task[None] | None) -> None:
        self.notifier, self.receiver, self.imap = notifier, receiver, imap

    def describe(self, settings: Settings) -> dict[str, Any]:
        return {
            "smtp": settings.smtp_host or "",
            "outbox": str(settings.outbox_dir),
            "receiver": f"{settings.inbound_smtp_host}:{self.receiver.port}"
            if self.receiver
            else "",
            "imap": settings.imap_host or "",
        }

    async def stop_inbound(self) -> None:
        if self.receiver is not None:
            await self.receiver.close()
        if self.imap is not None:
            await self.imap  # it ends on the stop event


async def _start_mail(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    dispatcher: Dispatcher,
    stop: asyncio.Event,
) -> _Mail:
    from bot.mail.imap import ImapConfig, run_imap
    from bot.mail.inbound import Inbound, MailDeps
    from bot.mail.notifier import MailNotifier
    from bot.mail.receiver import start_from_settings

    # aiosmtpd sets its logger to INFO when imported: every SMTP command in our log.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    notifier = MailNotifier.from_settings(settings, clock=clock)
    dispatcher.register("email", notifier)
    inbound = Inbound(MailDeps(settings=settings, engine=engine, clock=clock, wake=dispatcher.wake))
    receiver = await start_from_settings(settings, inbound.handle)
    config = ImapConfig.from_settings(settings)
    imap = asyncio.create_task(run_imap(config, inbound.handle, stop)) if config else None
    return _Mail(notifier, receiver, imap)


def _start_slack(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    dispatcher: Dispatcher,
    web_app: web.Application,
) -> Any:
    from bot.slack.app import add_http_route, socket_handler
    from bot.slack.app import build_app as build_slack
    from bot.slack.deps import SlackDeps
    from bot.slack.notifier import SlackNotifier

    deps = SlackDeps(settings=settings, engine=engine, clock=clock, wake=dispatcher.wake)
    app = build_slack(deps)
    notifier = SlackNotifier(deps, app.client)
    dispatcher.register("slack", notifier)
    dispatcher.register("team", notifier)
    dispatcher.register("home", notifier)
    if settings.slack_mode is SlackMode.socket:
        assert settings.slack_app_token
        return socket_handler(app, settings.slack_app_token)
    add_http_route(web_app, app)
    return None


def serve(settings: Settings, **kwargs: Any) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(run_async(settings, **kwargs))
