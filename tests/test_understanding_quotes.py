"""The new words of a mail: quoted history, signatures and closings left out."""

from __future__ import annotations

import pytest

from bot.understanding.htmltext import html_to_text
from bot.understanding.quotes import mail_text, new_text, subject_text

GMAIL_NL = """\
Hoi,

Doe maar een halve dag, graag begin april.

Groetjes,
Sanne

Op di 1 dec 2026 om 09:14 schreef STO Ondersteuning <
ondersteuning@sto.example.nl>:

> Beste Sanne,
>
> Hoeveel dagen ondersteuning wilt u aanvragen?
>
> Met vriendelijke groet,
> Het STO-team
"""

GMAIL_EN = """\
Two days, please.

On Tue, Mar 3, 2027 at 10:00 AM STO Support <support@sto.example.nl> wrote:

> How many days would you like?
"""

APPLE_NL = """\
Graag annuleren.

Verzonden vanaf mijn iPhone

> Op 3 mrt. 2027 om 10:00 heeft STO <ondersteuning@sto.example.nl> het volgende geschreven:
>
> Uw aanvraag voor 3 dagen is ingediend.
"""

APPLE_EN_UNQUOTED_ATTRIBUTION = """\
Process support, please.

> On 30 Nov 2026, at 16:40, STO Support <support@sto.example.nl> wrote:
>
> Which kind of support do you need?
"""

OUTLOOK_NL = """\
Prima, doe maar een halve dag.

Met vriendelijke groet,

Marieke de Vries
Projectleider STO Twente
T 06-12345678

________________________________
Van: STO Ondersteuning <ondersteuning@sto.example.nl>
Verzonden: dinsdag 3 maart 2027 10:00
Aan: Marieke de Vries <m.devries@twente.example.nl>
Onderwerp: [STO-2027-0042] Uw aanvraag

Beste Marieke, hoeveel dagen wilt u? Wij hebben 5 dagen voor u.
"""

OUTLOOK_EN_NO_RULE = """\
Please cancel.

From: STO Support <support@sto.example.nl>
Sent: Tuesday, March 3, 2027 10:00 AM
To: Peter Smith <peter@example.org>
Subject: [STO-2027-0042] Your request

Your request for 2 days was received.
"""

OUTLOOK_BOLD = """\
Graag in april.

*Van:* STO <ondersteuning@sto.example.nl>
*Datum:* 3 maart 2027
*Aan:* Jan
*Onderwerp:* aanvraag
"""

ORIGINAL_MESSAGE = """\
Wij trekken de aanvraag in.

-----Oorspronkelijk bericht-----
Van: STO
Verzonden: vrijdag
Uw aanvraag voor 2 dagen.
"""

FORWARDED = """\
Zie hieronder.

---------- Forwarded message ---------
From: Someone <a@b.nl>
Wij willen 4 dagen.
"""

# The signature separator is "-- " with its trailing space (RFC 3676).
SIGNATURE = (
    "Wij willen graag 2 dagen procesbegeleiding.\n-- \nJan Jansen\n"
    "Regio Noord | 2 dagen per week bereikbaar\n"
)

BOTTOM_POSTED = """\
On Tue, Mar 3, 2027 at 10:00 AM STO <sto@example.nl> wrote:
> How many days?

Two days.

> Which kind?

Process support.
"""

CLOSER_WITH_NAME = """\
Wij willen graag twee dagen.
Groet, Lotte
Regio Utrecht
"""

THANKS_FIRST = """\
Bedankt!

Dan willen wij graag 2 dagen in maart.

Met vriendelijke groet,
Jan
"""

WEAK_CLOSER_THEN_MORE = """\
Wij willen graag 2 dagen.

Groeten

Nog iets: het gaat om procesbegeleiding voor de stuurgroep van de regio en we hebben al een datum.
En de contactpersoon is Petra, zij is er op dinsdag en donderdag.
Zij kan de zaal regelen, met beamer en koffie, en de uitnodigingen versturen naar de scholen.
Verder komen er ongeveer twintig mensen van de scholen, de mbo-instellingen en twee werkgevers.
Het programma volgt nog.
De locatie is het Techniek College in Zwolle, lokaal 1.23.
Parkeren kan achter het gebouw.
"""


@pytest.mark.parametrize(
    ("body", "new"),
    [
        (GMAIL_NL, "Hoi,\n\nDoe maar een halve dag, graag begin april."),
        (GMAIL_EN, "Two days, please."),
        (APPLE_NL, "Graag annuleren."),
        (APPLE_EN_UNQUOTED_ATTRIBUTION, "Process support, please."),
        (OUTLOOK_NL, "Prima, doe maar een halve dag."),
        (OUTLOOK_EN_NO_RULE, "Please cancel."),
        (OUTLOOK_BOLD, "Graag in april."),
        (ORIGINAL_MESSAGE, "Wij trekken de aanvraag in."),
        (FORWARDED, "Zie hieronder."),
        (SIGNATURE, "Wij willen graag 2 dagen procesbegeleiding."),
        (BOTTOM_POSTED, "Two days.\n\nProcess support."),
        (CLOSER_WITH_NAME, "Wij willen graag twee dagen."),
        (THANKS_FIRST, "Bedankt!\n\nDan willen wij graag 2 dagen in maart."),
        ("Hoi\r\n\r\nTwee dagen graag\r\n\r\nSent from my iPhone\r\n", "Hoi\n\nTwee dagen graag"),
        ("Een dag.\nVerstuurd vanuit Outlook voor iOS", "Een dag."),
        ("Een dag.\n\nGet Outlook for Android", "Een dag."),
        (
            "Hi,\n\nThanks!\n\nTwo days please\n\nPeter",
            "Hi,\n\nThanks!\n\nTwo days please\n\nPeter",
        ),
        ("Hi,\n\nTwo days please\n\nThanks!\nPeter\nRegio Noord", "Hi,\n\nTwo days please"),
        ("Twee dagen.\n\nGroet\nJan\nProjectleider | Regio Noord\nwww.example.nl", "Twee dagen."),
        ("", ""),
        ("\n\n  \n", ""),
    ],
)
def test_new_text(body: str, new: str) -> None:
    assert new_text(body) == new


def test_a_weak_closing_followed_by_a_message_is_no_closing() -> None:
    assert "procesbegeleiding" in new_text(WEAK_CLOSER_THEN_MORE)


def test_line_wrapped_attribution_over_three_lines() -> None:
    body = (
        "Akkoord.\n\nOp dinsdag 3 maart 2027 om 10:00 schreef STO\nOndersteuning van het "
        "landelijk team <\nondersteuning@sto.example.nl>:\n\nUw aanvraag voor 3 dagen\n"
    )
    assert new_text(body) == "Akkoord."


def test_a_sentence_with_op_that_is_no_attribution_is_kept() -> None:
    body = "Op 3 maart schreef ik u al over twee dagen.\nGraag nog antwoord."
    assert new_text(body) == body


GMAIL_HTML = """\
<html><head><style>p { color: red }</style></head><body>
<div dir="ltr">Wij willen graag <b>twee&nbsp;dagdelen</b> in maart.<br><br>Groet,<br>Jan</div>
<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">
Op di 3 mrt 2027 om 10:00 schreef STO &lt;sto@example.nl&gt;:<br></div>
<blockquote class="gmail_quote" style="margin:0px">Uw aanvraag voor 5 dagen</blockquote></div>
</body></html>
"""

OUTLOOK_WEB_HTML = """\
<div dir="ltr"><div>Graag annuleren.</div></div>
<div id="appendonsend"></div>
<hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><b>Van:</b> STO<br><b>Verzonden:</b> dinsdag</div>
<div>Uw aanvraag voor 2 dagen procesbegeleiding is ingediend.</div>
"""

OUTLOOK_DESKTOP_HTML = """\
<html><body><div class="WordSection1">
<p class="MsoNormal">Een halve dag is genoeg.<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class="MsoNormal"><b>Van:</b> STO Ondersteuning &lt;ondersteuning@sto.example.nl&gt;<br>
<b>Verzonden:</b> dinsdag 3 maart 2027 10:00<br>
<b>Aan:</b> Jan Jansen<br>
<b>Onderwerp:</b> [STO-2027-0042] Uw aanvraag</p></div>
<p class="MsoNormal">Hoeveel dagen wilt u?</p></div></body></html>
"""

APPLE_HTML = """\
<html><body dir="auto">Process support, please.<br><br>
<div dir="ltr">Sent from my iPhone</div><div dir="ltr"><br>
<blockquote type="cite">On 3 Mar 2027, at 10:00, STO wrote:<br><br>
<div dir="ltr">Which kind? You have 4 days.</div></blockquote></div></body></html>
"""

OUTLOOK_FORWARDED_GMAIL = """\
<div>Twee dagen.</div><div class="x_gmail_quote">Oude tekst: 9 dagen</div>
"""


@pytest.mark.parametrize(
    ("html", "new"),
    [
        (GMAIL_HTML, "Wij willen graag twee dagdelen in maart."),
        (OUTLOOK_WEB_HTML, "Graag annuleren."),
        (OUTLOOK_DESKTOP_HTML, "Een halve dag is genoeg."),
        (APPLE_HTML, "Process support, please."),
        (OUTLOOK_FORWARDED_GMAIL, "Twee dagen."),
        ("<p>Eén &amp; twee <i>dagen</i></p><script>alert(1)</script>", "Eén & twee dagen"),
        ("<pre>regel 1\n  regel 2</pre>", "regel 1\nregel 2"),
        ("<div><blockquote><blockquote>a</blockquote>b</blockquote>c</div>", "c"),
        ("<p>unclosed <b>tags <div>and <span>more", "unclosed tags\nand more"),
        ("", ""),
    ],
)
def test_html_mail(html: str, new: str) -> None:
    assert mail_text(None, html) == new


def test_html_to_text_keeps_blocks_on_lines() -> None:
    assert html_to_text("<p>een</p><p>twee</p><ul><li>drie</li><li>vier</li></ul>") == (
        "een\n\ntwee\n\ndrie\n\nvier"
    )


def test_the_text_part_is_preferred_when_there_is_one() -> None:
    assert mail_text("Twee dagen.", "<p>Drie dagen.</p>") == "Twee dagen."
    assert mail_text("  \n", "<p>Drie dagen.</p>") == "Drie dagen."
    assert mail_text(None, None) == ""


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Aanvraag 2 dagen procesbegeleiding", "Aanvraag 2 dagen procesbegeleiding"),
        ("Re: [STO-2027-0042] Uw aanvraag", ""),
        ("RE: Aanvraag", ""),
        ("Antw: Aanvraag", ""),
        ("AW: Anfrage", ""),
        ("FW: Aanvraag", ""),
        ("Doorst: Aanvraag", ""),
        ("[STO-2027-0042] annuleren", "annuleren"),
        ("", ""),
    ],
)
def test_subject_text(subject: str, text: str) -> None:
    assert subject_text(subject) == text


def test_a_huge_subject_and_body_stay_cheap() -> None:
    assert subject_text("x" * 10_000) == "x" * 10_000
    assert new_text(("Groet\n" * 3000) + "> oud\n").startswith("Groet")
