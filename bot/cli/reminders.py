"""`sto reminders`: what the assistant is still going to say, and the periodic jobs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.context import ctx_of, h
from bot.cli.output import table, to_json
from bot.process import periodic_jobs
from models import outbox
from models.db import reading
from models.tables import Notification

app = typer.Typer(no_args_is_help=True)


def _row(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "due_at": n.due_at,
        "template": n.template,
        "channel": n.channel,
        "recipient": n.recipient,
        "language": n.language,
        "status": n.status,
        "attempts": n.attempts,
        "subject": f"{n.subject_type}:{n.subject_id}" if n.subject_type else "",
        "key": n.dedupe_key,
    }


@app.command("list", help=h("reminders_list"))
def list_pending(
    ctx: typer.Context,
    due: Annotated[bool, typer.Option("--due", help=h("reminders_due"))] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help=h("reminders_limit"))] = 200,
    as_json: Annotated[bool, typer.Option("--json", help=h("json"))] = False,
) -> None:
    """Pending messages and reminders, soonest first."""
    cli = ctx_of(ctx)
    with reading(cli.engine) as session:
        rows = [
            _row(n)
            for n in outbox.pending(session, due_by=cli.clock.now() if due else None, limit=limit)
        ]
    if as_json:
        cli.write(to_json(rows))
        return
    headers = [
        cli.t(f"cli.reminders_header_{k}") for k in ("due", "what", "channel", "to", "status")
    ]
    t = table(headers)
    for row in rows:
        t.add_row(
            cli.t("cli.mail_when", at=row["due_at"], tz=cli.settings.timezone),
            cli.t("cli.reminders_what", template=row["template"]),
            row["channel"],
            row["recipient"],
            cli.t("cli.reminders_status", status=row["status"], attempts=row["attempts"]),
        )
    cli.out.print(t)
    cli.out.print(cli.t("cli.reminders_count", count=len(rows), due=due), markup=False)


@app.command("run", help=h("reminders_run"))
def run_due(ctx: typer.Context) -> None:
    """Run the periodic jobs that are due now, once (what `sto run` does every minute)."""
    cli = ctx_of(ctx)
    ran = periodic_jobs(cli.settings, cli.engine, cli.clock).tick()
    for r in ran:
        cli.out.print(
            cli.t("cli.reminders_ran", job=r.job, occurrence=r.occurrence, written=r.written),
            markup=False,
        )
    if not ran:
        cli.out.print(cli.t("cli.reminders_nothing"), markup=False)
