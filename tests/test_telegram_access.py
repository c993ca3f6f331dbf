"""bot.telegram.access and bot.telegram.posts: which group messages are for the bot, what a message adds."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from telegram import Chat, Message, MessageEntity, MessageOriginChannel, MessageOriginUser, User
from verbatim.bot.telegram.access import addressed_question, collection_for, is_anonymous_admin, strip_mention
from verbatim.bot.telegram.posts import command_rest, post_draft, sole_link
from verbatim.index.errors import InputError

BOT = User(1, "Verbatim", is_bot=True, username="VerbatimTestBot")
ADA = User(42, "Ada", is_bot=False)
GROUP = Chat(-100123, Chat.SUPERGROUP, title="Newsroom")
NOW = datetime(2024, 3, 27, 9, 30, tzinfo=UTC)


def message(text: str, *, chat: Chat = GROUP, sender: User = ADA, **kwargs: object) -> Message:
    return Message(1, NOW, chat, from_user=sender, text=text, **kwargs)  # type: ignore[arg-type]


def mention_entity(text: str, name: str) -> MessageEntity:
    return MessageEntity(MessageEntity.MENTION, text.index(name), len(name))


def test_collections_are_per_chat() -> None:
    assert collection_for(-100123) == "tg:-100123" != collection_for(42)


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("@VerbatimTestBot why?", "why?"),
        ("@verbatimtestbot, why was it cancelled?", "why was it cancelled?"),
        ("So, why was it cancelled @VERBATIMTESTBOT", "So, why was it cancelled"),
        ("@VerbatimTestBotX why?", "@VerbatimTestBotX why?"),
    ],
)
def test_strip_mention(text: str, question: str) -> None:
    assert strip_mention(text, "VerbatimTestBot") == question


def test_group_messages_are_for_the_bot_only_when_addressed() -> None:
    def ask(m: Message) -> str | None:
        return addressed_question(m, bot_id=BOT.id, username="VerbatimTestBot")

    assert ask(message("why was it cancelled?")) is None
    text = "@ada why was it cancelled?"
    assert ask(message(text, entities=[mention_entity(text, "@ada")])) is None
    text = "@verbatimtestbot why was it cancelled?"
    assert ask(message(text, entities=[mention_entity(text, "@verbatimtestbot")])) == "why was it cancelled?"
    answer = message("An answer.", sender=BOT)
    assert ask(message("and why?", reply_to_message=answer)) == "and why?"
    other = message("Someone else.", sender=User(7, "Cleo", is_bot=False))
    assert ask(message("and why?", reply_to_message=other)) is None


def test_anonymous_admins_post_as_the_group() -> None:
    anonymous = User(1087968824, "Group", is_bot=True, username="GroupAnonymousBot")
    assert is_anonymous_admin(message("/delete 1", sender=anonymous, sender_chat=GROUP))
    channel = Chat(-100999, Chat.CHANNEL, title="Linked channel")
    assert not is_anonymous_admin(message("/delete 1", sender=anonymous, sender_chat=channel))
    assert not is_anonymous_admin(message("/delete 1"))


def test_command_rest_keeps_the_paragraphs() -> None:
    assert command_rest("/add@VerbatimTestBot Title\n\nFirst paragraph.\n\nSecond.") == (
        "Title\n\nFirst paragraph.\n\nSecond."
    )
    assert command_rest("/add\nTitle\n\nBody.") == "Title\n\nBody."
    assert command_rest("/ask") == "" and command_rest(None) == ""


def test_sole_link() -> None:
    assert sole_link(message(" https://example.org/a?b=1 ")) == "https://example.org/a?b=1"
    bare = "example.org/news/1"
    assert sole_link(message(bare, entities=[MessageEntity(MessageEntity.URL, 0, len(bare))])) == (
        "https://example.org/news/1"
    )
    assert sole_link(message("see https://example.org/a")) is None
    assert sole_link(message("example.org/news/1")) is None  # Telegram saw no link in it


def test_forwarded_posts_become_articles() -> None:
    channel = Chat(-100555, Chat.CHANNEL, title="Porthaven Gazette", username="porthaven")
    post = "North pier closes\n\nThe harbour authority closed the pier. Repairs take two years."
    origin = MessageOriginChannel(datetime(2024, 3, 5, 8, 0, tzinfo=UTC), channel, 77)
    draft = post_draft(message(post, forward_origin=origin), max_chars=10_000)
    assert draft.title == "Porthaven Gazette: North pier closes"
    assert draft.url == "https://t.me/porthaven/77" and draft.published == date(2024, 3, 5)
    assert draft.source == "telegram" and draft.text == post
    private = Chat(-100556, Chat.CHANNEL, title="Closed club")
    closed = MessageOriginChannel(NOW, private, 5)
    assert post_draft(message(post, forward_origin=closed), max_chars=10_000).url is None
    from_user = post_draft(message(post, forward_origin=MessageOriginUser(NOW, ADA)), max_chars=10_000)
    assert from_user.title == "North pier closes" and from_user.url is None
    with pytest.raises(InputError):
        post_draft(message("   ", forward_origin=origin), max_chars=10_000)
