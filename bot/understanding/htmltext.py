"""Visible text of an HTML-only mail, without the quoted history.

Mail clients mark the history in the HTML itself: Gmail wraps it in
`div.gmail_quote`, Apple Mail and Thunderbird in `<blockquote>`, and Outlook
starts it with `div#divRplyFwdMsg` and lets the old mail follow as siblings,
so from there on nothing is read. Outlook desktop's Word-made HTML has no
such marker; its "Van: / Verzonden:" block comes through as text and
quotes.new_text cuts it there.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP_TAGS = frozenset({"script", "style", "head", "title", "blockquote", "template"})
_SKIP_CLASSES = frozenset(
    {
        "gmail_quote",
        "gmail_quote_container",
        "gmail_attr",
        "gmail_signature",
        "moz-cite-prefix",
        "moz-signature",
        "yahoo_quoted",
        "protonmail_quote",
    }
)
# Outlook on the web and new Outlook: everything after these is the old mail.
_STOP_IDS = frozenset({"divrplyfwdmsg", "appendonsend", "stopspelling"})
_BLOCKS = frozenset(
    {
        "p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "pre", "section", "article", "header", "footer", "dd", "dt", "dl", "address",
    }
)  # fmt: skip
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "wbr"})


def _name(value: str | None) -> str:
    # Outlook prefixes ids and classes of a mail it quotes with "x_".
    return (value or "").lower().removeprefix("x_")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stopped = False
        self._skip_tag: str | None = None
        self._skip_depth = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.stopped:
            return
        if self._skip_tag is not None:
            if tag == self._skip_tag and tag not in _VOID:
                self._skip_depth += 1
            return
        attributes = dict(attrs)
        if _name(attributes.get("id")) in _STOP_IDS:
            self.stopped = True
            return
        classes = {_name(c) for c in (attributes.get("class") or "").split()}
        if (tag in _SKIP_TAGS or classes & _SKIP_CLASSES) and tag not in _VOID:
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag == "pre":
            self._pre += 1
        if tag in _BLOCKS:
            self.parts.append("\n")
        elif tag == "td" or tag == "th":
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self.stopped:
            return
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.stopped or self._skip_tag is not None:
            return
        # Outside <pre>, HTML folds white space, line breaks included.
        self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The text a reader sees in `html`, one block per line, history left out."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).replace("\u00a0", " ").split("\n"))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
