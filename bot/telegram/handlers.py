"""The bot's handlers: thin glue from Telegram updates to the engine and back.

Everything slow (embedding, searching, adding, parsing files) runs in a worker thread, so one chat's
question never holds up another's (the application runs updates concurrently).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from telegram import Document, Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes
from verbatim.bot import wording
from verbatim.bot.answering import MAX_QUESTION_CHARS
from verbatim.bot.sources import DraftSource, LinkSource, Source, TextSource, UploadSource, as_link
from verbatim.bot.telegram import render
from verbatim.bot.telegram.access import addressed_question, collection_for, is_admin, is_group, may_add
from verbatim.bot.telegram.posts import command_rest, message_text, post_draft, sole_link
from verbatim.index.errors import InputError, VerbatimError
from verbatim.index.ingest import HTML_SUFFIXES, TEXT_SUFFIXES

if TYPE_CHECKING:
    from verbatim.bot.engine import QuoteContext, QuoteRef
    from verbatim.bot.settings import Settings
    from verbatim.index.models import ArticleDraft, ArticleSummary
    from verbatim.index.storage import AddResult
    from verbatim.retrieval.models import Answer

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
# Telegram lets bots download files up to 20 MB.
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
# A chat action shows for about five seconds; renew it a little sooner while work goes on.
TYPING_RENEW_S = 4.5
LAST_SOURCES = "last_sources"


class EngineLike(Protocol):
    """What the bot needs of `bot.engine.Engine` (tests pass a fake that records calls)."""

    settings: Settings

    def warm_up(self) -> None: ...

    def ask(self, collection: str, question: str) -> Answer: ...

    async def draft_async(self, source: Source) -> ArticleDraft: ...

    def add(self, collection: str, source: Source | ArticleDraft) -> AddResult: ...

    def list_articles(self, collection: str) -> list[ArticleSummary]: ...

    def delete(self, collection: str, ref: str) -> ArticleSummary: ...

    def context(self, collection: str, refs: Sequence[QuoteRef]) -> list[QuoteContext]: ...


class ReportedError(Exception):
    """An unexpected failure the user has already been told about; only its traceback is left to log."""


class Handlers:
    def __init__(self, engine: EngineLike) -> None:
        self.engine = engine
        self.settings = engine.settings

    # -- commands ---------------------------------------------------------------------------------------

    async def start(self, update: Update, context: Context) -> None:
        message = _message(update)
        await self._reply(message, render.START_GROUP if is_group(message.chat) else render.START_PRIVATE)

    async def help(self, update: Update, context: Context) -> None:
        message = _message(update)
        await self._reply(message, render.HELP_GROUP if is_group(message.chat) else render.HELP_PRIVATE)

    async def ask(self, update: Update, context: Context) -> None:
        message = _message(update)
        question = command_rest(message.text)
        if not question and message.reply_to_message is not None:
            question = message_text(message.reply_to_message)  # `/ask` as a reply asks that message
        if not question.strip():
            await self._reply(message, "Ask like this: /ask Why was the delegation cancelled?")
            return
        await self._answer(message, context, question)

    async def add(self, update: Update, context: Context) -> None:
        message = _message(update)
        if not await may_add(context.bot, message, self.settings.group_add):
            await self._reply(message, "Only the group's admins can add articles here.")
            return
        rest = command_rest(message.text)
        target = message.reply_to_message
        if message.document is not None:  # a file sent with /add as its caption
            await self._add(message, lambda: self._document_source(_document(message)))
        elif rest:
            await self._add(message, lambda: _ready(_text_or_link(rest)))
        elif target is not None:
            await self._add_message(message, target)
        else:
            await self._reply(
                message, "Send /add followed by a link or the article's text, or reply /add to a message."
            )

    async def list_articles(self, update: Update, context: Context) -> None:
        message = _message(update)
        articles = await asyncio.to_thread(self.engine.list_articles, self._collection(message))
        lines = render.article_list_lines(articles, group=is_group(message.chat))
        await self._reply_parts(message, render.pack(lines))

    async def delete_article(self, update: Update, context: Context) -> None:
        message = _message(update)
        if not await is_admin(context.bot, message):
            await self._reply(message, "Only the group's admins can delete articles.")
            return
        ref = command_rest(message.text)
        if not ref:
            await self._reply(message, wording.WHICH_ONE)
            return
        article = await asyncio.to_thread(self.engine.delete, self._collection(message), ref)
        await self._reply(message, render.deleted_html(article))

    async def sources(self, update: Update, context: Context) -> None:
        message = _message(update)
        refs = (context.chat_data or {}).get(LAST_SOURCES, {}).get(_thread(message))
        if not refs:
            await self._reply(
                message, "Ask a question first: /sources shows the sentences around its quotes."
            )
            return
        contexts = await asyncio.to_thread(self.engine.context, self._collection(message), refs)
        if not contexts:
            await self._reply(message, "The quoted articles have been deleted from this chat since.")
            return
        blocks = render.context_blocks(contexts, missing=len(refs) - len(contexts))
        await self._reply_parts(message, render.pack(blocks, separator="\n\n"))

    async def sources_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None
        refs = render.decode_sources(query.data)
        answered = query.message if isinstance(query.message, Message) else None
        if refs is None or answered is None:
            await query.answer("This button no longer works; ask again.")
            return
        contexts = await asyncio.to_thread(self.engine.context, collection_for(answered.chat.id), refs)
        if not contexts:
            await query.answer("That article has been deleted from this chat since.", show_alert=True)
            return
        blocks = render.context_blocks(contexts, missing=len(refs) - len(contexts))
        await query.answer()
        # The context quotes the answer it explains, in private chats too: there may be several.
        await self._reply_parts(answered, render.pack(blocks, separator="\n\n"), quote=True)

    async def unknown_command(self, update: Update, context: Context) -> None:
        message = _message(update)
        command = (message.text or "").split()[0]
        await self._reply(message, f"I don't know {html.escape(command)}. /help lists the commands.")

    # -- plain messages ---------------------------------------------------------------------------------

    async def private_text(self, update: Update, context: Context) -> None:
        message = _message(update)
        link = sole_link(message)
        text = message.text or ""
        if link:
            await self._add(message, lambda: _ready(LinkSource(link)))
        elif len(text) > MAX_QUESTION_CHARS:
            # Nobody asks a question this long: it is an article pasted in to be added.
            await self._add(message, lambda: _ready(TextSource(text, "telegram")))
        else:
            await self._answer(message, context, text)

    async def private_document(self, update: Update, context: Context) -> None:
        message = _message(update)
        await self._add(message, lambda: self._document_source(_document(message)))

    async def private_forward(self, update: Update, context: Context) -> None:
        message = _message(update)
        await self._add(message, lambda: self._post_source(message))

    async def group_text(self, update: Update, context: Context) -> None:
        message = _message(update)
        username = context.bot.username
        question = addressed_question(message, bot_id=context.bot.id, username=username)
        if question is None:
            return  # not talking to us: stay silent
        if not question:
            await self._reply(message, f"Ask me something, e.g. @{html.escape(username)} who said what?")
            return
        await self._answer(message, context, question)

    # -- errors -----------------------------------------------------------------------------------------

    async def on_error(self, update: object, context: Context) -> None:
        """Log what went wrong and tell the user briefly; the bot carries on with the next update."""
        error = context.error
        if isinstance(error, VerbatimError):
            # An expected failure (bad input, unknown article): its message is the whole story.
            log.info("update refused: %s", error)
            text = render.error_html(error)
        elif isinstance(error, ReportedError):
            log.error("error while handling an update (the user was told)", exc_info=error.__cause__)
            raise ApplicationHandlerStop
        else:
            log.error("error while handling an update", exc_info=error)
            text = render.SORRY
        if not isinstance(update, Update):
            return
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(render.shorten(html.unescape(text), 200))
            elif update.effective_message is not None:
                await self._reply(update.effective_message, text)
        except TelegramError as exc:
            log.warning("could not tell the user about an error: %s", exc)
        raise ApplicationHandlerStop  # one reply per update: no other handler gets to answer it too

    # -- shared steps -----------------------------------------------------------------------------------

    def _collection(self, message: Message) -> str:
        return collection_for(message.chat.id)

    async def _reply(self, message: Message, html: str, **kwargs: Any) -> Message:
        # Groups: quote the message answered so a busy chat knows what is answered; the thread
        # (forum topic) is kept by PTB's reply shortcut.
        kwargs.setdefault("do_quote", is_group(message.chat))
        return await message.reply_text(html, **kwargs)

    async def _reply_parts(self, message: Message, parts: list[str], *, quote: bool | None = None) -> None:
        """A reply in several messages: only the first quotes what it answers."""
        for n, part in enumerate(parts):
            await self._reply(
                message, part, do_quote=(is_group(message.chat) if quote is None else quote) and n == 0
            )

    async def _answer(self, message: Message, context: Context, question: str) -> None:
        collection = self._collection(message)
        async with typing(message):
            answer = await asyncio.to_thread(self.engine.ask, collection, question)
        group = is_group(message.chat)
        parts = render.answer_messages(answer, group=group)
        for n, part in enumerate(parts):
            keyboard = render.sources_keyboard(part.sources)
            await self._reply(message, part.html, reply_markup=keyboard, do_quote=group and n == 0)
        if answer.answered and context.chat_data is not None:
            last = context.chat_data.setdefault(LAST_SOURCES, {})
            last[_thread(message)] = render.refs_of(answer.citations)

    async def _add(self, message: Message, make_source: Callable[[], Awaitable[Source]]) -> None:
        """Say "Adding…", add the article, then replace that with the result or the reason it failed."""
        status = await self._reply(message, render.ADDING)
        try:
            draft = await self.engine.draft_async(await make_source())
            result = await asyncio.to_thread(self.engine.add, self._collection(message), draft)
            text = render.added_html(result)
        except VerbatimError as exc:
            text = render.error_html(exc)
        except Exception as exc:
            with contextlib.suppress(TelegramError):
                await status.edit_text(render.SORRY)
            raise ReportedError("adding an article failed") from exc
        await status.edit_text(text)

    async def _add_message(self, command: Message, target: Message) -> None:
        """`/add` as a reply: add the replied-to file, forwarded post, link or text."""
        if target.document is not None:
            document = target.document
            await self._add(command, lambda: self._document_source(document))
        elif target.forward_origin is not None:
            await self._add(command, lambda: self._post_source(target))
        elif link := sole_link(target):
            await self._add(command, lambda: _ready(LinkSource(link)))
        elif message_text(target).strip():
            text = message_text(target)
            await self._add(command, lambda: _ready(TextSource(text, "telegram")))
        else:
            await self._reply(command, "That message has no text I could add.")

    async def _post_source(self, message: Message) -> Source:
        draft = await asyncio.to_thread(post_draft, message, max_chars=self.settings.max_article_chars)
        return DraftSource(draft)

    async def _document_source(self, document: Document) -> Source:
        """Check the name and size Telegram reports before downloading anything."""
        name = document.file_name or "The file"
        suffix = Path(document.file_name or "").suffix.lower()
        if suffix not in TEXT_SUFFIXES | HTML_SUFFIXES:
            raise InputError(f"{name}: I can read .txt, .md and .html files, not {suffix}.")
        limit = min(TELEGRAM_DOWNLOAD_LIMIT, self.settings.max_article_chars * 4)
        if document.file_size is not None and document.file_size > limit:
            raise InputError(
                f"{name} is too large ({_size(document.file_size)}; the limit is {_size(limit)}).",
                "Split it into smaller articles.",
            )
        file = await document.get_file()
        return UploadSource(bytes(await file.download_as_bytearray()), name)


@contextlib.asynccontextmanager
async def typing(message: Message) -> AsyncIterator[None]:
    """Show "typing…" in the chat (and topic) until the block ends."""

    async def keep_typing() -> None:
        while True:
            await asyncio.sleep(TYPING_RENEW_S)
            await _chat_action(message)

    await _chat_action(message)
    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _chat_action(message: Message) -> None:
    try:
        await message.reply_chat_action(ChatAction.TYPING)
    except TelegramError as exc:  # only cosmetic: never let it stop an answer
        log.debug("chat action failed: %s", exc)


def _message(update: Update) -> Message:
    message = update.effective_message
    assert message is not None, "the handler filters only let messages through"
    return message


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def _thread(message: Message) -> int | None:
    # Outside forums `message_thread_id` names a reply chain, not a topic: one last answer per chat.
    return message.message_thread_id if message.is_topic_message else None


async def _ready(source: Source) -> Source:
    return source


def _text_or_link(text: str) -> Source:
    link = as_link(text)
    return LinkSource(link) if link else TextSource(text, "telegram")


def _document(message: Message) -> Document:
    assert message.document is not None
    return message.document
