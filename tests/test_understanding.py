"""Whole messages, read the way the mail and Slack channels read them.

A corpus of realistic messages written for these tests: Dutch mostly,
English too, formal and informal, with Outlook, Gmail and Apple Mail history
and signatures, each with the exact understanding expected. `today` is
fixed (Monday 30 November 2026), never the real date.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

import pytest

from bot.understanding import (
    DAYS,
    KIND,
    Intent,
    QuantityProblem,
    Understanding,
    mail_text,
    merge,
    understand,
)
from models.types import SupportKind

TODAY = date(2026, 11, 30)
K = SupportKind
P = QuantityProblem


@dataclass(frozen=True)
class Mail:
    name: str
    body: str
    expected: Understanding
    html: bool = False


CORPUS = [
    Mail(
        "issue example, one line",
        "Wij willen graag 2 dagen ondersteuning voor het thema doorlopende leerlijnen, "
        "bij voorkeur in maart",
        Understanding(
            Intent.request,
            half_days=4,
            kind=K.theme,
            theme="doorlopende-leerlijnen",
            preferred_from=date(2027, 3, 1),
            preferred_to=date(2027, 3, 31),
            preferred_text="in maart",
            days_text="2 dagen",
        ),
    ),
    Mail(
        "formal Outlook request with signature and quoted history",
        """\
Geachte heer, mevrouw,

Namens de regio Twente vragen wij twee dagdelen procesbegeleiding aan voor onze werksessie
met het bedrijfsleven. Bij voorkeur in week 12 of 13.

Alvast bedankt!

Met vriendelijke groet,

Marieke de Vries
Projectleider Sterk Techniekonderwijs Twente
T 06-12345678 | m.devries@twente.example.nl

________________________________
Van: STO Ondersteuning <ondersteuning@sto.example.nl>
Verzonden: maandag 23 november 2026 14:02
Aan: Marieke de Vries <m.devries@twente.example.nl>
Onderwerp: Ondersteuningsdagen 2027

Beste Marieke,

U heeft in 2027 nog 5 dagen beschikbaar. Wilt u 3 dagen inhoudelijk advies in januari?
""",
        Understanding(
            Intent.request,
            half_days=2,
            kind=K.process,
            theme="samenwerking-bedrijfsleven",
            preferred_from=date(2027, 3, 22),
            preferred_to=date(2027, 4, 2),
            preferred_text="in week 12 of 13",
            days_text="twee dagdelen",
        ),
    ),
    Mail(
        "informal Gmail request, kind missing",
        """\
Hoi!

Kunnen jullie ons anderhalve dag helpen, ergens begin april? Het gaat over gastlessen.

Groetjes,
Sanne

Op vr 27 nov 2026 om 16:02 schreef STO Ondersteuning <
ondersteuning@sto.example.nl>:

> Beste Sanne,
> Procesbegeleiding kan ook in maart.
""",
        Understanding(
            Intent.request,
            half_days=3,
            preferred_from=date(2027, 4, 1),
            preferred_to=date(2027, 4, 10),
            preferred_text="begin april",
            missing=[KIND],
            days_text="anderhalve dag",
        ),
    ),
    Mail(
        "request without an amount: days missing, the free theme kept",
        """\
Beste team,

Wij zouden graag strategische ondersteuning willen voor het thema gastlessen in de bouw,
het liefst tussen 1 en 15 april.

Met vriendelijke groet,
Kees Janssen
""",
        Understanding(
            Intent.request,
            kind=K.strategic,
            theme="gastlessen in de bouw",
            preferred_from=date(2027, 4, 1),
            preferred_to=date(2027, 4, 15),
            preferred_text="tussen 1 en 15 april",
            missing=[DAYS],
        ),
    ),
    Mail(
        "unclear amount and two kinds: both asked for",
        """\
Goedemiddag,

Graag 0,3 dag inhoudelijk advies of procesbegeleiding op 3 en 4 maart.

Groet,
Ahmed
""",
        Understanding(
            Intent.request,
            preferred_from=date(2027, 3, 3),
            preferred_to=date(2027, 3, 4),
            preferred_text="op 3 en 4 maart",
            missing=[DAYS, KIND],
            days_text="0,3 dag",
            days_problem=P.not_half_day,
            kind_options=(K.content, K.process),
        ),
    ),
    Mail(
        "vague amount",
        "Wij willen een paar dagen procesbegeleiding in het voorjaar.",
        Understanding(
            Intent.request,
            kind=K.process,
            missing=[DAYS],
            days_text="een paar dagen",
            days_problem=P.vague,
        ),
    ),
    Mail(
        "hours are asked for in days",
        "Kunnen wij 4 uur inhoudelijk advies krijgen? Graag op 15-03-2027.",
        Understanding(
            Intent.request,
            kind=K.content,
            preferred_from=date(2027, 3, 15),
            preferred_to=date(2027, 3, 15),
            preferred_text="op 15-03-2027",
            missing=[DAYS],
            days_text="4 uur",
            days_problem=P.hours,
        ),
    ),
    Mail(
        "balance question, Apple Mail",
        """\
Beste team,

Hoeveel dagen hebben wij nog?

Verzonden vanaf mijn iPhone

> Op 20 nov. 2026 om 10:00 heeft STO <ondersteuning@sto.example.nl> het volgende geschreven:
>
> Uw aanvraag voor 2 dagen procesbegeleiding is ingediend.
""",
        Understanding(Intent.balance),
    ),
    Mail(
        "balance question in English",
        "Hi, how many days do we have left this year? Thanks, Peter",
        Understanding(Intent.balance),
    ),
    Mail(
        "cancellation in a reply, Outlook original message",
        """\
Goedemorgen,

Helaas gaat de werksessie niet door. Wij trekken onze aanvraag daarom in.

Met vriendelijke groet,
Ahmed Yilmaz

-----Oorspronkelijk bericht-----
Van: STO Ondersteuning <ondersteuning@sto.example.nl>
Verzonden: vrijdag 27 november 2026 11:00
Aan: Ahmed Yilmaz <a.yilmaz@example.nl>
Onderwerp: [STO-2027-0042] Uw aanvraag is ingediend

Uw aanvraag voor 2 dagen inhoudelijk advies in februari is ingediend.
""",
        Understanding(Intent.cancel),
    ),
    Mail(
        "cancellation in English, Gmail",
        """\
Please cancel this request, the session has been called off.

Best,
Peter

On Fri, Nov 27, 2026 at 11:00 AM STO Support <support@sto.example.nl> wrote:

> Your request for two days of process support in March has been received.
""",
        Understanding(Intent.cancel),
    ),
    Mail(
        "registration for a theme meeting",
        """\
Dag STO,

Hierbij meld ik mij aan voor de themabijeenkomst Techniekpromotie op 3 maart (een middag).

Groet, Lotte
--
Lotte Bakker | Regio Utrecht
""",
        Understanding(
            Intent.register,
            half_days=1,
            theme="techniekpromotie",
            preferred_from=date(2027, 3, 3),
            preferred_to=date(2027, 3, 3),
            preferred_text="op 3 maart",
            days_text="een middag",
        ),
    ),
    Mail(
        "English request, Apple Mail",
        """\
Hi team,

We would like to book 1.5 days of strategic support in the first half of March.

Thanks in advance,
Peter

Sent from my iPhone

> On 30 Nov 2026, at 16:40, STO Support <support@sto.example.nl> wrote:
>
> Dear Peter, you have 4 days left in 2027.
""",
        Understanding(
            Intent.request,
            half_days=3,
            kind=K.strategic,
            preferred_from=date(2027, 3, 1),
            preferred_to=date(2027, 3, 15),
            preferred_text="in the first half of March",
            days_text="1.5 days",
        ),
    ),
    Mail(
        "a request that also asks the balance",
        """\
Beste collega's,

Hoeveel dagen hebben wij nog? Wij willen graag een hele dag inhoudelijk advies over
loopbaanoriëntatie, in december of januari.

Mvg,
Jan
""",
        Understanding(
            Intent.request,
            half_days=2,
            kind=K.content,
            theme="loopbaanorientatie",
            preferred_from=date(2026, 12, 1),
            preferred_to=date(2027, 1, 31),
            preferred_text="in december of januari",
            days_text="een hele dag",
            also=(Intent.balance,),
        ),
    ),
    Mail(
        "HTML-only Gmail mail",
        """\
<div dir="ltr">Beste team,<br><br>Wij vragen <b>drie dagdelen</b> procesbegeleiding aan,
graag in week&nbsp;1.<br><br>Met vriendelijke groet,<br>Fatima</div><br>
<div class="gmail_quote"><div class="gmail_attr">Op ma 30 nov 2026 schreef STO:</div>
<blockquote class="gmail_quote">Hoeveel dagen wilt u? U heeft nog 5 dagen.</blockquote></div>
""",
        Understanding(
            Intent.request,
            half_days=3,
            kind=K.process,
            preferred_from=date(2027, 1, 4),
            preferred_to=date(2027, 1, 8),
            preferred_text="in week 1",
            days_text="drie dagdelen",
        ),
        html=True,
    ),
    Mail(
        "HTML-only Outlook on the web reply",
        """\
<div style="font-family:Calibri">Graag annuleren, wij hebben het zelf opgelost.</div>
<div id="appendonsend"></div><hr tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><b>Van:</b> STO Ondersteuning<br><b>Verzonden:</b> maandag</div>
<div>Uw aanvraag voor 2 dagen procesbegeleiding in maart is ingediend.</div>
""",
        Understanding(Intent.cancel),
        html=True,
    ),
    Mail(
        "nothing to understand",
        """\
Beste team,

Bedankt voor de fijne samenwerking dit jaar!

Met vriendelijke groet,
Regio Noord
""",
        Understanding(Intent.unknown),
    ),
    Mail("empty body", "", Understanding(Intent.unknown)),
]


@pytest.mark.parametrize("mail", CORPUS, ids=[mail.name for mail in CORPUS])
def test_corpus(mail: Mail) -> None:
    text = mail_text(None, mail.body) if mail.html else mail_text(mail.body)
    assert understand(text, TODAY) == mail.expected


@pytest.mark.parametrize("mail", CORPUS, ids=[mail.name for mail in CORPUS])
def test_never_a_float(mail: Mail) -> None:
    text = mail_text(None, mail.body) if mail.html else mail_text(mail.body)
    found = understand(text, TODAY)
    assert found.half_days is None or type(found.half_days) is int
    for field in fields(found):
        assert not isinstance(getattr(found, field.name), float)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (
            "twee dagdelen procesbegeleiding in maart",
            Understanding(
                Intent.request,
                half_days=2,
                kind=K.process,
                preferred_from=date(2027, 3, 1),
                preferred_to=date(2027, 3, 31),
                preferred_text="in maart",
                days_text="twee dagdelen",
            ),
        ),
        (
            "1,5 dag inhoudelijk advies duurzaamheid week 12",
            Understanding(
                Intent.request,
                half_days=3,
                kind=K.content,
                theme="duurzaamheid",
                preferred_from=date(2027, 3, 22),
                preferred_to=date(2027, 3, 26),
                preferred_text="week 12",
                days_text="1,5 dag",
            ),
        ),
        (
            "strategic support, two days, early April",
            Understanding(
                Intent.request,
                half_days=4,
                kind=K.strategic,
                preferred_from=date(2027, 4, 1),
                preferred_to=date(2027, 4, 10),
                preferred_text="early April",
                days_text="two days",
            ),
        ),
        ("", Understanding(Intent.unknown)),
    ],
)
def test_slash_command_words(words: str, expected: Understanding) -> None:
    # `/sto aanvragen <words>` pre-fills the request modal from this.
    assert understand(words, TODAY) == expected


# --- a thread: the answer asks, the reply completes ------------------------------------------


def test_a_reply_completes_the_missing_days_and_kind() -> None:
    first = understand("Wij willen graag ondersteuning in april.", TODAY)
    assert first.missing == [DAYS, KIND]

    reply = understand(mail_text("Twee.\n\n> Hoeveel dagen?"), TODAY, expecting=first.missing)
    second = merge(first, reply)
    assert (second.half_days, second.missing) == (4, [KIND])
    assert second.preferred_text == "in april"

    reply = understand("Proces graag", TODAY, expecting=second.missing)
    third = merge(second, reply)
    assert third == Understanding(
        Intent.request,
        half_days=4,
        kind=K.process,
        preferred_from=date(2027, 4, 1),
        preferred_to=date(2027, 4, 30),
        preferred_text="in april",
        days_text="Twee",
    )


def test_a_reply_replaces_an_unclear_amount() -> None:
    first = understand("Graag 0,3 dag procesbegeleiding.", TODAY)
    assert first.days_problem is P.not_half_day
    second = merge(first, understand("Een halve dag dan.", TODAY, expecting=first.missing))
    assert (second.half_days, second.days_problem, second.days_text, second.missing) == (
        1,
        None,
        "Een halve dag",
        [],
    )


def test_a_reply_that_is_still_unclear_keeps_asking() -> None:
    first = understand("Procesbegeleiding graag.", TODAY)
    second = merge(first, understand("Een paar dagen", TODAY, expecting=first.missing))
    assert (second.half_days, second.days_problem, second.missing) == (None, P.vague, [DAYS])


def test_a_reply_chooses_among_the_kinds_offered() -> None:
    first = understand("Twee dagen inhoudelijk advies of strategische ondersteuning", TODAY)
    assert first.kind_options == (K.content, K.strategic)
    second = merge(first, understand("Strategisch.", TODAY, expecting=first.missing))
    assert (second.kind, second.kind_options, second.missing) == (K.strategic, (), [])


def test_a_reply_moves_the_period_and_keeps_the_rest() -> None:
    first = understand("Twee dagen procesbegeleiding in maart over duurzaamheid", TODAY)
    second = merge(first, understand("Liever in april.", TODAY))
    assert (second.preferred_text, second.half_days, second.kind, second.theme) == (
        "in april",
        4,
        K.process,
        "duurzaamheid",
    )


def test_a_cancellation_in_the_thread_is_taken_as_it_is() -> None:
    first = understand("Twee dagen procesbegeleiding in maart", TODAY)
    reply = understand("Laat maar, graag annuleren.", TODAY)
    assert merge(first, reply) == reply == Understanding(Intent.cancel)


def test_a_balance_question_in_the_thread_is_taken_as_it_is() -> None:
    first = understand("Procesbegeleiding in maart", TODAY)
    reply = understand("Hoeveel dagen hebben we eigenlijk nog?", TODAY)
    assert merge(first, reply).intent is Intent.balance


def test_a_bare_number_without_a_question_is_not_days() -> None:
    assert understand("2", TODAY) == Understanding(Intent.unknown)


def test_understanding_does_not_depend_on_the_real_date() -> None:
    # Same words, another `today`: the next March moves with it.
    later = understand("twee dagen procesbegeleiding in maart", date(2027, 4, 1))
    assert (later.preferred_from, later.preferred_to) == (date(2028, 3, 1), date(2028, 3, 31))
