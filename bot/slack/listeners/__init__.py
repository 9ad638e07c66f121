"""Listeners by kind: each module exposes `register(app, deps)`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.deps import SlackDeps
from bot.slack.listeners import absence, actions, commands, events, meetings, views, visits
from bot.slack.listeners import request_proposals as request_dates
from bot.slack.listeners import request_propose as propose_dates


def register(app: AsyncApp, deps: SlackDeps) -> None:
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    events.register(app, deps)
    meetings.register(app, deps)
    absence.register(app, deps)
    visits.register(app, deps)
    request_dates.register(app, deps)
    propose_dates.register(app, deps)
