"""Block Kit structure in Python (slack_sdk.models); every word comes from templates."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    DatePickerElement,
    DividerBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.slack.deps import SlackDeps
from models.quota import QuotaLine
from models.types import SupportKind
from scheduling.ranking import Candidate

REQUEST_MODAL = "request_modal"
REJECT_MODAL = "reject_modal"
APPROVE = "request_approve"
REJECT = "request_reject"
ASSIGN = "request_assign"
CANCEL = "request_cancel"
MAX_BLOCKS = 48  # Slack allows 50 per message


def text_section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text[:3000]))


SECTION_CHARS = 3000  # Slack's limit for a section's text


def balance_blocks(
    deps: SlackDeps, lang: str, period: str, lines: list[QuotaLine], low: set[int]
) -> list[Block]:
    """The header and the balance lines, as many lines to a section as fit: all 77
    regions (two kinds each) stay within a message's 50 blocks."""
    texts = [
        deps.t(
            "slack.balance_line",
            lang,
            code=line.region.code,
            name=line.region.name,
            kind=line.balance.kind.value,
            granted=line.balance.amount("granted"),
            reserved=line.balance.amount("reserved"),
            used=line.balance.amount("used"),
            available=line.balance.amount("available"),
            low=index in low,
        )
        for index, line in enumerate(lines)
    ]
    blocks: list[Block] = [text_section(deps.t("slack.balance_header", lang, period=period))]
    chunk: list[str] = []
    for index, text in enumerate(texts):
        if chunk and len("\n".join([*chunk, text])) > SECTION_CHARS:
            blocks.append(text_section("\n".join(chunk)))
            chunk = []
        if len(blocks) >= MAX_BLOCKS - 1:
            blocks.append(
                text_section(deps.t("slack.balance_more", lang, count=len(texts) - index))
            )
            return blocks
        chunk.append(text)
    if chunk:
        blocks.append(text_section("\n".join(chunk)))
    return blocks


def request_line(deps: SlackDeps, lang: str, r: dict[str, Any]) -> str:
    return deps.t(
        "slack.request_line",
        lang,
        ref=r["ref"],
        region=r["region"],
        days=str(r["days"]),
        kind=r["kind"],
        status=r["status"],
        theme=r["theme"],
    )


def mine_blocks(deps: SlackDeps, lang: str, requests: list[dict[str, Any]]) -> list[Block]:
    if not requests:
        return [text_section(deps.t("slack.no_open_requests", lang))]
    blocks: list[Block] = [text_section(deps.t("slack.mine_header", lang))]
    for r in requests[: MAX_BLOCKS - 1]:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=request_line(deps, lang, r)),
                accessory=ButtonElement(
                    text=deps.plain("slack.cancel_button", lang),
                    action_id=CANCEL,
                    value=r["ref"],
                    style="danger",
                    confirm=ConfirmObject(
                        title=deps.plain("slack.cancel_confirm_title", lang),
                        text=deps.plain("slack.cancel_confirm_text", lang, ref=r["ref"]),
                        confirm=deps.plain("slack.cancel_confirm_yes", lang),
                        deny=deps.plain("slack.cancel_confirm_no", lang),
                    ),
                ),
            )
        )
    return blocks


def request_modal(
    deps: SlackDeps,
    lang: str,
    regions: list[tuple[str, str]],
    available: Decimal | None,
    prefill: dict[str, str] | None = None,
) -> View:
    """The request form; one region goes in private_metadata, several get a select."""
    prefill = prefill or {}
    blocks: list[Block] = []
    if len(regions) > 1:
        blocks.append(
            InputBlock(
                block_id="region",
                label=deps.plain("slack.modal_region", lang),
                element=StaticSelectElement(
                    action_id="value",
                    options=[
                        Option(value=code, label=f"{name} ({code})") for code, name in regions
                    ],
                ),
            )
        )
    kinds = [
        Option(value=k.value, label=deps.plain("labels.kind", lang, value=k.value))
        for k in SupportKind
    ]
    initial_kind = next((o for o in kinds if o.value == prefill.get("kind")), None)
    blocks += [
        InputBlock(
            block_id="kind",
            label=deps.plain("slack.modal_kind", lang),
            element=StaticSelectElement(
                action_id="value", options=kinds, initial_option=initial_kind
            ),
        ),
        InputBlock(
            block_id="days",
            label=deps.plain("slack.modal_days", lang),
            hint=deps.plain("slack.modal_days_hint", lang, available=available),
            element=PlainTextInputElement(
                action_id="value", initial_value=prefill.get("days") or None, max_length=6
            ),
        ),
        InputBlock(
            block_id="theme",
            label=deps.plain("slack.modal_theme", lang),
            optional=True,
            element=PlainTextInputElement(
                action_id="value", initial_value=prefill.get("theme") or None, max_length=200
            ),
        ),
        InputBlock(
            block_id="from",
            label=deps.plain("slack.modal_from", lang),
            optional=True,
            element=DatePickerElement(action_id="value", initial_date=prefill.get("from") or None),
        ),
        InputBlock(
            block_id="to",
            label=deps.plain("slack.modal_to", lang),
            optional=True,
            element=DatePickerElement(action_id="value", initial_date=prefill.get("to") or None),
        ),
        InputBlock(
            block_id="description",
            label=deps.plain("slack.modal_description", lang),
            optional=True,
            element=PlainTextInputElement(action_id="value", multiline=True, max_length=3000),
        ),
    ]
    metadata = {"region": regions[0][0]} if len(regions) == 1 else {}
    return View(
        type="modal",
        callback_id=REQUEST_MODAL,
        title=PlainTextObject(text=deps.plain("slack.modal_title", lang)[:24]),
        submit=PlainTextObject(text=deps.plain("slack.modal_submit", lang)),
        close=PlainTextObject(text=deps.plain("slack.modal_close", lang)),
        private_metadata=json.dumps(metadata),
        blocks=blocks,
    )


def reject_modal(deps: SlackDeps, lang: str, ref: str, channel: str, ts: str) -> View:
    return View(
        type="modal",
        callback_id=REJECT_MODAL,
        title=PlainTextObject(text=deps.plain("slack.reject_title", lang)[:24]),
        submit=PlainTextObject(text=deps.plain("slack.reject_submit", lang)),
        # Without it Slack labels the button "Cancel", in English, whatever the reader's language.
        close=PlainTextObject(text=deps.plain("slack.modal_close", lang)),
        private_metadata=json.dumps({"ref": ref, "channel": channel, "ts": ts}),
        blocks=[
            text_section(f"*{ref}*"),
            InputBlock(
                block_id="reason",
                label=deps.plain("slack.reject_reason", lang),
                element=PlainTextInputElement(action_id="value", multiline=True, max_length=2000),
            ),
        ],
    )


def team_card(
    deps: SlackDeps, lang: str, r: dict[str, Any], supporters: list[Candidate]
) -> list[Block]:
    """The team's message about one request; its buttons follow the request's state."""
    blocks: list[Block] = [
        text_section(
            deps.t(
                "slack.card",
                lang,
                ref=r["ref"],
                region_name=r["region_name"],
                region=r["region"],
                days=str(r["days"]),
                kind=r["kind"],
                status=r["status"],
                theme=r["theme"],
                preferred=r["preferred_period"],
                pref_from=r["preferred_from"],
                pref_to=r["preferred_to"],
                description=r["description"],
                requester=r["requester_name"],
                supporter=r["assigned_supporter_name"] or "",
            )
        )
    ]
    elements: list[Any] = []
    if r["status"] == "submitted":
        elements += [
            ButtonElement(
                text=deps.plain("slack.approve_button", lang),
                action_id=APPROVE,
                value=r["ref"],
                style="primary",
            ),
            ButtonElement(
                text=deps.plain("slack.reject_button", lang),
                action_id=REJECT,
                value=r["ref"],
                style="danger",
            ),
        ]
    if r["status"] in ("submitted", "approved", "scheduled") and supporters:
        elements.append(
            StaticSelectElement(
                action_id=ASSIGN,
                placeholder=deps.plain("slack.assign_placeholder", lang),
                options=[
                    Option(
                        value=f"{r['ref']}|{c.email}",
                        # Why it is there: "Carla · critical friend · 6 d vrij".
                        label=deps.plain("supporters.option", lang, name=c.name, items=c.reasons)[
                            :75
                        ],
                    )
                    for c in supporters[:100]
                ],
            )
        )
    if elements:
        blocks.append(ActionsBlock(block_id=f"card:{r['ref']}", elements=elements))
    return blocks


def home_view(deps: SlackDeps, lang: str, sections: list[str], extra: list[Block]) -> View:
    blocks: list[Block] = []
    for text in sections:
        blocks.append(text_section(text))
        blocks.append(DividerBlock())
    blocks += extra
    return View(type="home", blocks=blocks[:100])
