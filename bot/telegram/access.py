"""Who may do what, and which group messages are meant for the bot.

Private chats: everything is addressed to the bot and the user may do anything. Groups: the bot
speaks only when spoken to (a command for it, a mention, a reply to one of its messages); deleting
is for chat administrators; adding is for members unless settings say admins only.
"""

from __future__ import annotations

import logging
import re

from telegram import Bot, Chat, ChatMember, Message, MessageEntity

log = logging.getLogger(__name__)

ADMIN_STATUSES = frozenset({ChatMember.OWNER, ChatMember.ADMINISTRATOR})


def collection_for(chat_id: int) -> str:
    """Every chat has its own collection; nothing is shared between chats."""
    return f"tg:{chat_id}"


def is_group(chat: Chat) -> bool:
    return chat.type in (Chat.GROUP, Chat.SUPERGROUP)


def is_reply_to_bot(message: Message, bot_id: int) -> bool:
    target = message.reply_to_message
    # In a forum every message "replies" to the topic's service message; that is not a reply to us.
    if target is None or target.forum_topic_created is not None:
        return False
    return target.from_user is not None and target.from_user.id == bot_id


def mentions(message: Message, username: str) -> bool:
    wanted = "@" + username.lower()
    return any(text.lower() == wanted for text in message.parse_entities([MessageEntity.MENTION]).values())


def strip_mention(text: str, username: str) -> str:
    """The question without `@BotName` (any case) and the punctuation that led up to it."""
    without = re.sub(rf"(?<!\w)@{re.escape(username)}(?!\w)", " ", text, flags=re.IGNORECASE)
    return " ".join(without.split()).strip(" ,:;-—")


def addressed_question(message: Message, *, bot_id: int, username: str) -> str | None:
    """The question a group message puts to the bot, or None when it is not talking to the bot."""
    if message.is_automatic_forward or not message.text:
        return None
    if is_reply_to_bot(message, bot_id) or mentions(message, username):
        return strip_mention(message.text, username)
    return None


def is_anonymous_admin(message: Message) -> bool:
    """Admins who post "as the group" arrive with the group itself as the sender chat."""
    return message.sender_chat is not None and message.sender_chat.id == message.chat.id


async def is_admin(bot: Bot, message: Message) -> bool:
    """Whether the sender may administer the bot in this chat: anyone in a private chat."""
    if not is_group(message.chat):
        return True
    if is_anonymous_admin(message):
        return True
    if message.sender_chat is not None or message.from_user is None:
        return False  # a channel posting in the group is nobody's admin
    return await is_member_admin(bot, message.chat.id, message.from_user.id)


async def is_member_admin(bot: Bot, chat_id: int, user_id: int) -> bool:
    """Whether the user administers the group (who pressed a button: presses are never anonymous)."""
    member = await bot.get_chat_member(chat_id, user_id)
    return member.status in ADMIN_STATUSES


async def may_add(bot: Bot, message: Message, group_add: str) -> bool:
    if not is_group(message.chat) or group_add == "members":
        return True
    return await is_admin(bot, message)
