"""`sto mail`: the mails nobody could act on, kept for the team."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.context import ctx_of, h
from bot.cli.output import table, to_json
from models import mailbox, outbox
from models.db import reading, transaction

app = typer.Typer(no_args_is_help=True)


def _row(flag: Any) -> dict[str, Any]:
    return {
        "id": flag.id,
        "received_at": flag.created_at,
        "sender": flag.sender,
        "subject": flag.subject,
        "reason": flag.reason,
        "excerpt": flag.excerpt,
        "resolved_at": flag.resolved_at,
        "resolved_by": flag.resolved_by,
    }


@app.command("list", help=h("mail_list"))
def list_flagged(
    ctx: typer.Context,
    include_resolved: Annotated[bool, typer.Option("--all", help=h("mail_all"))] = False,
    as_json: Annotated[bool, typer.Option("--json", help=h("json"))] = False,
) -> None:
    """Flagged mails, oldest first."""
    cli = ctx_of(ctx)
    with reading(cli.engine) as session:
        rows = [_row(f) for f in mailbox.flagged(session, include_resolved=include_resolved)]
    if as_json:
        cli.write(to_json(rows))
        return
    headers = [
        cli.t(f"cli.mail_header_{k}") for k in ("id", "received", "sender", "subject", "reason")
    ]
    t = table(headers)
    for row in rows:
        t.add_row(
            str(row["id"]),
            cli.t("cli.mail_when", at=row["received_at"], tz=cli.settings.timezone),
            row["sender"],
            row["subject"][:60],
            cli.t("cli.mail_reason", reason=row["reason"]),
        )
    cli.out.print(t)
    cli.out.print(cli.t("cli.mail_count", count=len(rows)), markup=False)


@app.command("resolve", help=h("mail_resolve"))
def resolve(ctx: typer.Context, flag_id: Annotated[int, typer.Argument()]) -> None:
    """Mark a flagged mail as handled by the team."""
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        row = mailbox.resolve(session, flag_id, cli.actor.name, cli.clock.now())
    if row is None:
        cli.fail("cli.mail_unknown", id=flag_id)
    cli.out.print(cli.t("cli.mail_resolved", id=flag_id), markup=False)


@app.command("failed", help=h("mail_failed"))
def failed(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help=h("json"))] = False
) -> None:
    """Messages that could not be delivered for good (5xx, unknown address), newest first."""
    cli = ctx_of(ctx)
    with reading(cli.engine) as session:
        rows = [
            {
                "id": n.id,
                "created_at": n.created_at,
                "channel": n.channel,
                "recipient": n.recipient,
                "template": n.template,
                "ref": n.context.get("ref", ""),
                "attempts": n.attempts,
                "error": n.last_error,
            }
            for n in outbox.failed(session)
        ]
    if as_json:
        cli.write(to_json(rows))
        return
    t = table([cli.t(f"cli.failed_header_{k}") for k in ("when", "to", "about", "error")])
    for row in rows:
        t.add_row(
            cli.t("cli.mail_when", at=row["created_at"], tz=cli.settings.timezone),
            row["recipient"],
            row["ref"] or row["template"],
            row["error"][:80],
        )
    cli.out.print(t)
    cli.out.print(cli.t("cli.failed_count", count=len(rows)), markup=False)
