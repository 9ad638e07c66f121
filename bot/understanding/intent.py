"""What a message wants: support days, the balance, a cancellation, a registration.

The reading is per sentence, so that a question about the balance ("Hoeveel
dagen hebben wij nog voor procesbegeleiding?") is not taken for a request
just because it names days and a kind, and polite filler around it ("Beste
team,", "Alvast bedankt") carries no weight. A cancellation under a
condition ("mocht het niet doorgaan, dan annuleren wij") or with a negation
("niet annuleren") does not count: cancelling is the one reading that acts
on something existing, so it must be said plainly.

A question about what is possible ("Kan ik later annuleren?", "Is het
mogelijk om ook een halve dag aan te vragen?", "Can I cancel later?") asks,
it does not instruct: such a sentence reads as `Intent.question`, so that a
mail never acts on it. A polite request phrased as a question is an
instruction, though: "Kunt u deze aanvraag annuleren?", "Wilt u ons
afmelden?", "Could you cancel our request?" are addressed to us and ask us
to act. What decides, per sentence (`is_question`), in this order:

1. an indirect question about the writer's possibilities ("laat u weten
   of wij nog kunnen annuleren", "let me know whether we can cancel") is a
   question;
2. words addressed to us or a plain wish ("kunt u", "wilt u", "graag",
   "a.u.b.", "wij willen", "please", "could you", "we would like") make
   an instruction, and so does asking for the support itself ("kunnen wij
   4 uur advies krijgen?");
3. a sentence that ends in "?", or opens as a question about what the
   writer may or can do ("kan ik", "mogen wij", "is het mogelijk", "hoe",
   "can I", "is it possible"), is a question.

A question counts as `Intent.question` when it names cancelling,
registering, requesting or coming to a meeting; an amount, a kind or
support named with only a question mark ("2 dagen procesbegeleiding?")
answers what we asked and is read as before. A sentence hard-wrapped over
lines (plain-text mail) is judged whole (`question_sentences`). A balance
question stays a balance question: that one we answer.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from bot.understanding.text import fold, negated, normalise, sentence_spans


class Intent(StrEnum):
    request = "request"  # support days
    balance = "balance"  # how many days are left
    cancel = "cancel"  # withdraw a request or a registration
    register = "register"  # sign up for a theme meeting
    question = "question"  # asks whether or how one of the above can be done: never acts
    unknown = "unknown"


_CANCEL = re.compile(
    r"\bannul(?:eer|eren|eert|eerd|ering)\w*|\bgeannuleerd\b|\bintrekken\b|\bingetrokken\b"
    r"|\btrek(?:ken|t)?\b(?:\s+[\w-]+){1,6}?\s+in\b(?=\s*(?:[.,;:!?]|$))"
    r"|\bzie[nt]?\b(?:\s+\w+){0,4}?\s+af\b(?=\s*(?:[.,;:!?]|$|van\b))|\bafzien\b"
    r"|\bafzeggen\b|\bzeg(?:gen|t)?\b(?:\s+\w+){1,5}?\s+af\b"
    r"|\bgaat\s+niet\s+door\b|\bkan\s+niet\s+doorgaan\b|\bkunnen\s+niet\s+doorgaan\b"
    r"|\bafmeld\w*|\bmeld(?:en|t)?\s+(?:me|mij|ons|\w+)\s+(?:\w+\s+){0,3}?af\b"
    r"|\bniet\s+meer\s+nodig\b|\bhoeft\s+niet\s+meer\b"
    r"|\bcancel\w*|\bwithdraw\w*|\bcall\s+(?:it\s+)?off\b|\bno\s+longer\s+(?:need|required)\w*"
    r"|\bunregister\w*|\bderegister\w*"
)
# These phrases carry their own negation; the negation check must not undo them.
_NEGATION_INSIDE = re.compile(r"niet|no\s+longer")
_CONDITION = re.compile(
    r"\b(?:als|indien|mocht|mochten|wanneer|zodra|if|in\s+case|should|unless|tenzij)\b"
)

_REGISTER = re.compile(
    r"\baanmeld\w*|\bmeld(?:en|t)?\s+(?:me|mij|ons|\w+)\s+(?:\w+\s+){0,3}?aan\b"
    r"|\binschrijv\w*|\bschrijf\w*\s+(?:me|mij|ons|\w+)\s+(?:\w+\s+){0,3}?in\b(?=\s*(?:[.,;:!?]|$|voor\b))"
    r"|\bingeschreven\b|\bregist(?:er|reer|reren|ration|reren)\w*|\bsign\s+(?:me\s+|us\s+)?up\b"
)

_BALANCE = re.compile(
    r"\bsaldo\b|\btegoed\b|\bdagensaldo\b|\bbalance\b|\bresterende\s+dagen\b|\bremaining\s+days\b"
    r"|\bdays\s+(?:left|remaining)\b"
    r"|\bhoeveel\b.{0,60}\b(?:nog|over|beschikbaar|resterend|resteren|openstaan|gebruikt|verbruikt|besteed)\b"
    r"|\bhow\s+many\b.{0,60}\b(?:left|remaining|available|still|used)\b"
    r"|\bhebben\s+(?:wij|we)\s+nog\b.{0,40}\b(?:over|beschikbaar|tegoed)\b"
    r"|\bwhat(?:'s|\s+is)\s+(?:our|my|the)\s+balance\b"
)
# 1. An indirect question about what the writer (or anyone) may do.
_INDIRECT = re.compile(
    r"\b(?:weten|vertellen|horen|informeren|benieuwd|vraag|vragen|afvragen|navragen)\b"
    r".{0,40}?\b(?:of|hoe|wanneer|tot\s+wanneer)\s+(?:ik|wij|we|het|dat|er|je|men|annuleren)\b"
    r"|\b(?:know|tell|wonder\w*|ask\w*|find\s+out|check|confirm)\b"
    r".{0,40}?\b(?:whether|if|how|when)\s+(?:i|we|it|one|there|cancel\w*)\b"
)
# 2. Addressed to us, or a plain wish: an instruction, even with a question mark.
_ADDRESSED = re.compile(
    r"\b(?:kunt|kan|kun|wilt|wil|zou|zoudt|kunnen|willen|zouden)\s+(?:u|jullie)\b"
    r"|\b(?:kun|kan|wil|zou)\s+(?:je|jij)\b(?!.*\b(?:later|ook|achteraf|altijd|eventueel|"
    r"kosteloos|zomaar|zelf)\b)"
    r"|\bgraag\b|\ba\.?\s?u\.?\s?b\b|\balstublieft\b|\balsjeblieft\b|\bverzoek\w*"
    r"|\b(?:ik|wij|we)\s+(?:wil|willen|wensen|verzoeken)\b|\bhierbij\b"
    r"|\bplease\b|\bkindly\b|\b(?:can|could|would|will)\s+you\b"
    r"|\b(?:i|we)\s+(?:want|wish|would\s+like)\b|\b(?:i|we)'d\s+like\b"
)
# ... and so is asking for the thing itself: "Kunnen wij 4 uur advies krijgen?" (not when
# the thing is a cancellation: "kunnen wij ons geld terugkrijgen als we annuleren?").
_GET = re.compile(
    r"\b(?:kan|kun|kunnen|mag|mogen)\s+(?:ik|wij|we)\b.{0,60}?\b(?:krijgen|hebben|ontvangen)\b"
    r"|\b(?:can|could|may)\s+(?:i|we)\s+(?:\w+\s+)?(?:get|have|receive)\b"
)
# 3. A question about what is possible, when no question mark says so.
_POSSIBLE = re.compile(
    r"\s*(?:[^\W\d_][\w ]{0,30},\s*)?"  # "Beste team, kan ik ..."
    r"(?:(?:kan|kun|mag|moet|zal|zou)\s+(?:ik|je|jij|men)\b(?!\s+(?:\w+\s+)?niet\b)"
    r"|(?:kunnen|mogen|moeten|zullen|zouden)\s+(?:wij|we)\b(?!\s+(?:\w+\s+)?niet\b)"
    r"|(?:is|zou)\s+(?:het|er)\s+(?:\w+\s+)?(?:mogelijk|toegestaan|de\s+bedoeling)\b"
    r"|hoe\b(?!\s+dan\s+ook)|tot\s+wanneer\b|wat\s+als\b"
    r"|(?:can|could|may|should|must|shall)\s+(?:i|we)\b|(?:is|would)\s+it\s+(?:be\s+)?possible\b"
    r"|(?:am\s+i|are\s+we)\s+able\b|how\s+(?:do|can|could|should|would)\b|what\s+if\b"
    r"|do\s+(?:i|we)\s+(?:need|have)\b)"
)

# A request in words: a verb that asks for support outright ...
_REQUEST_VERB = re.compile(
    r"\baanvragen\b|\bvra(?:gen|ag)\b(?:\s+\w+){0,6}?\s+aan\b|\binplannen\b|\bboeken\b"
    r"|\binzetten\b|\b(?:to|we|i)\s+request\b|\bbook(?:ing)?\b"
)
# ... or a wish together with what is wished for ("wij willen graag weten
# wanneer ..." asks nothing of the team's days).
_WISH = re.compile(
    r"\bwill?en\b.{0,30}?\bgraag\b|\bzou(?:den)?\b.{0,30}?\bgraag\b|\bgraag\b|\bwould\s+like\b"
    r"|\b(?:we|i)\s+need\b|\bplease\b|\bkunnen\s+(?:jullie|u|we|wij)\b|\b(?:could|can)\s+you\b"
)
# What a question may name in words the instructions above do not read ("om af te melden").
_ASKED_FOR = re.compile(
    r"\b(?:aan|af)\s+te\s+(?:vragen|melden|zeggen)\b|\bin\s+te\s+(?:plannen|schrijven|trekken)\b"
    r"|\bte\s+boeken\b|\brequest\b"
)
# Coming to a meeting or not: a question about it ("What if I can't make it?") asks too.
_COMING = re.compile(
    r"\bkom(?:en|t)?\b|\baanwezig\b|\bdeelnem\w*|\bmeedoen\b|\bverhinderd\b"
    r"|\bcom(?:e|ing)\b|\battend\w*|\bmake\s+it\b|\bjoin\b"
)
_SUPPORT_WORD = re.compile(
    r"ondersteun|hulp|\bhelp|begeleid|advies|advis|support|advice|guidance|sessie|session|workshop"
)


@dataclass(frozen=True, slots=True)
class IntentReading:
    intent: Intent
    also: tuple[Intent, ...] = ()  # other wishes in the same message, e.g. the balance too


def _cancel_meant(sentence: str, match: re.Match[str]) -> bool:
    # The condition usually opens the sentence, a clause or two before the verb.
    if _CONDITION.search(sentence[: match.start()]):
        return False
    if _NEGATION_INSIDE.search(match[0]):
        return True
    if re.search(r"\bno\s+need\s+to\s*$", sentence[max(0, match.start() - 20) : match.start()]):
        return False
    return not negated(sentence, match.start(), match.end())


def is_question(sentence: str, *, mark: bool = True) -> bool:
    """Whether a (folded) sentence asks rather than tells us to act (see the module doc).

    Without a question mark, "Helaas, kan ik niet komen" says something: a
    negation right after the opener makes it a statement. `mark=False`
    leaves the question mark out of it: only the words decide.
    """
    if _INDIRECT.search(sentence):
        return True
    if _ADDRESSED.search(sentence) or (_GET.search(sentence) and not _CANCEL.search(sentence)):
        return False
    return (mark and sentence.rstrip().endswith("?")) or _POSSIBLE.match(sentence) is not None


def _unwrapped(text: str, folded: str) -> str:
    """`folded` with each line break inside a sentence made a space (same length).

    Gmail and others wrap plain text at about 76 characters, so "Kunt u onze
    aanvraag voor maart\nannuleren?" arrives as two lines. A break goes when
    the line does not end a sentence and the next one goes on in lower case.
    """
    chars = list(folded)
    lines = text.split("\n")
    position = 0
    for line, following in pairwise(lines):
        position += len(line)  # the line break
        end, head = line.rstrip(), following.lstrip()
        if end and end[-1] not in ".!?:;" and head and (head[0].islower() or head[0].isdigit()):
            chars[position] = " "
        position += 1
    return "".join(chars)


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int
    end: int
    asks: bool  # a question, not an instruction
    worded: bool  # ... and its words say so, not only its question mark


def question_sentences(text: str) -> list[Sentence]:
    """The sentences of `text` (normalised) as `sentence_spans` of its folded form gives
    them, each with whether it asks.

    A sentence on one line asks by its own words and mark; a line of a wrapped
    sentence asks when the whole sentence does ("... voor maart\nannuleren?"
    after "Kunt u" does not), or when its own words open a question ("graag
    annuleren\nkan ik later opnieuw aanvragen?").
    """
    folded = fold(text)
    joined = _unwrapped(text, folded)
    whole = sentence_spans(joined)
    starts = [start for start, _ in whole]
    found: list[Sentence] = []
    for start, end in sentence_spans(folded):
        index = bisect_right(starts, start) - 1
        around = joined[whole[index][0] : whole[index][1]] if index >= 0 else ""
        worded = is_question(around, mark=False) or is_question(folded[start:end], mark=False)
        found.append(Sentence(start, end, worded or is_question(around), worded))
    return found


def read_intent(
    text: str,
    amounts: Sequence[tuple[int, int]] = (),
    kinds: Sequence[tuple[int, int]] = (),
) -> IntentReading:
    """What `text` wants.

    `amounts` and `kinds` are the spans where an amount of days or a kind of
    support was found. An amount, or a wish in words ("willen graag",
    "aanvragen", "would like"), outside a balance question makes a request;
    a kind alone only makes a request when nothing else is asked ("Hoeveel
    dagen hebben wij nog? We overwegen procesbegeleiding." asks the balance).

    A question about any of these (see the module doc) is `Intent.question`
    and acts on nothing.

    Precedence: a cancellation, a registration, a request, a balance
    question, a request named by its kind alone, a question. Whatever else
    the message wants is in `also`.
    """
    text = normalise(text)
    folded = fold(text)
    seen: set[Intent] = set()
    kind_only = False
    for told in question_sentences(text):
        start, end = told.start, told.end
        sentence = folded[start:end]
        if told.asks and not _BALANCE.search(sentence):
            # Whatever a question names, it only asks: "kan ik later annuleren?". An amount,
            # a kind or support named with a question mark alone ("1,5 dag?", "Procesbegeleiding?")
            # answers what we asked, though: that is read as ever.
            named = any(start <= s < end for s, _ in (*amounts, *kinds)) or _SUPPORT_WORD.search(
                sentence
            )
            if (
                _CANCEL.search(sentence)
                or _REGISTER.search(sentence)
                or _REQUEST_VERB.search(sentence)
                or _ASKED_FOR.search(sentence)
                or _COMING.search(sentence)
                or (named and told.worded)
            ):
                seen.add(Intent.question)
                continue
            if not named:
                continue
        cancels = [m for m in _CANCEL.finditer(sentence) if _cancel_meant(sentence, m)]
        registers = [
            m for m in _REGISTER.finditer(sentence) if not negated(sentence, m.start(), m.end())
        ]
        if cancels:
            seen.add(Intent.cancel)
        if registers:
            seen.add(Intent.register)
        if _BALANCE.search(sentence):
            # Days and kinds named inside a balance question belong to the question.
            seen.add(Intent.balance)
            continue
        if cancels or registers:
            continue  # "meld mij aan voor ... (een middag)": the middag is the meeting's
        asks = _REQUEST_VERB.search(sentence) or (
            _WISH.search(sentence) and _SUPPORT_WORD.search(sentence)
        )
        if asks or any(start <= s < end for s, _ in amounts):
            seen.add(Intent.request)
        elif any(start <= s < end for s, _ in kinds):
            kind_only = True
    order = [Intent.cancel, Intent.register, Intent.request, Intent.balance]
    found = [intent for intent in order if intent in seen]
    if kind_only and Intent.request not in seen:
        found.append(Intent.request)
    if Intent.question in seen:
        found.append(Intent.question)
    if not found:
        return IntentReading(Intent.unknown)
    return IntentReading(found[0], tuple(found[1:]))
