"""What a message wants."""

from __future__ import annotations

from datetime import date

import pytest

from bot.understanding.draft import understand
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


# A question about cancelling (or booking, or registering) asks; it must never act. A polite
# request addressed to us ("kunt u ... annuleren?") is an instruction all the same.
QUESTION, CANCEL, REQUEST, REGISTER = (
    Intent.question,
    Intent.cancel,
    Intent.request,
    Intent.register,
)
PHRASINGS: list[tuple[str, Intent]] = [
    # Dutch instructions
    ("graag annuleren", CANCEL),
    ("Graag annuleren.", CANCEL),
    ("wij willen annuleren", CANCEL),
    ("Wij willen de aanvraag annuleren.", CANCEL),
    ("Ik wil deze aanvraag intrekken.", CANCEL),
    ("annuleer STO-2026-0012 a.u.b.", CANCEL),
    ("Annuleer STO-2026-0012 aub", CANCEL),
    ("Hierbij annuleren wij onze aanvraag.", CANCEL),
    ("kunt u deze aanvraag annuleren?", CANCEL),
    ("Kunt u deze aanvraag annuleren?", CANCEL),
    ("Wilt u de aanvraag annuleren?", CANCEL),
    ("Zou u de aanvraag willen annuleren?", CANCEL),
    ("Kunnen jullie onze aanvraag annuleren?", CANCEL),
    ("Willen jullie de aanvraag intrekken?", CANCEL),
    ("Beste team, kunt u STO-2026-0012 annuleren?", CANCEL),
    ("Kun je deze aanvraag annuleren?", CANCEL),
    ("Kunt u mij afmelden voor TB-2027-03?", CANCEL),
    ("Wij willen graag annuleren, kan dat?", CANCEL),
    ("Ik wil de aanvraag annuleren. Kan dat nog?", CANCEL),
    ("Verzoek om de aanvraag te annuleren.", CANCEL),
    ("Helaas kunnen we niet komen, dus annuleren wij.", CANCEL),
    ("Helaas, kan ik niet komen. Graag afmelden.", CANCEL),
    ("Ik wil vragen of u de aanvraag wilt annuleren.", CANCEL),
    # English instructions
    ("please cancel", CANCEL),
    ("Please cancel our request.", CANCEL),
    ("Could you cancel our request?", CANCEL),
    ("Can you cancel STO-2026-0012?", CANCEL),
    ("Would you please cancel the booking?", CANCEL),
    ("Can I please cancel my registration?", CANCEL),
    ("We would like to cancel, is that possible?", CANCEL),
    ("We want to withdraw our request.", CANCEL),
    # Dutch questions about cancelling
    ("kan ik later annuleren?", QUESTION),
    ("Kan ik later nog annuleren", QUESTION),
    ("Is het mogelijk om te annuleren als het niet doorgaat?", QUESTION),
    ("Is het ook mogelijk om later te annuleren?", QUESTION),
    ("Mag ik de aanvraag later nog annuleren?", QUESTION),
    ("Kunnen wij de aanvraag nog kosteloos annuleren?", QUESTION),
    ("Kun je ook later nog annuleren?", QUESTION),
    ("Hoe kan ik annuleren?", QUESTION),
    ("Hoe annuleer ik de aanvraag?", QUESTION),
    ("Tot wanneer kan ik annuleren?", QUESTION),
    ("Moet ik de aanvraag annuleren?", QUESTION),
    ("Is de aanvraag al geannuleerd?", QUESTION),
    ("Wat gebeurt er als wij annuleren?", QUESTION),
    ("Beste team, kan ik me later nog afmelden?", QUESTION),
    ("Is het mogelijk om af te melden als ik ziek ben?", QUESTION),
    ("Is het mogelijk de aanvraag in te trekken?", QUESTION),
    ("What if I can't make it?", QUESTION),
    ("Wat als ik niet kan komen?", QUESTION),
    ("Kan ik ook iets later komen?", QUESTION),
    ("Ik kan niet komen, kan ik iemand anders sturen?", QUESTION),
    ("Kunt u mij laten weten of ik later nog kan annuleren?", QUESTION),
    ("Wij willen graag weten of we later nog kunnen annuleren.", QUESTION),
    # English questions about cancelling
    ("can I cancel later?", QUESTION),
    ("Can we cancel if the session does not go ahead?", QUESTION),
    ("Is it possible to cancel later?", QUESTION),
    ("Would it be possible to cancel later on?", QUESTION),
    ("How do I cancel a request?", QUESTION),
    ("Should we cancel the request?", QUESTION),
    ("Please let me know whether we can still cancel.", QUESTION),
    ("Is the request cancelled?", QUESTION),
    # questions about the other intents
    ("kan ik ook een halve dag aanvragen?", QUESTION),
    ("Kan ik ook een halve dag aanvragen", QUESTION),
    ("Is het mogelijk om procesbegeleiding aan te vragen?", QUESTION),
    ("Kan ik me nog aanmelden voor TB-2027-03?", QUESTION),
    ("Mogen wij ons met drie personen inschrijven?", QUESTION),
    ("Can I also request half a day?", QUESTION),
    ("Can we still register for TB-2027-03?", QUESTION),
    # instructions for the other intents stay what they were
    ("Wij willen graag ondersteuning aanvragen.", REQUEST),
    ("Kunnen jullie ons helpen met procesbegeleiding?", REQUEST),
    ("Could you help us with our regional plan?", REQUEST),
    ("Graag meld ik me aan voor TB-2027-03.", REGISTER),
    ("Kunt u mij aanmelden voor TB-2027-03?", REGISTER),
    ("Please sign me up for TB-2027-03", REGISTER),
    # balance questions are answered, not flagged
    ("Hoeveel dagen hebben wij nog?", Intent.balance),
    ("Hoeveel dagen kunnen we nog aanvragen?", Intent.balance),
    # a question about nothing we do stays unknown (flagged as not understood)
    ("Waar is de bijeenkomst?", Intent.unknown),
]


@pytest.mark.parametrize(("text", "intent"), PHRASINGS)
def test_a_question_about_an_intent_asks_and_an_instruction_acts(text: str, intent: Intent) -> None:
    assert read_intent(text).intent is intent


def test_a_question_beside_an_instruction_is_kept_in_also() -> None:
    text = "Graag annuleren. Kan ik later opnieuw aanvragen?"
    assert read_intent(text) == IntentReading(Intent.cancel, (Intent.question,))
    text = "Kan ik later nog annuleren? Wij willen graag ondersteuning aanvragen."
    assert read_intent(text) == IntentReading(Intent.request, (Intent.question,))


def test_the_amount_in_a_question_makes_no_request() -> None:
    text = "Kan ik ook een halve dag aanvragen?"
    assert read_intent(text, amounts=[(11, 24)]) == IntentReading(Intent.question)
    assert understand(text, date(2026, 11, 30)).intent is Intent.question


@pytest.mark.parametrize(
    "text",
    [
        "Kunnen wij 2 dagen procesbegeleiding krijgen?",
        "Mogen wij in maart een dag inhoudelijk advies hebben?",
        "Can we get two days of process support in March?",
    ],
)
def test_asking_for_the_support_itself_is_a_request(text: str) -> None:
    assert understand(text, date(2026, 11, 30)).intent is Intent.request


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # Plain text wrapped at about 76 characters (Gmail): the sentence decides, not the line.
        ("Beste team, kunt u onze aanvraag voor de studiedag in maart\nannuleren? Dank u.", CANCEL),
        ("Zou u zo vriendelijk willen zijn om onze aanvraag voor maart te\nannuleren?", CANCEL),
        ("Kan ik de aanvraag voor de studiedag in maart\nlater nog annuleren?", QUESTION),
        ("Wij willen graag weten of wij de aanvraag later\nnog kunnen annuleren.", QUESTION),
        ("Kunt u mij laten weten of ik later\nnog kan annuleren?", QUESTION),
        ("Beste team,\nkan ik later annuleren?", QUESTION),
        ("Beste team,\nkunt u de aanvraag annuleren?", CANCEL),
        # A line that opens a question of its own asks, even inside a wrapped instruction.
        ("graag annuleren\nkan ik dan later opnieuw aanvragen?", CANCEL),
        ("Graag annuleren.\nKan ik later nog annuleren?", CANCEL),
        # Lines that end a sentence, or a new one in capitals, are not joined.
        ("Wij willen annuleren\nKan dat?", CANCEL),
    ],
)
def test_wrapped_lines_are_read_as_the_sentence_they_are(text: str, intent: Intent) -> None:
    assert read_intent(text).intent is intent


def test_a_wrapped_question_beside_an_instruction_is_kept_in_also() -> None:
    text = "graag annuleren\nkan ik dan later opnieuw aanvragen?"
    assert read_intent(text) == IntentReading(Intent.cancel, (Intent.question,))


def test_an_amount_or_a_kind_with_only_a_question_mark_answers_what_we_asked() -> None:
    assert read_intent("1,5 dag?", amounts=[(0, 7)]) == IntentReading(Intent.request)
    assert read_intent("Procesbegeleiding?", kinds=[(0, 17)]) == IntentReading(Intent.request)
    today = date(2026, 11, 30)
    assert understand("Twee dagen procesbegeleiding?", today).intent is Intent.request
    # With the words of a question they ask.
    assert understand("Kan ik ook twee dagen procesbegeleiding aanvragen?", today).intent is (
        Intent.question
    )
    assert understand("Is het mogelijk om twee dagen procesbegeleiding te doen?", today).intent is (
        Intent.question
    )
