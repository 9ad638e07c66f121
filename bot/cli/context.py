"""What every command needs: settings, the database, the clock, words and output."""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any, NoReturn

import typer
from rich.console import Console
from sqlalchemy import Engine

from bot.render import Renderer, default_renderer, local_date
from config.settings import Settings
from models.actor import Actor
from models.clock import Clock, SystemClock
from models.db import make_engine
from models.errors import DomainError
from models.types import Channel


@dataclass
class CliContext:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    renderer: Renderer = field(default_factory=default_renderer)
    out: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True))
    err: Console = field(
        default_factory=lambda: Console(stderr=True, highlight=False, soft_wrap=True)
    )

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @property
    def language(self) -> str:
        return self.settings.language.value

    @property
    def today(self) -> date:
        """Today where the team works (STO_TIMEZONE), not in UTC."""
        return local_date(self.clock.now(), self.settings.timezone)

    @property
    def actor(self) -> Actor:
        return Actor(f"cli:{getpass.getuser()}", Channel.cli)

    def t(self, key: str, **params: Any) -> str:
        return self.renderer.render(key, self.language, **params)

    def fail(self, key: str, code: int = 1, **params: Any) -> NoReturn:
        """Say what is wrong and what to do, on stderr, and stop with a non-zero code."""
        self.err.print(self.t(key, **params), markup=False)
        raise typer.Exit(code)

    def fail_domain(self, error: DomainError) -> NoReturn:
        self.fail(f"errors.{error.code}", **error.params)

    def write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()


def h(key: str) -> str:
    """A help text for `sto --help`, from templates/<lang>/help.j2.

    Help is built when the commands are defined, before settings are
    validated, so this reads STO_LANGUAGE directly (falling back to Dutch).
    """
    return default_renderer().render(f"help.{key}", os.environ.get("STO_LANGUAGE", "nl"))


def ctx_of(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliContext)
    return obj
