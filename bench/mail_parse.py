"""Benchmark of inbound mail reading, side by side with Python's own email package.

    .venv/bin/python bench/mail_parse.py [--count N] [--rounds R]

Issue 4 (Benchmark): parse 10,000 corpus mails, printing mails per second.

The corpus (tests/mail_corpus/*.eml: Outlook, Gmail and Apple Mail, Dutch and
English, replies with quoted history, auto-replies, bounces, list mail and the
malformed ones) is read into memory once and cycled through until N mails
(10,000 by default) went through each of three paths, in the same run:

a) baseline: `email.message_from_bytes(raw, policy=email.policy.default)` and
   the content of `get_body(("plain", "html"))`: what the standard library does
   for the same bytes, without any of our limits, fallbacks or quote stripping;
b) parse: `bot.mail.parse.parse(raw)` alone (headers, addresses, ids, body
   text from plain or HTML, attachments listed, quoted history cut off);
c) understanding: `parse`, then `classify(mail, own_addresses=...)`, then
   `understand(mail.new_text, 2026-11-30)`: the inbound path up to the point
   where the database comes in. Every mail is understood, also the ones the
   real pipeline would ignore (bounces, auto-replies), so this is its upper
   bound per mail.

Each path first reads the corpus once, not counted (dateparser's first call
loads its languages and takes about a second). Then the N mails of each path
are measured in R rounds (5 by default) that take turns (a b c, b c a, c a b,
...), so drift and load from elsewhere on the machine hit all paths alike;
every path reads the same mails in the same order. `seconds` is wall-clock
time, `cpu s` the process's CPU time in the same intervals (near `seconds`
unless the machine is busy with other work), `mails/s` is mails over wall
time, and `vs a` that rate over the baseline's.

`peak KiB` is tracemalloc's peak for one pass over the corpus (each result
dropped before the next mail, as the pipeline does), measured after the timed
rounds, since tracing slows everything down.

Note on (c): `bot.understanding.periods` caches dateparser's answers per
phrase (lru_cache), and a corpus cycled through repeats its phrases, so after
the warm-up dateparser is hardly called again. Fresh mail with new date
phrases pays more for those phrases.
"""

from __future__ import annotations

import argparse
import email
import gc
import os
import platform
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.mail.classify import classify  # noqa: E402
from bot.mail.parse import parse  # noqa: E402
from bot.understanding import understand  # noqa: E402

CORPUS = ROOT / "tests" / "mail_corpus"
TODAY = date(2026, 11, 30)
# The assistant's own address in the corpus (from_assistant_itself.eml, and the tests).
OWN_ADDRESSES = frozenset({"ondersteuning@sto.example"})

Step = Callable[[bytes], int]


def baseline(raw: bytes) -> int:
    """The standard library's reading: the message and its preferred body's text."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(("plain", "html"))
    if body is None:
        return 0
    content = body.get_content()
    return len(content) if isinstance(content, str) else 0


def ours(raw: bytes) -> int:
    """`parse` alone."""
    return len(parse(raw).text)


def understanding(raw: bytes) -> int:
    """`parse` + `classify` + `understand`: the inbound path without a database."""
    mail = parse(raw)
    classify(mail, own_addresses=OWN_ADDRESSES)
    understand(mail.new_text, TODAY)
    return len(mail.new_text)


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    step: Step


PATHS = (
    Variant("a", "a) email + get_body (baseline)", baseline),
    Variant("b", "b) parse", ours),
    Variant("c", "c) parse + classify + understand", understanding),
)


@dataclass
class Tally:
    mails: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    peak: int = 0


def timed(step: Step, raws: Sequence[bytes], start: int, count: int) -> tuple[float, float]:
    """Wall and CPU seconds for `count` mails from position `start` of the cycle."""
    size = len(raws)
    gc.collect()  # no path pays for another's garbage
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(start, start + count):
        step(raws[i % size])
    return time.perf_counter() - wall, time.process_time() - cpu


def peak_memory(step: Step, raws: Sequence[bytes]) -> int:
    """tracemalloc's peak, in bytes above what was allocated before, for one corpus pass."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for raw in raws:
            step(raw)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def split(count: int, rounds: int) -> list[int]:
    """`count` mails in `rounds` nearly equal parts."""
    part, rest = divmod(count, rounds)
    return [part + (1 if r < rest else 0) for r in range(rounds)]


def summary(raws: Sequence[bytes]) -> list[str]:
    """What one corpus pass reads, as a check that every path did its work."""
    with_text = {path.key: sum(1 for raw in raws if path.step(raw) > 0) for path in PATHS}
    verdicts: Counter[str] = Counter()
    intents: Counter[str] = Counter()
    for raw in raws:
        mail = parse(raw)
        verdicts[classify(mail, own_addresses=OWN_ADDRESSES).value] += 1
        intents[understand(mail.new_text, TODAY).intent.value] += 1
    total = len(raws)
    return [
        "mails with text per corpus pass: "
        + ", ".join(
            f"{key}) {count}/{total}" + (" (new text)" if key == "c" else "")
            for key, count in with_text.items()
        ),
        "c) verdicts: " + ", ".join(f"{k} {v}" for k, v in verdicts.most_common()),
        "c) intents:  " + ", ".join(f"{k} {v}" for k, v in intents.most_common()),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000, help="mails per path (10,000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds taking turns (5)")
    args = parser.parse_args(argv)
    count: int = args.count
    rounds: int = max(1, min(args.rounds, count))
    if count < 1:
        parser.error("--count must be at least 1")

    files = sorted(CORPUS.glob("*.eml"))
    if not files:
        parser.error(f"no .eml files in {CORPUS}")
    raws = [f.read_bytes() for f in files]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"corpus: {len(raws)} mails, {sum(map(len, raws)):,} bytes ({CORPUS.relative_to(ROOT)}),"
        f" cycled; {count:,} mails per path in {rounds} rounds taking turns,"
        " after one uncounted pass"
    )
    print(
        f"python {platform.python_version()} on {platform.machine()},"
        f" {os.cpu_count()} cpus, load average {load:.2f} at start"
    )

    started = time.perf_counter()
    for path in PATHS:  # warm-up: imports, regex compilation, dateparser's languages
        for raw in raws:
            path.step(raw)
    warm = time.perf_counter() - started

    tallies = {path.key: Tally() for path in PATHS}
    position = 0
    for r, part in enumerate(split(count, rounds)):
        order = PATHS[r % len(PATHS) :] + PATHS[: r % len(PATHS)]
        for path in order:
            wall, cpu = timed(path.step, raws, position, part)
            tally = tallies[path.key]
            tally.mails += part
            tally.seconds += wall
            tally.cpu += cpu
        position += part

    for path in PATHS:
        tallies[path.key].peak = peak_memory(path.step, raws)
    checks = summary(raws)

    base = tallies["a"]
    base_rate = base.mails / base.seconds
    print()
    print(
        f"{'path':<34} {'mails':>7} {'seconds':>8} {'cpu s':>7} {'mails/s':>8}"
        f" {'vs a':>6} {'peak KiB':>9}"
    )
    for path in PATHS:
        t = tallies[path.key]
        rate = t.mails / t.seconds
        print(
            f"{path.label:<34} {t.mails:>7,} {t.seconds:>8.2f} {t.cpu:>7.2f} {rate:>8.0f}"
            f" {rate / base_rate:>5.2f}x {t.peak / 1024:>9,.0f}"
        )
    print()
    for line in checks:
        print(line)
    total = time.perf_counter() - started
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"warm-up {warm:.1f} s, whole run {total:.1f} s, load average {load:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
