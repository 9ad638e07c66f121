"""What a message wants."""

from __future__ import annotations

import pytest

from bot.understanding.intent import Intent, IntentReading, read_intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # balance
        ("Hoeveel dagen hebben wij nog?", Intent.balance),
        (
            "Beste team, hoeveel ondersteuningsdagen zijn er nog beschikbaar voor onze regio?",
            Intent.balance,
        ),
        ("Wat is ons saldo?", Intent.balance),
        ("Hebben we nog dagen over?", Intent.balance),
        ("How many days do we have left?", Intent.balance),
        ("What is our balance?", Intent.balance),
        ("Hoeveel dagen hebben wij nog voor procesbegeleiding?", Intent.balance),
        # cancel
        ("Wij willen de aanvraag graag annuleren.", Intent.cancel),
        ("Graag annuleren", Intent.cancel),
        ("Kunt u onze aanvraag annuleren?", Intent.cancel),
        ("Wij trekken onze aanvraag in.", Intent.cancel),
        ("Wij trekken de aanvraag voor maart in", Intent.cancel),
        ("De werksessie gaat niet door.", Intent.cancel),
        ("We zien af van de ondersteuning.", Intent.cancel),
        ("Ik meld me af voor de bijeenkomst.", Intent.cancel),
        ("Helaas kunnen we niet komen, dus graag annuleren", Intent.cancel),
        ("Please cancel our request.", Intent.cancel),
        ("We no longer need the support.", Intent.cancel),
        # register
        ("Ik meld me aan", Intent.register),
        ("Hierbij meld ik mij aan voor de themabijeenkomst.", Intent.register),
        ("Wij melden ons graag aan met twee personen.", Intent.register),
        ("Graag aanmelden voor de bijeenkomst van 3 maart", Intent.register),
        ("Ik wil me inschrijven", Intent.register),
        ("I would like to register for the meeting", Intent.register),
        ("Please sign me up", Intent.register),
        # request
        ("Wij willen graag ondersteuning", Intent.request),
        ("Wij vragen graag ondersteuning aan.", Intent.request),
        ("We would like to book support", Intent.request),
        ("Wij zouden graag begeleiding willen.", Intent.request),
        ("Could you help us with our regional plan?", Intent.request),
        # nothing
        ("Beste team,", Intent.unknown),
        ("Met vriendelijke groet, Jan", Intent.unknown),
        ("Bedankt voor uw reactie!", Intent.unknown),
        ("Wij willen graag weten waar de bijeenkomst is.", Intent.unknown),
        ("Ik heb een vraag over onze aanvraag.", Intent.unknown),
        ("", Intent.unknown),
    ],
)
def test_intents(text: str, intent: Intent) -> None:
    assert read_intent(text).intent is intent


@pytest.mark.parametrize(
    "text",
    [
        "Mocht het niet doorgaan, dan annuleren wij tijdig.",
        "Als het niet lukt, annuleren we.",
        "If we cannot make it we will cancel.",
        "Wij willen niet annuleren.",
        "No need to cancel.",
        "Don't cancel.",
    ],
)
def test_a_conditional_or_negated_cancellation_is_none(text: str) -> None:
    assert read_intent(text).intent is not Intent.cancel


def test_an_amount_makes_a_request() -> None:
    text = "Twee dagdelen in maart."
    assert read_intent(text).intent is Intent.unknown
    assert read_intent(text, amounts=[(0, 13)]) == IntentReading(Intent.request)


def test_an_amount_inside_a_balance_question_belongs_to_the_question() -> None:
    text = "Hebben wij nog 2 dagen over?"
    assert read_intent(text, amounts=[(15, 22)]) == IntentReading(Intent.balance)


def test_a_request_that_also_asks_the_balance() -> None:
    text = "Hoeveel dagen hebben wij nog? Wij willen graag 2 dagen procesbegeleiding."
    assert read_intent(text, amounts=[(47, 54)]) == IntentReading(Intent.request, (Intent.balance,))


def test_a_kind_alone_beside_a_balance_question_is_the_balance() -> None:
    text = "Hoeveel dagen hebben wij nog? We overwegen procesbegeleiding."
    assert read_intent(text, kinds=[(43, 60)]) == IntentReading(Intent.balance, (Intent.request,))


def test_a_kind_alone_is_a_request() -> None:
    assert read_intent("Procesbegeleiding in maart", kinds=[(0, 17)]).intent is Intent.request


def test_a_cancellation_goes_before_what_else_the_message_says() -> None:
    text = "Graag annuleren. Hoeveel dagen hebben we dan nog?"
    assert read_intent(text) == IntentReading(Intent.cancel, (Intent.balance,))


def test_the_day_part_of_a_meeting_registration_is_no_request() -> None:
    text = "Ik meld me aan voor de bijeenkomst op 3 maart (een middag)."
    assert read_intent(text, amounts=[(47, 57)]) == IntentReading(Intent.register)
