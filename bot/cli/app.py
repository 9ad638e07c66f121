"""The root of `sto`: wires the command groups and turns errors into clear messages."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from sqlalchemy.exc import OperationalError

from bot.cli import mail, meetings, quota, reminders, requests, supporters, visits
from bot.cli import request_proposals as _proposals  # noqa: F401  (joins `sto requests`)
from bot.cli.context import CliContext, ctx_of, h
from bot.render import default_renderer
from config.settings import SettingsError, load_settings
from models import imports
from models.clock import Clock, SystemClock
from models.db import transaction
from models.errors import DomainError
from models.imports import LineProblem
from models.schema import upgrade

app = typer.Typer(
    name="sto",
    help=h("app"),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(no_args_is_help=True, help=h("db"))
import_app = typer.Typer(no_args_is_help=True, help=h("import"))
app.add_typer(db_app, name="db")
app.add_typer(quota.app, name="quota", help=h("quota"))
app.add_typer(requests.app, name="requests", help=h("requests"))
app.add_typer(import_app, name="import")
app.add_typer(mail.app, name="mail", help=h("mail"))
app.add_typer(meetings.app, name="meetings", help=meetings.mh("meetings"))
app.add_typer(reminders.app, name="reminders", help=h("reminders"))
app.add_typer(supporters.app, name="supporters", help=supporters.sh("supporters"))
app.add_typer(visits.app, name="visits", help=visits.vh("visits"))


@db_app.command("upgrade", help=h("db_upgrade"))
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the database schema to the newest version (Alembic)."""
    cli = ctx_of(ctx)
    upgrade(cli.engine)
    cli.out.print(cli.t("cli.db_upgraded"), markup=False)


@app.command("seed", help=h("seed"))
def seed(ctx: typer.Context) -> None:
    """Load the reference data from config/data (safe to repeat)."""
    from models.reference import SeedError
    from models.reference import seed as load

    cli = ctx_of(ctx)
    upgrade(cli.engine)
    try:
        with transaction(cli.engine) as session:
            report = load(session, cli.actor, cli.clock.now())
    except SeedError as exc:
        cli.err.print(cli.t("cli.seed_file_broken", path=str(exc.path)), markup=False)
        _fail_with_problems(cli, exc.problems)
    cli.out.print(cli.t("cli.seeded", report=report), markup=False)


def _fail_with_problems(cli: CliContext, problems: list[LineProblem]) -> NoReturn:
    for p in problems:
        cli.err.print(
            cli.t(
                "imports.problem", line=p.line, column=p.column, problem=p.problem, value=p.value
            ),
            markup=False,
        )
    cli.fail("imports.failed", count=len(problems))


def _import(ctx: typer.Context, what: str, file: Path, dry_run: bool) -> None:
    cli = ctx_of(ctx)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        cli.fail("errors.file_unreadable", path=str(file), why=str(exc))
    importer = getattr(imports, f"import_{what}")
    with transaction(cli.engine) as session:
        report = importer(session, text, cli.actor, cli.clock.now(), dry_run=dry_run)
    if report.problems:
        for p in report.problems:
            cli.err.print(
                cli.t(
                    "imports.problem",
                    line=p.line,
                    column=p.column,
                    problem=p.problem,
                    value=p.value,
                ),
                markup=False,
            )
        cli.fail("imports.failed", count=len(report.problems))
    cli.out.print(
        cli.t(
            "imports.summary",
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            dry_run=dry_run,
        ),
        markup=False,
    )


FileArg = Annotated[Path, typer.Argument(help=h("file"))]
DryRun = Annotated[bool, typer.Option("--dry-run", help=h("dry_run"))]


@import_app.command("regions", help=h("import_regions"))
def import_regions(ctx: typer.Context, file: FileArg, dry_run: DryRun = False) -> None:
    """Import regions (format: config/data/regions.csv)."""
    _import(ctx, "regions", file, dry_run)


@import_app.command("contacts", help=h("import_contacts"))
def import_contacts(ctx: typer.Context, file: FileArg, dry_run: DryRun = False) -> None:
    """Import contacts (format: config/data/contacts.csv)."""
    _import(ctx, "contacts", file, dry_run)


@import_app.command("supporters", help=h("import_supporters"))
def import_supporters(ctx: typer.Context, file: FileArg, dry_run: DryRun = False) -> None:
    """Import supporters (format: config/data/supporters.csv)."""
    _import(ctx, "supporters", file, dry_run)


@app.command("run", help=h("run"))
def run(ctx: typer.Context) -> None:
    """Start the assistant: update the database, seed on first start, /healthz and channels."""
    from bot.process import serve

    serve(ctx_of(ctx).settings)


def main(argv: list[str] | None = None, clock: Clock | None = None) -> None:
    """The `sto` entry point; tests pass `argv` and a clock they control."""
    renderer = default_renderer()
    try:
        settings = load_settings()
    except SettingsError as exc:
        # The language setting itself may be what is wrong: fall back to Dutch.
        lang = os.environ.get("STO_LANGUAGE", "nl")
        for name, value, why in exc.problems:
            key = "errors.setting_missing" if value is None else "errors.setting"
            message = renderer.render(key, lang, name=name, value=value, why=why)
            print(message, file=sys.stderr)
        sys.exit(2)
    cli = CliContext(settings, clock=clock or SystemClock())
    try:
        app(args=argv, obj=cli, prog_name="sto")
    except DomainError as exc:
        cli.err.print(cli.t(f"errors.{exc.code}", **exc.params), markup=False)
        sys.exit(1)
    except OperationalError as exc:
        cli.err.print(
            cli.t(
                "errors.database_unreachable",
                url=cli.engine.url.render_as_string(hide_password=True),
                why=str(exc.orig or exc).strip().splitlines()[0],
            ),
            markup=False,
        )
        sys.exit(1)
    finally:
        if "engine" in cli.__dict__:  # only when a command opened the database
            cli.engine.dispose()
