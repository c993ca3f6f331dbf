"""Load: many chats at once through the real Telegram Application, over HTTP to the fake Bot API.

    python -m bench.load                     # 200 chats on the real engine (about 1.5 min on 2 cores)
    python -m bench.load --engine fake       # the harness alone, on tests/fake_engine.py (seconds)
    python -m bench.load --chats 50 --questions 1

Each chat (every fifth a supergroup, the others private) adds --articles articles and asks --questions
questions, two messages at a time in quick succession, and sends the next two once both are answered: so
one chat sends two adds at once, an add with a question right behind it (the question must wait for
it), and two questions at once. All chats start within the first second and run side by side, with no
pause between a reply and the next messages: the bot is as busy as the chats can make it.

Articles are SQuAD v1.1 dev paragraphs (../shared/eval), each with one of its SQuAD questions;
neighbouring chats share paragraphs, so one text lives in several collections. Without ../shared,
generated notes stand in. The Bot API's rate limits are lifted: they would measure the limiter.

Prints answers/s and adds/s over the run, p50/p95 time to reply (from the user's message to the answer,
or to the "Adding…" message showing the result), and the errors: the Bot API's error answers, errors
the bot logged, replies that are not an answer or an "Added", chats that did not finish. Then checks,
through the engine's list_articles, that each chat's collection holds exactly its own articles: none
lost, none twice, none of another chat's. Exits 1 when anything of that failed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from verbatim.bot.settings import Settings
from verbatim.bot.telegram.access import collection_for
from verbatim.bot.telegram.app import build_application
from verbatim.bot.telegram.handlers import EngineLike
from verbatim.bot.telegram.render import ADDING, SORRY
from verbatim.bot.telegram.serve import running

from bench.common import EVAL, machine, paragraph_ranges, read_jsonl
from tests.fake_telegram import FakeTelegram

SQUAD = EVAL / "squad-v1.1-dev"
MESSAGES_AT_ONCE = 2  # what a chat sends in quick succession before it waits for the replies
GROUP_EVERY = 5  # every fifth chat is a supergroup
MAX_PARAGRAPH_CHARS = 3_000  # "/add", a title and the paragraph stay within a 4096-character message
POLL_S = 0.01  # how often the driver looks for replies (it only reads the fake's call log)


@dataclass(frozen=True)
class Item:
    """An article to add and a question its text answers."""

    title: str
    text: str
    question: str


@dataclass(frozen=True)
class Message:
    kind: Literal["add", "ask"]
    text: str  # what the user sends


@dataclass
class Chat:
    chat_id: int
    user_id: int
    group: bool
    bursts: list[list[Message]]
    titles: list[str]  # of the articles it adds
    sent: list[tuple[Message, float]] = field(default_factory=list)  # with the time sent
    replies: list[tuple[str, float]] = field(default_factory=list)  # final HTML, time; in the same order
    start_at: float = 0.0

    @property
    def waiting(self) -> bool:
        return len(self.replies) < len(self.sent)

    @property
    def finished(self) -> bool:
        return not self.bursts and not self.waiting


# -- the workload ------------------------------------------------------------------------------------


def squad_items() -> list[Item]:
    """Every SQuAD paragraph of a usable length with its first question, titled "Article · part N"."""
    questions: dict[tuple[str, int], str] = {}
    for q in read_jsonl(SQUAD / "questions.jsonl"):
        questions.setdefault((q["article_id"], q["paragraph"]), q["question"])
    items = []
    for article in read_jsonl(SQUAD / "articles.jsonl"):
        text = article["text"]
        for n, (start, end) in enumerate(paragraph_ranges(text)):
            question = questions.get((article["id"], n))
            paragraph = text[start:end].strip()
            if question and 200 <= len(paragraph) <= MAX_PARAGRAPH_CHARS:
                items.append(Item(f"{article['title']} · part {n + 1}", paragraph, question))
    return items


def generated_items(count: int) -> list[Item]:
    """Short varied notes, for a clone without ../shared."""
    towns = ["Aldport", "Brenford", "Caston", "Dunmere", "Elsworth", "Farrow", "Glenby", "Harwick"]
    things = ["bridge", "library", "tram line", "harbour wall", "school", "market hall", "pier", "museum"]
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    items = []
    for n in range(count):
        town, thing, day = towns[n % 8], things[n // 8 % 8], days[n % 5]
        cost = 2 + n % 17
        text = (
            f"The {town} council voted on {day} to rebuild the {thing}, closed since the spring floods. "
            f"The work will cost {cost}.{n % 10} million euros and take {n % 4 + 2} years. "
            f"Residents asked for a temporary {thing} in the meantime; the council said no."
        )
        items.append(
            Item(f"{town} {thing} note {n}", text, f"How much will rebuilding the {town} {thing} cost?")
        )
    return items


def build_chats(
    count: int, articles: int, questions: int, items: Sequence[Item], bot_username: str, rng: random.Random
) -> list[Chat]:
    """Chat n adds the shuffled items from n*articles/2 on: half of its articles are its neighbour's too.
    Its questions are about its own articles; in a group they mention the bot."""
    items = rng.sample(items, len(items))  # chats draw from every SQuAD article, not the first few
    chats = []
    for n in range(count):
        group = n % GROUP_EVERY == GROUP_EVERY - 1
        user_id = 10_000 + n
        chat_id = -1_001_000_000_000 - n if group else user_id
        first = n * max(1, articles // 2)
        own = [items[(first + k) % len(items)] for k in range(articles)]
        messages = [Message("add", f"/add {item.title}\n{item.text}") for item in own]
        for k in range(questions):
            question = own[k % len(own)].question
            messages.append(Message("ask", f"@{bot_username} {question}" if group else question))
        bursts = [messages[i : i + MESSAGES_AT_ONCE] for i in range(0, len(messages), MESSAGES_AT_ONCE)]
        chats.append(Chat(chat_id, user_id, group, bursts, [item.title for item in own]))
        chats[-1].start_at = rng.random()  # all within the first second
    return chats


def register(fake: FakeTelegram, chats: Sequence[Chat]) -> None:
    for chat in chats:
        fake.add_user(chat.user_id, f"User{chat.user_id}", private_chat=not chat.group)
        if chat.group:
            fake.add_chat(chat.chat_id, "supergroup", f"Group {chat.user_id}")
            fake.set_member_status(chat.chat_id, chat.user_id, "member")


# -- running it --------------------------------------------------------------------------------------


class Replies:
    """Reads the fake's call log as it grows: a chat's reply is done when a message other than "Adding…"
    is sent, or "Adding…" is edited into its result. A chat's updates are handled one at a time, in
    order, each with one reply (an answer here is one message), so its replies come in the order sent."""

    def __init__(self, chats: Sequence[Chat]) -> None:
        self.by_id = {chat.chat_id: chat for chat in chats}
        self.seen = 0

    def update(self, fake: FakeTelegram) -> None:
        log = fake.call_log
        for record in log[self.seen :]:
            if not record.ok or record.method not in ("sendMessage", "editMessageText"):
                continue
            chat = self.by_id.get(int(record.params.get("chat_id", 0)))
            text = str(record.params.get("text", ""))
            if chat is None or (record.method == "sendMessage" and text == ADDING):
                continue
            chat.replies.append((text, record.time))
        self.seen = len(log)


async def drive(fake: FakeTelegram, chats: Sequence[Chat], timeout: float) -> float:
    """Send each chat's bursts as its replies come; returns the seconds from the first message to the
    last reply (or to the timeout)."""
    replies = Replies(chats)
    start = time.time()
    last = start
    while time.time() - start < timeout:
        replies.update(fake)
        now = time.time()
        for chat in chats:
            if chat.bursts and not chat.waiting and now - start >= chat.start_at:
                for message in chat.bursts.pop(0):
                    fake.user_says(chat.chat_id, chat.user_id, message.text)
                    chat.sent.append((message, time.time()))
        if all(chat.finished for chat in chats):
            last = max(t for chat in chats for _, t in chat.replies)
            break
        await asyncio.sleep(POLL_S)
    else:
        last = time.time()
    return last - start


class ErrorLog(logging.Handler):
    """Counts what the bot and PTB log at ERROR, keeping the first few lines."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


def make_engine(kind: str, settings: Settings) -> EngineLike:
    if kind == "fake":
        from tests.fake_engine import FakeEngine

        return FakeEngine(settings)
    from verbatim.bot.engine import Engine

    return Engine(settings)


def settings_for(fake: FakeTelegram, data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        telegram_token=fake.token,
        telegram_base_url=fake.base_url,
        telegram_base_file_url=fake.base_file_url,
        # Telegram's limits (30 messages/s, 20 a minute a group) would make this a test of the limiter.
        rate_limit_overall_per_s=1_000_000,
        rate_limit_group_per_min=1_000_000,
        adds_per_user_per_hour=0,
    )


async def run_bot(
    fake: FakeTelegram,
    engine: EngineLike,
    chats: Sequence[Chat],
    timeout: float,
    finish: Callable[[float], list[str]],
) -> list[str]:
    """Run the chats against the bot, then `finish(seconds the run took)` while the bot still runs:
    after a timeout, stopping it waits for the work in flight, and the figures should not."""
    app = build_application(engine.settings, engine)
    async with running(app, engine.settings, poll_timeout=1):
        wall = await drive(fake, chats, timeout)
        found = finish(wall)
        sys.stdout.flush()
        return found


# -- what came of it ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    add_times: list[float] = field(default_factory=list)
    ask_times: list[float] = field(default_factory=list)
    answered: int = 0
    bad_replies: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)


def outcome_of(chats: Sequence[Chat]) -> Outcome:
    out = Outcome()
    for chat in chats:
        if not chat.finished:
            left = len(chat.sent) - len(chat.replies) + sum(len(burst) for burst in chat.bursts)
            out.unfinished.append(f"chat {chat.chat_id}: {left} messages unanswered or not sent")
        if len(chat.replies) > len(chat.sent):  # a reply in parts: the pairing below would be off
            out.bad_replies.append(f"chat {chat.chat_id}: {len(chat.replies)} replies to {len(chat.sent)}")
        for (message, sent), (reply, done) in zip(chat.sent, chat.replies, strict=False):
            if message.kind == "add":
                out.add_times.append(done - sent)
                if not reply.startswith("Added “"):
                    out.bad_replies.append(f"chat {chat.chat_id}, add: {reply[:120]}")
                continue
            out.ask_times.append(done - sent)
            if reply == SORRY:
                out.bad_replies.append(f"chat {chat.chat_id}, question: {reply}")
            elif "<blockquote>" in reply:
                out.answered += 1
    return out


def collection_problems(engine: EngineLike, chats: Sequence[Chat]) -> list[str]:
    """Each chat's collection holds exactly the articles it added: none lost, none twice, none foreign.
    Chats that did not finish are left out (they are errors already: their adds may be in flight)."""
    problems = []
    for chat in chats:
        if not chat.finished:
            continue
        held = Counter(a.title for a in engine.list_articles(collection_for(chat.chat_id)))
        wanted = Counter(chat.titles)
        lost = sorted((wanted - held).elements())
        extra = sorted((held - wanted).elements())
        if lost or extra:
            problems.append(f"chat {chat.chat_id}: lost {lost}, doubled or foreign {extra}")
    return problems


def percentiles(values: list[float]) -> str:
    if not values:
        return "     -        -        -"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:6.0f}   {p95 * 1000:6.0f}   {ordered[-1] * 1000:6.0f}"


def report(
    args: argparse.Namespace,
    chats: Sequence[Chat],
    timing: tuple[float, float],
    errors: ErrorLog,
    fake: FakeTelegram,
    problems: list[str],
) -> list[str]:
    """Print the figures; `timing` is (seconds to ready the engine, seconds of the run) and `problems`
    the collections' (see collection_problems). Returns every error found: an empty list, all well."""
    load_s, wall = timing
    out = outcome_of(chats)
    groups = sum(chat.group for chat in chats)
    print(
        f"\nLoad: {len(chats)} chats ({len(chats) - groups} private, {groups} groups) x"
        f" {args.articles} adds + {args.questions} questions, {MESSAGES_AT_ONCE} messages at a time;"
        f" engine {args.engine}"
        f" (ready in {load_s:.1f} s); {machine()}"
    )
    print(f"  {wall:.1f} s from the first message to the last reply")
    print(
        f"  answers: {len(out.ask_times)} ({len(out.ask_times) / wall:.1f}/s); adds: {len(out.add_times)}"
        f" ({len(out.add_times) / wall:.1f}/s); questions answered with a quote: {out.answered}"
    )
    print("  time to reply, ms   p50      p95      max")
    print(f"    questions       {percentiles(out.ask_times)}")
    print(f"    adds            {percentiles(out.add_times)}")
    print(f"    all             {percentiles(out.ask_times + out.add_times)}")
    api_errors = [str(e) for e in fake.errors]
    found = {
        "Bot API error answers": api_errors,
        "errors logged": errors.lines,
        "bad replies": out.bad_replies,
        "unfinished chats": out.unfinished,
        "collections not exactly their own": problems,
    }
    total = sum(len(v) for v in found.values())
    print(f"  errors: {total} (" + ", ".join(f"{k} {len(v)}" for k, v in found.items()) + ")")
    for kind, lines in found.items():
        for line in lines[:3]:
            print(f"    {kind}: {line[:300]}")
    finished = [chat for chat in chats if chat.finished]
    adds = sum(len(chat.titles) for chat in finished)
    if not problems:
        print(
            f"  collections: {len(finished)} checked, each holds exactly its own articles ({adds} adds; none"
            " lost, doubled or foreign)"
        )
    return [line for lines in found.values() for line in lines]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--engine", choices=["fake", "real"], default="real")
    parser.add_argument("--articles", type=int, default=3, help="articles each chat adds")
    parser.add_argument("--questions", type=int, default=3, help="questions each chat asks")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds before unfinished chats count as errors"
    )
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)

    items = squad_items() if SQUAD.is_dir() else generated_items(args.chats * args.articles)
    with tempfile.TemporaryDirectory(prefix="verbatim-load-") as tmp, FakeTelegram() as fake:
        rng = random.Random(args.seed)
        chats = build_chats(args.chats, args.articles, args.questions, items, fake.username, rng)
        register(fake, chats)
        began = time.perf_counter()
        engine = make_engine(args.engine, settings_for(fake, Path(tmp) / "data"))
        engine.warm_up()  # before the clock: the first answers should not wait for the models
        load_s = time.perf_counter() - began

        def finish(wall: float) -> list[str]:
            problems = collection_problems(engine, chats)
            return report(args, chats, (load_s, wall), errors, fake, problems)

        found = asyncio.run(run_bot(fake, engine, chats, args.timeout, finish))
        close = getattr(engine, "close", None)  # the fake engine holds nothing to close
        if close is not None:
            close()
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
