"""The support team's command line, `sto`."""

from bot.cli.app import main

__all__ = ["main"]
