"""The bot's handlers end to end, fast: the real Application over HTTP against the strict fake Bot API,
with `tests.fake_engine.FakeEngine` in place of the model.

What users see is checked here, and, through `FakeEngine.calls`, what the handlers asked of the engine
(or did not: a group message not meant for the bot must not even reach it). How well questions are
answered is the real engine's business: tests/test_telegram_bot.py (slow) runs the bot on the model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from pydantic import SecretStr
from telegram.ext import Application
from verbatim.bot import wording
from verbatim.bot.answering import MAX_QUESTION_CHARS
from verbatim.bot.engine import QuoteRef
from verbatim.bot.settings import Settings
from verbatim.bot.sources import LinkSource, TextSource
from verbatim.bot.telegram.access import collection_for
from verbatim.bot.telegram.app import build_application
from verbatim.bot.telegram.render import ADDING, PRIVATE_ADD_HINT, SORRY, TITLE_LIMIT
from verbatim.bot.telegram.serve import running
from verbatim.index.models import Article, ArticleDraft
from verbatim.index.segment import split_sentences

from tests.fake_engine import LINKED_TITLE, FakeEngine
from tests.fake_telegram import BotMessage, FakeTelegram, FakeTelegramTimeout

USER = 42
OTHER = 43
ADMIN = 7
GROUP = -1001234567890

TITLE = "Harbour bridge closes for repairs"
BEFORE = "The city council closed the harbour bridge on Monday."
CRACKS = "Engineers found cracks in two steel cables."
AFTER = "Repairs are expected to take six weeks."
ARTICLE = f"{TITLE}\n{BEFORE} {CRACKS} {AFTER}\nFerries will run every ten minutes while the bridge is shut."
# The fake engine quotes the first sentence holding the question's longest word: "engineers".
QUESTION = "What did the engineers find?"


# -- harness --------------------------------------------------------------------------------------------


@dataclass
class Bot:
    """The running bot as a test sees it: the fake server and the engine the handlers call."""

    fake: FakeTelegram
    engine: FakeEngine

    def seed(self, chat_id: int, text: str = ARTICLE, title: str = TITLE) -> Article:
        return self.engine.add(collection_for(chat_id), ArticleDraft(text=text, title=title)).article

    async def reply(self, chat_id: int, timeout: float = 5) -> BotMessage:
        """The next bot message in the chat; an "Adding…" once it shows its result."""
        [message] = await self.fake.async_wait_for_bot_messages(chat_id, timeout=timeout)
        if message.text == ADDING:
            await self.fake.async_wait_until(
                lambda: self.fake.bot_message(chat_id, message.message_id).edited,
                timeout=timeout,
                what="the result of adding",
            )
        return self.fake.bot_message(chat_id, message.message_id)

    async def silence(self, chat_id: int, seconds: float = 0.2) -> None:
        """Nothing more is said in the chat for `seconds`."""
        with pytest.raises(FakeTelegramTimeout):
            await self.fake.async_wait_for_bot_messages(chat_id, timeout=seconds)


Scenario = Callable[[Bot], Awaitable[None]]

fake_server = FakeTelegram.fixture("fake_server")


@pytest.fixture
def fake(fake_server: FakeTelegram) -> FakeTelegram:
    """The fake Bot API with a few users and a group (teardown fails on unexpected error answers)."""
    fake_server.add_user(USER, "Ada", "ada")
    fake_server.add_user(OTHER, "Bob", "bob")
    fake_server.add_user(ADMIN, "Cleo", "cleo")
    fake_server.add_chat(GROUP, "supergroup", "Newsroom")
    return fake_server


@pytest.fixture
def engine(fake: FakeTelegram) -> FakeEngine:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_token=SecretStr(fake.token),
        telegram_base_url=fake.base_url,
        telegram_base_file_url=fake.base_file_url,
        # Tests talk faster than Telegram allows; the limiter is exercised, just not binding.
        rate_limit_overall_per_s=1000,
        rate_limit_group_per_min=10_000,
    )
    return FakeEngine(settings)


def play(fake: FakeTelegram, engine: FakeEngine, scenario: Scenario) -> None:
    async def main() -> None:
        app: Application = build_application(engine.settings, engine)  # type: ignore[type-arg]
        async with running(app, engine.settings, poll_timeout=1):
            await scenario(Bot(fake, engine))

    asyncio.run(main())


def quoted(message: BotMessage) -> list[str]:
    return message.entity_texts("blockquote")


# -- private chats --------------------------------------------------------------------------------------


def test_a_question_is_answered_with_the_quote_and_its_sources_button(
    fake: FakeTelegram, engine: FakeEngine
) -> None:
    async def scenario(bot: Bot) -> None:
        article = bot.seed(USER)
        fake.user_says(USER, USER, QUESTION)
        answer = await bot.reply(USER)
        assert quoted(answer) == [f"{CRACKS} [1]"]
        assert f"[1] {TITLE} · sentence 3 of 5" in (answer.text or "")
        assert answer.parse_mode == "HTML" and answer.reply_to is None
        [data] = answer.callback_data
        assert data.startswith("src:")

        query = fake.press_button(USER, USER, answer.message_id, text="Sources")
        context = await bot.reply(USER)
        assert fake.callback_answer(query) is not None
        assert context.reply_to == answer.message_id
        assert context.text == f"{TITLE} · sentence 3 of 5\n{BEFORE} {CRACKS} {AFTER}"
        assert context.entity_texts("bold") == [TITLE, CRACKS]
        fake.user_says(USER, USER, "/sources")
        assert (await bot.reply(USER)).text == context.text

        [cracks] = [s for s in engine.sentences[article.id] if s.text == CRACKS]
        assert engine.called("ask") == [(collection_for(USER), QUESTION)]
        assert engine.called("context") == [(collection_for(USER), (QuoteRef(cracks.id),))] * 2

    play(fake, engine, scenario)


def test_refusals_say_why_and_offer_no_button(fake: FakeTelegram, engine: FakeEngine) -> None:
    async def scenario(bot: Bot) -> None:
        fake.user_says(USER, USER, QUESTION)
        empty = await bot.reply(USER)
        assert empty.text == f"{wording.EMPTY_COLLECTION}\n{PRIVATE_ADD_HINT}"
        assert not empty.callback_data
        bot.seed(USER)
        fake.user_says(USER, USER, "Who won the football?")
        no_match = await bot.reply(USER)
        assert (no_match.text or "").startswith(wording.NO_ANSWER) and not no_match.callback_data
        fake.user_says(USER, USER, "/sources")  # nothing was answered: nothing to show
        assert (await bot.reply(USER)).text == (
            "Ask a question first: /sources shows the sentences around its quotes."
        )
        assert [question for _, question in engine.called("ask")] == [QUESTION, "Who won the football?"]
        assert engine.called("context") == []

    play(fake, engine, scenario)


def test_a_link_is_added_with_adding_shown_first_and_a_broken_one_says_why(
    fake: FakeTelegram, engine: FakeEngine
) -> None:
    url = "https://example.org/news/north-pier"
    broken = "https://example.org/broken-page"

    async def scenario(bot: Bot) -> None:
        fake.user_says(USER, USER, url)
        added = await bot.reply(USER)
        assert [e["text"] for e in added.edits] == [ADDING]  # said at once, then replaced by the result
        assert added.text == f"Added “{LINKED_TITLE}” (4 sentences)."

        fake.user_says(USER, USER, broken)
        failed = await bot.reply(USER)
        assert [e["text"] for e in failed.edits] == [ADDING]
        assert failed.text == f"Could not fetch {broken}: the page is broken. Check the link."
        await bot.silence(USER, 0.1)

        assert engine.called("draft_async") == [(LinkSource(url),), (LinkSource(broken),)]
        [(collection, draft)] = engine.called("add")
        assert collection == collection_for(USER) and draft.url == url
        assert engine.called("ask") == []

    play(fake, engine, scenario)


def test_a_long_pasted_text_is_added_not_asked(fake: FakeTelegram, engine: FakeEngine) -> None:
    text = ARTICLE + "\n" + "The ferry timetable is posted at the quay. " * 25
    assert len(text) > MAX_QUESTION_CHARS
    question = QUESTION + "?" * (MAX_QUESTION_CHARS - len(QUESTION))  # as long as a question may be

    async def scenario(bot: Bot) -> None:
        fake.user_says(USER, USER, text)
        added = await bot.reply(USER)
        assert added.text == f"Added “{TITLE}” ({len(split_sentences(text))} sentences)."
        assert engine.called("draft_async") == [(TextSource(text, "telegram"),)]
        assert engine.called("ask") == []
        fake.user_says(USER, USER, question)
        assert quoted(await bot.reply(USER)) == [f"{CRACKS} [1]"]
        assert engine.called("ask") == [(collection_for(USER), question)]

    play(fake, engine, scenario)


def test_the_list_is_numbered_and_long_titles_are_shortened(fake: FakeTelegram, engine: FakeEngine) -> None:
    long_title = "A very long title about the harbour " * 20

    async def scenario(bot: Bot) -> None:
        fake.user_says(USER, USER, "/list")
        assert (await bot.reply(USER)).text == f"{wording.EMPTY_COLLECTION}\n{PRIVATE_ADD_HINT}"
        first = bot.seed(USER)
        bot.seed(USER, "Short note. It says little.", "Note")
        bot.seed(USER, "Another note. It is about the harbour.", long_title)
        fake.user_says(USER, USER, "/list")
        lines = ((await bot.reply(USER)).text or "").split("\n")
        assert lines[0] == f"1. {TITLE} — 5 sentences, added {first.added_at:%Y-%m-%d} [id {first.id}]"
        assert [line.split(" — ")[0] for line in lines[:2]] == [f"1. {TITLE}", "2. Note"]
        shown = lines[2].removeprefix("3. ").split(" — ")[0]
        assert shown.endswith("…") and len(shown) <= TITLE_LIMIT and long_title.startswith(shown[:-1])
        assert engine.called("list_articles") == [(collection_for(USER),)] * 2

    play(fake, engine, scenario)


def test_an_unknown_command_is_named_and_the_engine_is_not_called(
    fake: FakeTelegram, engine: FakeEngine
) -> None:
    async def scenario(bot: Bot) -> None:
        fake.user_says(USER, USER, "/frobnicate now")
        assert (await bot.reply(USER)).text == "I don't know /frobnicate. /help lists the commands."
        assert {name for name, _ in engine.calls} <= {"warm_up"}

    play(fake, engine, scenario)


# -- groups ---------------------------------------------------------------------------------------------


def test_a_group_is_answered_only_when_it_calls_the_bot(fake: FakeTelegram, engine: FakeEngine) -> None:
    async def scenario(bot: Bot) -> None:
        bot.seed(GROUP)
        fake.user_says(GROUP, USER, QUESTION)
        fake.user_says(GROUP, USER, "https://example.org/some/article")
        fake.user_says(GROUP, USER, "x" * (MAX_QUESTION_CHARS + 1))  # not added either
        fake.user_sends_document(GROUP, USER, ARTICLE.encode(), "a.txt", "text/plain")
        fake.user_says(GROUP, USER, f"/ask@OtherBot {QUESTION}")
        fake.user_says(GROUP, USER, "@ada what did the engineers find?")
        await bot.silence(GROUP)
        assert not [c for c in fake.calls() if c.get("chat_id") == GROUP]
        assert {name for name, _ in engine.calls} <= {"warm_up", "add"}

        asked = fake.user_says(GROUP, USER, f"/ask {QUESTION}")
        answer = await bot.reply(GROUP)
        assert answer.reply_to == asked["message_id"] and quoted(answer) == [f"{CRACKS} [1]"]
        mention = fake.user_says(GROUP, OTHER, "@VerbatimTestBot, who found the cracks?")
        assert (await bot.reply(GROUP)).reply_to == mention["message_id"]
        follow_up = fake.user_says(GROUP, OTHER, "And the engineers?", reply_to=answer.message_id)
        assert (await bot.reply(GROUP)).reply_to == follow_up["message_id"]
        fake.user_says(GROUP, USER, "/ask")
        assert (await bot.reply(GROUP)).text == "Ask like this: /ask Why was the delegation cancelled?"

        await bot.silence(GROUP)
        assert len(fake.bot_messages(GROUP)) == 4
        group = collection_for(GROUP)
        assert engine.called("ask") == [
            (group, QUESTION),
            (group, "who found the cracks?"),
            (group, "And the engineers?"),
        ]

    play(fake, engine, scenario)


def test_only_admins_delete_in_groups(fake: FakeTelegram, engine: FakeEngine) -> None:
    fake.set_admins(GROUP, [ADMIN])

    async def scenario(bot: Bot) -> None:
        bot.seed(GROUP)
        bot.seed(GROUP, "Short note. It says little.", "Note")
        fake.user_says(GROUP, USER, "/delete 1")
        refused = await bot.reply(GROUP)
        assert refused.text == "Only the group's admins can delete articles."
        assert engine.called("delete") == []

        asked = fake.user_says(GROUP, ADMIN, "/delete 1")
        deleted = await bot.reply(GROUP)
        assert deleted.text == f"Deleted “{TITLE}”." and deleted.reply_to == asked["message_id"]
        fake.user_says(GROUP, ADMIN, "/delete 5")
        assert (await bot.reply(GROUP)).text == (
            "There is no article number 5; the collection holds 1. See the list."
        )
        fake.user_says(GROUP, ADMIN, "/delete")
        assert (await bot.reply(GROUP)).text == wording.WHICH_ONE

        assert engine.called("delete") == [(collection_for(GROUP), "1"), (collection_for(GROUP), "5")]
        assert [a.title for a in engine.list_articles(collection_for(GROUP))] == ["Note"]
        assert {c["user_id"] for c in fake.calls("getChatMember")} == {USER, ADMIN}

    play(fake, engine, scenario)


# -- failures -------------------------------------------------------------------------------------------


def test_an_unexpected_engine_failure_is_logged_and_the_user_told(
    fake: FakeTelegram, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(bot: Bot) -> None:
        bot.seed(USER)
        fake.user_says(USER, USER, QUESTION)
        answer = await bot.reply(USER)

        engine.failures["ask"] = RuntimeError("the index is on fire")
        fake.user_says(USER, USER, QUESTION)
        assert (await bot.reply(USER)).text == SORRY

        engine.failures["add"] = RuntimeError("the disk is full")
        fake.user_says(USER, USER, "/add A new note. It will not be stored.")
        failed = await bot.reply(USER)
        assert failed.text == SORRY and [e["text"] for e in failed.edits] == [ADDING]  # replaced, once

        engine.failures["context"] = RuntimeError("the sentences are gone")
        query = fake.press_button(USER, USER, answer.message_id, text="Sources")
        await fake.async_wait_until(lambda: fake.callback_answer(query), what="the button's answer")
        assert (fake.callback_answer(query) or {}).get("text") == SORRY

        engine.failures.clear()
        fake.user_says(USER, USER, QUESTION)
        assert quoted(await bot.reply(USER)) == [f"{CRACKS} [1]"]  # the bot carries on
        await bot.silence(USER)
        assert len(fake.bot_messages(USER)) == 4

    with caplog.at_level(logging.INFO, logger="verbatim.bot.telegram"):
        play(fake, engine, scenario)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [str(r.exc_info[1]) for r in errors if r.exc_info] == [
        "the index is on fire",
        "the disk is full",
        "the sentences are gone",
    ]
