"""`sto requests`: list, show and move support requests through their lifecycle."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import typer
from sqlmodel import col, select

from bot.cli.context import CliContext, ctx_of, h
from bot.cli.output import pick_format, table, to_csv, to_json
from models import requests as rq
from models.db import transaction
from models.ledger import find_allowance, reserved_for
from models.periods import get_period
from models.quantity import from_units, to_units
from models.regions import get_region
from models.tables import Contact, Period, Region, SupportRequest
from models.types import AllowanceKind, RequestStatus

app = typer.Typer(no_args_is_help=True)
LIST_FIELDS = (
    "ref",
    "region",
    "status",
    "kind",
    "days",
    "channel",
    "theme",
    "preferred_period",
    "requested_by",
    "assigned_supporter",
    "created_at",
)
DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y")

Ref = Annotated[str, typer.Argument(help=h("ref"))]


def parse_date(cli: CliContext, text: str) -> date:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()  # noqa: DTZ007 (a calendar date)
        except ValueError:
            continue
    cli.fail("errors.invalid_date", code=2, value=text)


@app.command("list", help=h("requests_list"))
def list_requests(
    ctx: typer.Context,
    region: Annotated[str | None, typer.Option("--region", help=h("only_region"))] = None,
    status: Annotated[str | None, typer.Option("--status", help=h("status"))] = None,
    period: Annotated[str | None, typer.Option("--period")] = None,
    open_only: Annotated[bool, typer.Option("--open", help=h("open"))] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_csv: Annotated[bool, typer.Option("--csv")] = False,
) -> None:
    """Requests, newest first."""
    cli = ctx_of(ctx)
    fmt = pick_format(cli, as_json, as_csv)
    if status is not None and status not in RequestStatus.__members__:
        cli.fail("cli.unknown_status", code=2, value=status, allowed=list(RequestStatus))
    with transaction(cli.engine) as session:
        query = select(SupportRequest).order_by(col(SupportRequest.id).desc())
        if region:
            query = query.where(SupportRequest.region_id == get_region(session, region).id)
        if period:
            query = query.where(SupportRequest.period_id == get_period(session, period).id)
        if status:
            query = query.where(SupportRequest.status == status)
        if open_only:
            query = query.where(col(SupportRequest.status).in_([s.value for s in rq.OPEN]))
        rows = [rq.describe(session, r) for r in session.exec(query).all()]
    if fmt == "json":
        cli.write(to_json(rows))
    elif fmt == "csv":
        cli.write(to_csv(rows, LIST_FIELDS))
    else:
        headers = [
            cli.t(f"cli.request_header_{f}")
            for f in ("ref", "region", "status", "kind", "days", "channel", "theme")
        ]
        t = table(headers, right=(4,))
        for row in rows:
            t.add_row(
                row["ref"],
                row["region"],
                cli.t("labels.status", value=row["status"]),
                cli.t("labels.kind", value=row["kind"]),
                cli.t("cli.number", value=row["days"]),
                cli.t("labels.channel", value=row["channel"]),
                row["theme"],
            )
        cli.out.print(t)
        cli.out.print(cli.t("cli.request_count", count=len(rows)))


@app.command("show", help=h("requests_show"))
def show(
    ctx: typer.Context, ref: Ref, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """One request with its history."""
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        request = rq.get_request(session, ref)
        data = rq.describe(session, request)
        period = session.get(Period, request.period_id)
        region = session.get(Region, request.region_id)
        assert period is not None and region is not None and request.id is not None
        allowance = find_allowance(session, region, period, AllowanceKind.support_days)
        assert allowance.id is not None
        data["period"] = period.code
        data["reserved"] = from_units(
            reserved_for(session, allowance.id, request.id), AllowanceKind.support_days
        )
        data["history"] = [
            {
                "from": e.from_status,
                "to": e.to_status,
                "actor": e.actor,
                "channel": e.channel,
                "reason": e.reason,
                "at": e.at,
            }
            for e in rq.events_of(session, request)
        ]
    if as_json:
        cli.write(to_json(data))
        return
    cli.out.print(cli.t("cli.request_detail", r=data, tz=cli.settings.timezone), markup=False)


@app.command("submit", context_settings={"ignore_unknown_options": True}, help=h("requests_submit"))
def submit(
    ctx: typer.Context,
    region: Annotated[str, typer.Argument(help=h("region_code"))],
    days: Annotated[str, typer.Argument(help=h("days"))],
    kind: Annotated[str, typer.Option("--kind", help=h("kind"))],
    theme: Annotated[str, typer.Option("--theme")] = "",
    description: Annotated[str, typer.Option("--description")] = "",
    preferred: Annotated[str, typer.Option("--preferred", help=h("preferred"))] = "",
    start: Annotated[str | None, typer.Option("--from", help=h("from"))] = None,
    end: Annotated[str | None, typer.Option("--to", help=h("to"))] = None,
    requester: Annotated[str | None, typer.Option("--requester", help=h("requester"))] = None,
) -> None:
    """Submit a request on behalf of a region (the days are reserved)."""
    cli = ctx_of(ctx)
    units = to_units(days, AllowanceKind.support_days)
    new_from = parse_date(cli, start) if start else None
    new_to = parse_date(cli, end) if end else None
    now = cli.clock.now()
    with transaction(cli.engine) as session:
        contact_id = None
        if requester:
            contact = session.exec(
                select(Contact).where(Contact.email == requester.strip().lower())
            ).first()
            if contact is None:
                cli.fail("cli.unknown_contact", email=requester)
            contact_id = contact.id
        request = rq.submit(
            session,
            rq.NewRequest(
                region=region,
                kind=kind,
                half_days=units,
                theme=theme,
                description=description,
                preferred_period=preferred,
                preferred_from=new_from,
                preferred_to=new_to,
                requester_contact_id=contact_id,
            ),
            cli.actor,
            now,
        )
        data = rq.describe(session, request)
    cli.out.print(cli.t("cli.request_changed", r=data), markup=False)


def _transition(ctx: typer.Context, action: str, ref: str, **kwargs: Any) -> None:
    cli = ctx_of(ctx)
    now = cli.clock.now()
    with transaction(cli.engine) as session:
        request = getattr(rq, action)(session, ref, cli.actor, now, **kwargs)
        data = rq.describe(session, request)
    cli.out.print(cli.t("cli.request_changed", r=data), markup=False)


@app.command("approve", help=h("requests_approve"))
def approve(ctx: typer.Context, ref: Ref) -> None:
    """Approve a submitted request."""
    _transition(ctx, "approve", ref)


@app.command("reject", help=h("requests_reject"))
def reject(
    ctx: typer.Context,
    ref: Ref,
    reason: Annotated[str, typer.Option("--reason", help=h("reject_reason"))],
) -> None:
    """Reject a request; the days come back."""
    _transition(ctx, "reject", ref, reason=reason)


@app.command("cancel", help=h("requests_cancel"))
def cancel(
    ctx: typer.Context, ref: Ref, reason: Annotated[str, typer.Option("--reason")] = ""
) -> None:
    """Cancel an open request; the reserved days come back."""
    _transition(ctx, "cancel", ref, reason=reason)


@app.command("schedule", help=h("requests_schedule"))
def schedule(
    ctx: typer.Context,
    ref: Ref,
    dates: Annotated[list[str], typer.Option("--date", help=h("date"))],
) -> None:
    """Schedule an approved request on calendar dates."""
    cli = ctx_of(ctx)
    _transition(ctx, "schedule", ref, days=[parse_date(cli, d) for d in dates])


@app.command("assign", help=h("requests_assign"))
def assign(
    ctx: typer.Context,
    ref: Ref,
    supporter: Annotated[str, typer.Argument(help=h("supporter"))],
) -> None:
    """Assign a supporter to an open request."""
    _transition(ctx, "assign", ref, supporter_email=supporter)


@app.command("complete", help=h("requests_complete"))
def complete(
    ctx: typer.Context,
    ref: Ref,
    used: Annotated[str | None, typer.Option("--used", help=h("used"))] = None,
) -> None:
    """Complete a scheduled request: used days are consumed, the rest comes back."""
    used_units = None
    if used is not None:
        used_units = (
            0 if used.strip() in ("0", "0,0", "0.0") else to_units(used, AllowanceKind.support_days)
        )
    _transition(ctx, "complete", ref, used_half_days=used_units)
