"""The fake Bot API's newer parts, driven by the real python-telegram-bot client: inline queries and
answerInlineQuery's validation, groups upgraded to supergroups, edited messages, photos and stickers."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import telegram
from telegram import InlineQueryResultArticle, InputTextMessageContent
from telegram.error import BadRequest, ChatMigrated

from tests.fake_telegram import FakeTelegram

T = TypeVar("T")
USER = 42
OLD_GROUP = -4001
NEW_GROUP = -1004001

fake = FakeTelegram.fixture("fake", inline_mode=True)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make_bot(server: FakeTelegram) -> telegram.Bot:
    return telegram.Bot(server.token, base_url=server.base_url, base_file_url=server.base_file_url)


def article(result_id: str, text: str = "An answer.", **kwargs: Any) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(result_id, "A title", InputTextMessageContent(text, **kwargs))


async def updates(bot: telegram.Bot, **kwargs: Any) -> tuple[telegram.Update, ...]:
    async with bot:
        return await bot.get_updates(timeout=0, **kwargs)


def test_inline_queries_arrive_and_are_answered_once(fake: FakeTelegram) -> None:
    fake.add_user(USER, "Ada")
    query_id = fake.user_inline_query(USER, "who closed the bridge?")
    bot = make_bot(fake)

    async def scenario() -> None:
        assert (await bot.get_me()).supports_inline_queries
        [update] = await updates(bot, allowed_updates=["message", "inline_query"])
        assert update.inline_query is not None and update.inline_query.query == "who closed the bridge?"
        async with bot:
            await update.inline_query.answer(
                [article("1", "<b>Bold</b> answer", parse_mode="HTML")], cache_time=5, is_personal=True
            )
            fake.expect_error("query is too old")
            with pytest.raises(BadRequest, match=r"(?i)query is too old"):
                await update.inline_query.answer([article("1")])

    run(scenario())
    answer = fake.inline_answer(query_id) or {}
    assert answer["cache_time"] == 5 and answer["is_personal"] is True
    [result] = answer["results"]
    assert result["input_message_content"]["message_text"] == "Bold answer"
    assert result["input_message_content"]["entities"] == [{"type": "bold", "offset": 0, "length": 4}]


def test_inline_queries_are_not_sent_when_not_allowed_or_not_enabled(fake: FakeTelegram) -> None:
    fake.add_user(USER, "Ada")
    fake.user_inline_query(USER, "anything")
    assert run(updates(make_bot(fake), allowed_updates=["message"])) == ()
    fake.inline_mode = False
    with pytest.raises(ValueError, match="inline mode is off"):
        fake.user_inline_query(USER, "anything")


@pytest.mark.parametrize(
    ("results", "error"),
    [
        ([article("x" * 65)], "RESULT_ID_INVALID"),
        ([article("1"), article("1")], "RESULT_ID_DUPLICATE"),
        ([article(str(n)) for n in range(51)], "RESULTS_TOO_MUCH"),
        ([article("1", "x" * 4097)], "message is too long"),
        ([article("1", "<b>unclosed", parse_mode="HTML")], "can't parse entities"),
    ],
)
def test_answer_inline_query_rejects_what_telegram_rejects(
    fake: FakeTelegram, results: list[InlineQueryResultArticle], error: str
) -> None:
    fake.add_user(USER, "Ada")
    query_id = fake.user_inline_query(USER, "q")
    fake.expect_error(error)

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            with pytest.raises(BadRequest, match=f"(?i){error}"):
                await bot.answer_inline_query(query_id, results)

    run(scenario())
    assert fake.inline_answer(query_id) is None


def test_an_upgraded_group_answers_its_old_id_with_the_new_one(fake: FakeTelegram) -> None:
    fake.add_user(USER, "Ada")
    fake.add_chat(OLD_GROUP, "group", "Desk")
    fake.upgrade_group(OLD_GROUP, NEW_GROUP, USER, first="from")
    fake.expect_error("group chat was upgraded to a supergroup chat")

    async def scenario() -> None:
        first, second = await updates(make_bot(fake))
        assert first.message is not None and first.message.migrate_from_chat_id == OLD_GROUP
        assert first.message.chat.id == NEW_GROUP and first.message.chat.type == "supergroup"
        assert second.message is not None and second.message.migrate_to_chat_id == NEW_GROUP
        async with make_bot(fake) as bot:
            with pytest.raises(ChatMigrated) as migrated:
                await bot.send_message(OLD_GROUP, "hello?")
            assert migrated.value.new_chat_id == NEW_GROUP
            await bot.send_message(NEW_GROUP, "hello!")

    run(scenario())
    with pytest.raises(ValueError, match="became the supergroup"):
        fake.user_says(OLD_GROUP, USER, "still here?")


def test_edits_photos_and_stickers_arrive_as_telegram_sends_them(fake: FakeTelegram) -> None:
    fake.add_user(USER, "Ada")
    said = fake.user_says(USER, USER, "who closed the brige?")
    fake.user_edits(USER, said["message_id"], "who closed the bridge?")
    fake.user_sends_photo(USER, USER, caption="what is this?")
    fake.user_sends_sticker(USER, USER)

    async def scenario() -> None:
        _, edited, photo, sticker = await updates(
            make_bot(fake), allowed_updates=["message", "edited_message"]
        )
        assert edited.edited_message is not None and edited.edited_message.text == "who closed the bridge?"
        assert edited.edited_message.message_id == said["message_id"]
        assert photo.message is not None and photo.message.photo and photo.message.caption == "what is this?"
        assert sticker.message is not None and sticker.message.sticker is not None

    run(scenario())
