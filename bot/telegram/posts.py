"""What a Telegram message holds for adding: the text after a command, a lone link, a forwarded post."""

from __future__ import annotations

import re

from telegram import Message, MessageEntity, MessageOriginChannel
from verbatim.bot.sources import as_link
from verbatim.index.ingest import derive_title, draft_from_text
from verbatim.index.models import ArticleDraft

_COMMAND = re.compile(r"^/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?(?:\s+|$)")
POST_TITLE_LIMIT = 200


def command_rest(text: str | None) -> str:
    """Everything after `/command` or `/command@Bot`, line breaks kept (an article's paragraphs)."""
    if not text:
        return ""
    return _COMMAND.sub("", text.strip(), count=1).strip()


def message_text(message: Message) -> str:
    return message.text or message.caption or ""


def sole_link(message: Message) -> str | None:
    """The link when a message is just a link; Telegram's url entity catches links without a scheme."""
    text = message_text(message).strip()
    if not text:
        return None
    link = as_link(text)
    if link:
        return link
    urls = list(message.parse_entities([MessageEntity.URL]).values()) if message.text else []
    if len(urls) == 1 and urls[0].strip() == text and " " not in text:
        return text if "://" in text else f"https://{text}"
    return None


def channel_post_url(origin: MessageOriginChannel) -> str | None:
    username = origin.chat.username
    return f"https://t.me/{username}/{origin.message_id}" if username else None


def post_draft(message: Message, *, max_chars: int) -> ArticleDraft:
    """A forwarded post as an article: a channel's post is titled with the channel and linked to.

    Raises InputError when the post has no text worth adding.
    """
    text = message_text(message)
    origin = message.forward_origin
    if isinstance(origin, MessageOriginChannel):
        channel = origin.chat.title or origin.chat.username or "Channel"
        title = f"{channel}: {derive_title(text)}" if text.strip() else channel
        draft = draft_from_text(
            text, max_chars=max_chars, title=_cap(title), url=channel_post_url(origin), source="telegram"
        )
        return draft.model_copy(update={"published": origin.date.date()})
    return draft_from_text(text, max_chars=max_chars, source="telegram")


def _cap(title: str) -> str:
    return title if len(title) <= POST_TITLE_LIMIT else title[: POST_TITLE_LIMIT - 1].rstrip() + "…"
