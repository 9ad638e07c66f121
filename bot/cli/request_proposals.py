"""`sto requests propose | choose | decline-dates`: dates for a request, proposed to the requester.

The commands join the `sto requests` group (bot/cli/requests.py); the words
live in templates/<lang>/request_proposals.j2.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from bot.cli.context import ctx_of
from bot.cli.requests import Ref, app, parse_date
from bot.render import default_renderer
from models import request_proposals as rp
from models import requests as rq
from models.db import transaction
from models.tables import Region
from scheduling.request_dates import suggest_dates


def ph(key: str) -> str:
    """A help text from templates/<lang>/request_proposals.j2 (STO_LANGUAGE, as `h` does)."""
    return default_renderer().render(
        f"request_proposals.help_{key}", os.environ.get("STO_LANGUAGE", "nl")
    )


ProposalArg = Annotated[int, typer.Argument(help=ph("proposal"))]


@app.command("propose", help=ph("propose"))
def propose(
    ctx: typer.Context,
    ref: Ref,
    options: Annotated[
        list[str] | None, typer.Option("--option", "--date", help=ph("option"))
    ] = None,
    suggest: Annotated[bool, typer.Option("--suggest", help=ph("suggest"))] = False,
) -> None:
    """Send the requester up to three sets of days to choose from."""
    cli = ctx_of(ctx)
    if bool(options) == suggest:
        cli.fail("request_proposals.option_or_suggest", code=2)
    given = [[parse_date(cli, d) for d in o.split(",") if d.strip()] for o in options or ()]
    now = cli.clock.now()
    with transaction(cli.engine) as session:
        if suggest:
            request = rq.get_request(session, ref)
            region = session.get(Region, request.region_id)
            assert region is not None
            given = suggest_dates(session, request, rq.region_today(region, now))
            if not given:
                cli.fail("request_proposals.no_suggestion", ref=request.ref)
        proposal = rp.propose_dates(session, ref, given, cli.actor, now)
        data = rp.describe(session, proposal)
    cli.out.print(
        cli.t(
            "request_proposals.sent",
            proposal=data["id"],
            ref=data["ref"],
            options=data["options"],
            recipients=data["recipients"],
        ),
        markup=False,
    )


@app.command("choose", help=ph("choose"))
def choose(
    ctx: typer.Context,
    proposal: ProposalArg,
    option: Annotated[int, typer.Argument(help=ph("option_number"))],
) -> None:
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        request = rp.choose_dates(session, proposal, option, cli.actor, cli.clock.now())
        ref, dates = request.ref, rq.days_of(session, request)
    cli.out.print(cli.t("request_proposals.chosen", ref=ref, dates=dates), markup=False)


@app.command("decline-dates", help=ph("decline"))
def decline_dates(ctx: typer.Context, proposal: ProposalArg) -> None:
    cli = ctx_of(ctx)
    with transaction(cli.engine) as session:
        rp.decline_dates(session, proposal, cli.actor, cli.clock.now())
        data = rp.describe(session, rp.get_proposal(session, proposal))
    cli.out.print(
        cli.t("request_proposals.declined", proposal=proposal, ref=data["ref"]), markup=False
    )
