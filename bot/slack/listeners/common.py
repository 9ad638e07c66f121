"""Small things every listener does the same way."""

from __future__ import annotations

from sqlmodel import Session

from bot.slack.deps import SlackDeps
from models import inbound
from models.errors import DomainError


def claim(session: Session, deps: SlackDeps, external_id: str, sender: str) -> None:
    """Record the delivery in the acting transaction; a repeat raises AlreadyProcessed."""
    inbound.claim(session, "slack", external_id, deps.clock.now(), sender=sender)


def domain_message(deps: SlackDeps, language: str, error: DomainError) -> str:
    return deps.t(f"errors.{error.code}", language, **error.params)
