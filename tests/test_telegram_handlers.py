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
from typing import Any

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
from verbatim.bot.telegram.handlers import NOT_ALLOWED, SEND_TEXT, AddLimit, ChatTurns
from verbatim.bot.telegram.render import ADDING, PRIVATE_ADD_HINT, SORRY, TITLE_LIMIT
from verbatim.bot.telegram.serve import running
from verbatim.index.models import Article, ArticleDraft
from verbatim.index.segment import split_sentences

from tests.fake_engine import LINKED_TITLE, FakeEngine
from tests.fake_telegram import BotMessage, FakeTelegram, FakeTelegramTimeout
from tests.telegram_cast import ADMIN, GROUP, OTHER, USER

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


def test_only_admins_delete_in_groups_and_only_after_confirming(
    fake: FakeTelegram, engine: FakeEngine
) -> None:
    fake.set_admins(GROUP, [ADMIN])

    async def scenario(bot: Bot) -> None:
        first = bot.seed(GROUP)
        bot.seed(GROUP, "Short note. It says little.", "Note")
        fake.user_says(GROUP, USER, "/delete 1")
        refused = await bot.reply(GROUP)
        assert refused.text == "Only the group's admins can delete articles."

        asked = fake.user_says(GROUP, ADMIN, "/delete 1")
        confirm = await bot.reply(GROUP)
        assert confirm.text == f"Delete “{TITLE}”?" and confirm.reply_to == asked["message_id"]
        assert confirm.callback_data == [f"del:{first.id}", "del-keep"]
        member = fake.press_button(GROUP, USER, confirm.message_id, text="Delete")
        await fake.async_wait_until(lambda: fake.callback_answer(member), what="the refusal")
        assert (fake.callback_answer(member) or {}).get(
            "text"
        ) == "Only the group's admins can delete articles."
        assert engine.called("delete") == []

        fake.press_button(GROUP, ADMIN, confirm.message_id, text="Delete")
        await edited_to(bot, GROUP, confirm.message_id, f"Deleted “{TITLE}”.")
        assert not fake.bot_message(GROUP, confirm.message_id).buttons
        fake.user_says(GROUP, ADMIN, "/delete 5")
        assert (await bot.reply(GROUP)).text == (
            "There is no article number 5; the collection holds 1. See the list."
        )
        fake.user_says(GROUP, ADMIN, "/delete")
        assert (await bot.reply(GROUP)).text == wording.WHICH_ONE

        assert engine.called("delete") == [(collection_for(GROUP), f"id:{first.id}")]
        assert [a.title for a in engine.list_articles(collection_for(GROUP))] == ["Note"]
        assert {c["user_id"] for c in fake.calls("getChatMember")} == {USER, ADMIN}

    play(fake, engine, scenario)


async def edited_to(bot: Bot, chat_id: int, message_id: int, text: str) -> BotMessage:
    """Wait until the bot's message reads `text`."""
    await bot.fake.async_wait_until(
        lambda: bot.fake.bot_message(chat_id, message_id).text == text, what=f"the message to read {text!r}"
    )
    return bot.fake.bot_message(chat_id, message_id)


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


# -- deleting the right article -------------------------------------------------------------------------


def test_delete_numbers_count_in_the_list_the_chat_was_shown(fake: FakeTelegram, engine: FakeEngine) -> None:
    async def scenario(bot: Bot) -> None:
        first = bot.seed(USER)
        bot.seed(USER, "Short note. It says little.", "Note")
        bot.seed(USER, "Another note. It is about the harbour.", "Harbour note")
        fake.user_says(USER, USER, "/list")
        await bot.reply(USER)
        engine.delete(collection_for(USER), f"id:{first.id}")  # from elsewhere: the numbers shift
        bot.seed(USER, "A late note. Added after the list.", "Late note")

        fake.user_says(USER, USER, "/delete 2")  # the second of the list shown: still "Note"
        confirm = await bot.reply(USER)
        assert confirm.text == "Delete “Note”?"
        fake.user_says(USER, USER, "/delete 1")
        assert (await bot.reply(USER)).text == (
            "Article 1 of the last list is already deleted. Send /list to see the articles now."
        )
        fake.user_says(USER, USER, "/delete 4")
        assert (await bot.reply(USER)).text == (
            "There is no article number 4 in the last list; it had 3. Send /list to see the articles now."
        )
        fake.press_button(USER, USER, confirm.message_id, text="Delete")
        await edited_to(bot, USER, confirm.message_id, "Deleted “Note”.")

        fake.user_says(USER, USER, "/list")
        assert [line.split(" — ")[0] for line in ((await bot.reply(USER)).text or "").split("\n")] == [
            "1. Harbour note",
            "2. Late note",
        ]
        fake.user_says(USER, USER, "/delete 2")
        keep = await bot.reply(USER)
        assert keep.text == "Delete “Late note”?"
        fake.press_button(USER, USER, keep.message_id, text="Cancel")
        await edited_to(bot, USER, keep.message_id, "Not deleted.")
        assert len(engine.list_articles(collection_for(USER))) == 2
        late = engine.list_articles(collection_for(USER))[1]
        fake.user_says(USER, USER, f"/delete id:{late.id}")  # by id, as the list shows it
        assert (await bot.reply(USER)).text == "Delete “Late note”?"
        fake.user_says(USER, USER, "/delete id:nosuch")
        assert (await bot.reply(USER)).text == (
            "No article with the id 'nosuch' in this chat. See the list for ids and numbers."
        )

    play(fake, engine, scenario)


def test_two_confirmations_delete_one_article(fake: FakeTelegram, engine: FakeEngine) -> None:
    fake.set_admins(GROUP, [ADMIN, OTHER])
    long_id = "jsonl-import-" + "x" * 70  # too long for a button's 64 bytes: the button holds its hash

    async def scenario(bot: Bot) -> None:
        engine.add(collection_for(GROUP), ArticleDraft(text=ARTICLE, title=TITLE, id=long_id))
        bot.seed(GROUP, "Short note. It says little.", "Note")
        fake.user_says(GROUP, ADMIN, "/delete 1")
        fake.user_says(GROUP, OTHER, "/delete 1")
        mine, theirs = await fake.async_wait_for_bot_messages(GROUP, count=2)
        assert mine.text == theirs.text == f"Delete “{TITLE}”?"
        assert all(len(data.encode()) <= 64 for data in mine.callback_data)
        # Both admins press, and one of them twice, before the bot has answered any.
        presses = [
            fake.press_button(GROUP, ADMIN, mine.message_id, text="Delete"),
            fake.press_button(GROUP, ADMIN, mine.message_id, text="Delete"),
            fake.press_button(GROUP, OTHER, theirs.message_id, text="Delete"),
        ]
        await fake.async_wait_until(lambda: all(fake.callback_answer(q) for q in presses), what="answers")
        answers = [(fake.callback_answer(q) or {}).get("text") for q in presses]
        assert answers == [None, "That article is already deleted.", "That article is already deleted."]
        await edited_to(bot, GROUP, theirs.message_id, f"“{TITLE}” is already deleted.")
        mine = await edited_to(bot, GROUP, mine.message_id, f"“{TITLE}” is already deleted.")
        assert [e["text"] for e in mine.edits][1] == f"Deleted “{TITLE}”."  # by the first press
        assert [a.title for a in engine.list_articles(collection_for(GROUP))] == ["Note"]
        assert len(engine.called("delete")) == 1

    play(fake, engine, scenario)


# -- one chat's updates in order ------------------------------------------------------------------------


def test_a_question_waits_for_the_add_sent_before_it_while_other_chats_go_on(
    fake: FakeTelegram, engine: FakeEngine
) -> None:
    url = "https://example.org/news/north-pier"

    async def scenario(bot: Bot) -> None:
        fetched = asyncio.Event()

        async def slow_fetch(source: object) -> None:
            await fetched.wait()

        engine.before_draft = slow_fetch
        bot.seed(OTHER)
        fake.user_says(USER, USER, url)
        fake.user_says(USER, USER, "How much will the repairs cost?")
        fake.user_says(OTHER, OTHER, QUESTION)
        assert quoted(await bot.reply(OTHER)) == [f"{CRACKS} [1]"]  # not held up by USER's fetch
        [adding] = await fake.async_wait_for_bot_messages(USER)
        assert adding.text == ADDING
        await bot.silence(USER)
        assert engine.called("ask") == [(collection_for(OTHER), QUESTION)]

        fetched.set()
        await edited_to(bot, USER, adding.message_id, f"Added “{LINKED_TITLE}” (4 sentences).")
        answer = await bot.reply(USER)
        assert quoted(answer) == ["Repairs will cost about 4.2 million euros and take two years. [1]"]

    play(fake, engine, scenario)


def test_chat_turns_keep_each_chats_order_and_let_others_run() -> None:
    async def main() -> None:
        turns = ChatTurns()
        log: list[str] = []
        slow = asyncio.Event()

        async def work(name: str, *chats: int, wait: asyncio.Event | None = None) -> None:
            async with turns.of(*chats):
                log.append(f"{name} starts")
                if wait is not None:
                    await wait.wait()
                await asyncio.sleep(0)
                log.append(f"{name} ends")

        tasks = [
            asyncio.create_task(work("add", 1, wait=slow)),
            asyncio.create_task(work("question", 1)),
            asyncio.create_task(work("move", 2, 1)),  # a migration: both chats' turns
            asyncio.create_task(work("other chat", 3)),
        ]
        await asyncio.sleep(0.05)
        assert log == ["add starts", "other chat starts", "other chat ends"]
        slow.set()
        await asyncio.gather(*tasks)
        assert log[3:] == ["add ends", "question starts", "question ends", "move starts", "move ends"]
        assert len(turns) == 0  # nothing kept for chats that are idle

    asyncio.run(main())


# -- groups that become supergroups ---------------------------------------------------------------------

OLD_GROUP = -4001
NEW_GROUP = -1004001


@pytest.mark.parametrize("first", ["to", "from"])
def test_an_upgraded_group_keeps_its_articles_and_an_add_in_flight(
    fake: FakeTelegram, engine: FakeEngine, first: str
) -> None:
    fake.add_chat(OLD_GROUP, "group", "Desk")
    note = "Late note about the ferries\nThe timetable changes overnight from Friday."

    async def scenario(bot: Bot) -> None:
        fetched = asyncio.Event()

        async def slow_draft(source: object) -> None:
            await fetched.wait()

        bot.seed(OLD_GROUP)
        fake.user_says(OLD_GROUP, USER, f"/ask {QUESTION}")
        assert quoted(await bot.reply(OLD_GROUP)) == [f"{CRACKS} [1]"]
        engine.before_draft = slow_draft
        fake.user_says(OLD_GROUP, USER, f"/add {note}")
        [adding] = await fake.async_wait_for_bot_messages(OLD_GROUP)
        fake.user_says(OLD_GROUP, OTHER, "/ask What changes overnight?")  # sent before the upgrade

        fake.expect_error("group chat was upgraded to a supergroup chat")
        fake.upgrade_group(OLD_GROUP, NEW_GROUP, USER, first=first)
        await asyncio.sleep(0.1)
        fetched.set()
        # The add ends in the old group, which no longer exists: its result is said in the new one.
        added, night = await fake.async_wait_for_bot_messages(NEW_GROUP, count=2)
        assert added.text == "Added “Late note about the ferries” (2 sentences)."
        assert quoted(night) == ["The timetable changes overnight from Friday. [1]"]
        assert adding.text == ADDING and not fake.bot_message(OLD_GROUP, adding.message_id).edited

        fake.user_says(NEW_GROUP, USER, f"/ask {QUESTION}")
        assert quoted(await bot.reply(NEW_GROUP)) == [f"{CRACKS} [1]"]
        fake.user_says(NEW_GROUP, USER, "/sources")  # the chat's memory moved too
        assert CRACKS in ((await bot.reply(NEW_GROUP)).text or "")
        assert [a.title for a in engine.list_articles(collection_for(NEW_GROUP))] == [
            TITLE,
            "Late note about the ferries",
        ]
        assert engine.list_articles(collection_for(OLD_GROUP)) == []
        moves = engine.called("move_collection")
        assert moves == [(collection_for(OLD_GROUP), collection_for(NEW_GROUP))] * 2  # the second: a no-op
        await bot.silence(NEW_GROUP)

    play(fake, engine, scenario)


def test_an_upgrade_announced_only_in_the_new_chat_is_enough(fake: FakeTelegram, engine: FakeEngine) -> None:
    fake.add_chat(OLD_GROUP, "group", "Desk")

    async def scenario(bot: Bot) -> None:
        bot.seed(OLD_GROUP)
        fake.upgrade_group(OLD_GROUP, NEW_GROUP, USER, announce=["from"])
        fake.user_says(NEW_GROUP, USER, f"/ask {QUESTION}")
        assert quoted(await bot.reply(NEW_GROUP)) == [f"{CRACKS} [1]"]
        await bot.silence(OLD_GROUP)

    play(fake, engine, scenario)


def test_a_command_that_needs_the_old_group_after_the_upgrade_asks_to_send_it_again(
    fake: FakeTelegram, engine: FakeEngine
) -> None:
    fake.add_chat(OLD_GROUP, "group", "Desk")
    fake.set_admins(OLD_GROUP, [ADMIN])

    async def scenario(bot: Bot) -> None:
        fetched = asyncio.Event()

        async def slow_draft(source: object) -> None:
            await fetched.wait()

        bot.seed(OLD_GROUP)
        engine.before_draft = slow_draft
        fake.user_says(OLD_GROUP, USER, "/add https://example.org/news/north-pier")
        await fake.async_wait_for_bot_messages(OLD_GROUP)
        fake.user_says(OLD_GROUP, ADMIN, "/delete 1")  # its admin check reaches Telegram after the upgrade
        fake.expect_error("group chat was upgraded to a supergroup chat")
        fake.upgrade_group(OLD_GROUP, NEW_GROUP, USER)
        fetched.set()
        added, again = await fake.async_wait_for_bot_messages(NEW_GROUP, count=2)
        assert added.text == f"Added “{LINKED_TITLE}” (4 sentences)."
        assert again.text == "This group has just become a supergroup; please send that again."
        assert engine.called("delete") == []
        fake.user_says(NEW_GROUP, ADMIN, "/delete 2")
        assert (await bot.reply(NEW_GROUP)).text == f"Delete “{LINKED_TITLE}”?"

    play(fake, engine, scenario)


# -- who is served, and how much ------------------------------------------------------------------------


def test_chats_not_allowed_hear_once_and_nothing_is_stored_or_fetched(
    fake: FakeTelegram, engine: FakeEngine
) -> None:
    engine.settings = engine.settings.model_copy(update={"allowed_chats": frozenset({USER})})

    async def scenario(bot: Bot) -> None:
        bot.seed(USER)
        fake.user_says(OTHER, OTHER, QUESTION)
        assert (await bot.reply(OTHER)).text == NOT_ALLOWED
        fake.user_says(OTHER, OTHER, "https://example.org/news/north-pier")
        fake.user_sends_document(OTHER, OTHER, ARTICLE.encode(), "a.txt", "text/plain")
        fake.user_says(GROUP, USER, "just chatting")  # not for the bot: not even the notice
        await bot.silence(GROUP)
        fake.user_says(GROUP, USER, f"/ask {QUESTION}")
        assert (await bot.reply(GROUP)).text == NOT_ALLOWED
        fake.user_says(GROUP, USER, f"/add {ARTICLE}")
        await bot.silence(OTHER)
        await bot.silence(GROUP)
        seeding = [("add", collection_for(USER))]
        assert [(name, args[0]) for name, args in engine.calls if name != "warm_up"] == seeding
        assert not fake.calls("getFile")

        fake.user_says(USER, USER, QUESTION)
        assert quoted(await bot.reply(USER)) == [f"{CRACKS} [1]"]

    play(fake, engine, scenario)


def test_an_allowed_group_stays_allowed_as_a_supergroup(fake: FakeTelegram, engine: FakeEngine) -> None:
    engine.settings = engine.settings.model_copy(update={"allowed_chats": frozenset({OLD_GROUP})})
    fake.add_chat(OLD_GROUP, "group", "Desk")

    async def scenario(bot: Bot) -> None:
        bot.seed(OLD_GROUP)
        fake.upgrade_group(OLD_GROUP, NEW_GROUP, USER, first="from")
        fake.user_says(NEW_GROUP, USER, f"/ask {QUESTION}")
        assert quoted(await bot.reply(NEW_GROUP)) == [f"{CRACKS} [1]"]

    play(fake, engine, scenario)


def test_each_user_adds_a_limited_number_of_articles_an_hour(fake: FakeTelegram, engine: FakeEngine) -> None:
    engine.settings = engine.settings.model_copy(update={"adds_per_user_per_hour": 2})

    async def scenario(bot: Bot) -> None:
        fake.user_says(USER, USER, "https://example.org/broken-page")  # a failed fetch counts too
        await bot.reply(USER)
        fake.user_says(USER, USER, f"/add {ARTICLE}")
        assert (await bot.reply(USER)).text == f"Added “{TITLE}” (5 sentences)."
        fake.user_says(USER, USER, "https://example.org/news/north-pier")
        assert (await bot.reply(USER)).text == (
            "You have added 2 articles in the last hour, the most allowed. Try again in 60 min."
        )
        fake.user_says(OTHER, OTHER, f"/add {ARTICLE}")  # each user has their own allowance
        assert (await bot.reply(OTHER)).text == f"Added “{TITLE}” (5 sentences)."
        fake.user_says(USER, USER, QUESTION)  # questions are not limited
        assert quoted(await bot.reply(USER)) == [f"{CRACKS} [1]"]
        assert len(engine.called("draft_async")) == 3

    play(fake, engine, scenario)


def test_add_limit_frees_up_an_hour_after_each_add() -> None:
    now = [0.0]
    limit = AddLimit(2, clock=lambda: now[0])
    assert limit.take(1) is None
    now[0] = 600.0
    assert limit.take(1) is None
    assert limit.take(1) == 3000.0
    assert limit.take(2) is None  # another user
    now[0] = 3600.0
    assert limit.take(1) is None  # the first add is an hour old
    assert AddLimit(0).take(1) is None


# -- messages that are not plain new text ---------------------------------------------------------------


def test_edited_questions_captions_and_stickers(fake: FakeTelegram, engine: FakeEngine) -> None:
    async def scenario(bot: Bot) -> None:
        bot.seed(USER)
        bot.seed(GROUP)
        asked = fake.user_says(USER, USER, "Who won the football?")
        assert (await bot.reply(USER)).text.startswith(wording.NO_ANSWER)  # type: ignore[union-attr]
        fake.user_edits(USER, asked["message_id"], QUESTION)
        assert quoted(await bot.reply(USER)) == [f"{CRACKS} [1]"]

        fake.user_sends_photo(USER, USER, caption=QUESTION)
        assert quoted(await bot.reply(USER)) == [f"{CRACKS} [1]"]
        fake.user_sends_photo(USER, USER)
        assert (await bot.reply(USER)).text == SEND_TEXT
        fake.user_sends_sticker(USER, USER)
        assert (await bot.reply(USER)).text == SEND_TEXT

        in_group = fake.user_says(GROUP, USER, f"@VerbatimTestBot {QUESTION}")
        await bot.reply(GROUP)
        fake.user_edits(GROUP, in_group["message_id"], "@VerbatimTestBot who found the cracks?")
        fake.user_sends_sticker(GROUP, USER)
        await bot.silence(GROUP)  # groups: edits and stickers are not for the bot
        assert [q for _, q in engine.called("ask")] == ["Who won the football?", QUESTION, QUESTION, QUESTION]

    play(fake, engine, scenario)


# -- inline mode ----------------------------------------------------------------------------------------


def test_inline_questions_are_answered_from_the_askers_own_articles(
    fake: FakeTelegram, engine: FakeEngine
) -> None:
    fake.inline_mode = True

    async def scenario(bot: Bot) -> None:
        bot.seed(USER)
        bot.seed(GROUP)  # a group's articles are never searched inline

        async def inline(user_id: int, query: str) -> dict[str, Any]:
            query_id = fake.user_inline_query(user_id, query)
            await fake.async_wait_until(lambda: fake.inline_answer(query_id), what="the inline answer")
            return fake.inline_answer(query_id) or {}

        answer = await inline(USER, QUESTION)
        assert answer["is_personal"] is True and answer["cache_time"] == 10
        [result] = answer["results"]
        assert (result["type"], result["title"], result["description"]) == ("article", CRACKS, TITLE)
        content = result["input_message_content"]
        assert content["message_text"] == f"{QUESTION}\n{CRACKS} [1]\n[1] {TITLE} · sentence 3 of 5"
        assert [e["type"] for e in content["entities"]] == ["bold", "blockquote", "bold"]

        [none] = (await inline(USER, "Who won the football?"))["results"]
        assert none["title"] == "No answer in your articles"
        assert none["input_message_content"]["message_text"].startswith(
            f"Who won the football?\n{wording.NO_ANSWER}"
        )
        nothing = await inline(OTHER, QUESTION)
        [empty] = nothing["results"]
        assert empty["title"] == wording.EMPTY_COLLECTION
        assert nothing["button"] == {"text": "Add articles in our private chat", "start_parameter": "inline"}
        assert (await inline(USER, "   "))["results"] == []
        assert engine.called("ask") == [
            (collection_for(USER), QUESTION),
            (collection_for(USER), "Who won the football?"),
            (collection_for(OTHER), QUESTION),
        ]

    play(fake, engine, scenario)
