"""Settings from the environment and `.env`, validated once at start.

The names are a contract (DESIGN.md): deployments and scripts set them.
Build `Settings` in the entry point and pass it down; never import a global.
"""

from __future__ import annotations

import zoneinfo
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
TEMPLATES_DIR = ROOT / "templates"


class Language(StrEnum):
    nl = "nl"
    en = "en"


class SlackMode(StrEnum):
    socket = "socket"
    http = "http"


class TlsMode(StrEnum):
    none = "none"
    starttls = "starttls"
    tls = "tls"


def _env(name: str) -> Any:
    """A field read from exactly the environment variable the contract names."""
    return Field(default=None, validation_alias=AliasChoices(name))


Port = Annotated[int, Field(ge=0, le=65535)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str = Field(
        default="sqlite:///var/sto.sqlite3", validation_alias=AliasChoices("STO_DATABASE_URL")
    )
    language: Language = Field(default=Language.nl, validation_alias=AliasChoices("STO_LANGUAGE"))
    timezone: str = Field(default="Europe/Amsterdam", validation_alias=AliasChoices("STO_TIMEZONE"))

    slack_bot_token: str | None = _env("SLACK_BOT_TOKEN")
    slack_app_token: str | None = _env("SLACK_APP_TOKEN")
    slack_signing_secret: str | None = _env("SLACK_SIGNING_SECRET")
    slack_mode: SlackMode | None = _env("STO_SLACK_MODE")
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("STO_SLACK_API_URL")
    )
    slack_team_channel: str | None = _env("STO_SLACK_TEAM_CHANNEL")

    http_host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("STO_HTTP_HOST"))
    http_port: Port = Field(default=3000, validation_alias=AliasChoices("STO_HTTP_PORT"))

    smtp_host: str | None = _env("STO_SMTP_HOST")
    smtp_port: Port | None = _env("STO_SMTP_PORT")
    smtp_username: str | None = _env("STO_SMTP_USERNAME")
    smtp_password: str | None = _env("STO_SMTP_PASSWORD")
    smtp_tls: TlsMode = Field(
        default=TlsMode.starttls, validation_alias=AliasChoices("STO_SMTP_TLS")
    )
    mail_from: str = Field(
        default="ondersteuning@localhost", validation_alias=AliasChoices("STO_MAIL_FROM")
    )

    mail_trust_from: bool = Field(
        default=False, validation_alias=AliasChoices("STO_MAIL_TRUST_FROM")
    )
    mail_authserv_id: str | None = _env("STO_MAIL_AUTHSERV_ID")

    imap_host: str | None = _env("STO_IMAP_HOST")
    imap_port: Port | None = _env("STO_IMAP_PORT")
    imap_username: str | None = _env("STO_IMAP_USERNAME")
    imap_password: str | None = _env("STO_IMAP_PASSWORD")
    imap_tls: TlsMode = Field(default=TlsMode.tls, validation_alias=AliasChoices("STO_IMAP_TLS"))
    imap_folder: str = Field(default="INBOX", validation_alias=AliasChoices("STO_IMAP_FOLDER"))

    inbound_smtp_host: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("STO_INBOUND_SMTP_HOST")
    )
    inbound_smtp_port: Port = Field(
        default=2525, validation_alias=AliasChoices("STO_INBOUND_SMTP_PORT")
    )

    var_dir: Path = Field(default=Path("var"), validation_alias=AliasChoices("STO_VAR_DIR"))

    # Support days a region may carry into the next period at the roll-over (0: all expire).
    rollover_max_days: Decimal = Field(
        default=Decimal(0), ge=0, validation_alias=AliasChoices("STO_ROLLOVER_MAX_DAYS")
    )

    @field_validator("rollover_max_days")
    @classmethod
    def _half_days(cls, value: Decimal) -> Decimal:
        if (value * 2) != (value * 2).to_integral_value():
            raise ValueError("use whole or half days, such as 2 or 1.5")
        return value

    @property
    def rollover_max_half_days(self) -> int:
        return int(self.rollover_max_days * 2)

    # `sto meetings announce` spreads its messages so the dispatcher never sends them
    # faster than this. Mail: 20 a minute stays well under Microsoft 365's limit of
    # 30 messages a minute per mailbox, leaving room for the confirmations that the
    # announcement itself sets off. Slack: every DM costs a conversations.open (Web API
    # tier 3: about 50 a minute) and a chat.postMessage (about one a second per
    # conversation); 40 a minute keeps room for the answers people get meanwhile.
    announce_mail_per_minute: int = Field(
        default=20, ge=1, le=10000, validation_alias=AliasChoices("STO_ANNOUNCE_MAIL_PER_MINUTE")
    )
    announce_slack_per_minute: int = Field(
        default=40, ge=1, le=10000, validation_alias=AliasChoices("STO_ANNOUNCE_SLACK_PER_MINUTE")
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/Amsterdam"
            ) from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql")):
            raise ValueError("use sqlite:///path/to/file or postgresql+psycopg://user@host/db")
        return value

    @model_validator(mode="after")
    def _slack_mode_default(self) -> Settings:
        if self.slack_mode is None:
            self.slack_mode = SlackMode.socket if self.slack_app_token else SlackMode.http
        return self

    def missing(self) -> list[tuple[str, object, str]]:
        """Settings that are required by others that are set: (name, None, why)."""
        problems: list[tuple[str, object, str]] = []
        slack, mode = bool(self.slack_bot_token), self.slack_mode
        if slack and mode is SlackMode.http and not self.slack_signing_secret:
            problems.append(("SLACK_SIGNING_SECRET", None, "slack_http"))
        if slack and mode is SlackMode.socket and not self.slack_app_token:
            problems.append(("SLACK_APP_TOKEN", None, "slack_socket"))
        for name, value in (
            ("STO_IMAP_USERNAME", self.imap_username),
            ("STO_IMAP_PASSWORD", self.imap_password),
        ):
            if self.imap_host and not value:
                problems.append((name, None, "imap"))
        return problems

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"


# The environment names per field, so an error can name what the user sets.
def env_name(field: str) -> str:
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        return first if isinstance(first, str) else field
    return field


class SettingsError(Exception):
    """A setting has a value that is not allowed; `problems` lists (name, value, why)."""

    def __init__(self, problems: list[tuple[str, object, str]]) -> None:
        super().__init__("; ".join(f"{name}={value!r}: {why}" for name, value, why in problems))
        self.problems = problems


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; a wrong value raises SettingsError naming the variable."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems: list[tuple[str, object, str]] = []
        for error in exc.errors():
            loc = error["loc"][0] if error["loc"] else ""
            field = _field_for_alias(str(loc))
            problems.append(
                (env_name(field) if field else str(loc), error.get("input"), error["msg"])
            )
        raise SettingsError(problems) from exc
    if missing := settings.missing():
        raise SettingsError(missing)
    return settings


def _field_for_alias(loc: str) -> str | None:
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if name == loc or (isinstance(alias, AliasChoices) and loc in alias.choices):
            return name
    return None
