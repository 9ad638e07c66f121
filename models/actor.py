"""Who did something, and through which channel: recorded with every change."""

from __future__ import annotations

from dataclasses import dataclass

from models.types import Channel


@dataclass(frozen=True)
class Actor:
    name: str  # e.g. "cli:anouk", "slack:U012AB", "mail:jan@school.example", "system"
    channel: Channel

    @classmethod
    def system(cls) -> Actor:
        return cls("system", Channel.system)
