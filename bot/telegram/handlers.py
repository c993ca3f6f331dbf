"""The bot's handlers: thin glue from Telegram updates to the engine and back.

Everything slow (embedding, searching, adding, parsing files) runs in a worker thread, so one chat's
question never holds up another's (the application runs updates concurrently). Within one chat, updates
take turns in the order they arrived (`ChatTurns`): a question waits for the add sent before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from telegram import Document, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, ChatMigrated, TelegramError
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes
from verbatim.bot import wording
from verbatim.bot.answering import MAX_QUESTION_CHARS
from verbatim.bot.sources import DraftSource, LinkSource, Source, TextSource, UploadSource, as_link
from verbatim.bot.telegram import render
from verbatim.bot.telegram.access import (
    addressed_question,
    collection_for,
    is_admin,
    is_group,
    is_member_admin,
    may_add,
)
from verbatim.bot.telegram.posts import command_rest, message_text, post_draft, sole_link
from verbatim.index.errors import InputError, NotFoundError, VerbatimError
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
LAST_LIST = "last_list"  # the article ids the chat's last /list showed, in its order
DELETE_PREFIX = "del:"  # + the article's id
DELETE_HASHED_PREFIX = "delh:"  # + a hash of an id too long for the 64 bytes of callback data
KEEP_DATA = "del-keep"
_LIST_NUMBER = re.compile(r"#?([0-9]+)")
RATE_WINDOW_S = 3600.0
# Telegram caches inline results per query; short, so an article just added shows up soon.
INLINE_CACHE_S = 10
NOT_ALLOWED = "This bot is not enabled for this chat. Its owner lists the chats it serves."
SEND_TEXT = "Send me text, a link or a file (.txt, .md, .html): a question, or an article to add."


class EngineLike(Protocol):
    """What the bot needs of `bot.engine.Engine` (tests pass a fake that records calls)."""

    settings: Settings

    def warm_up(self) -> None: ...

    def ask(self, collection: str, question: str) -> Answer: ...

    async def draft_async(self, source: Source) -> ArticleDraft: ...

    def add(self, collection: str, source: Source | ArticleDraft) -> AddResult: ...

    def list_articles(self, collection: str) -> list[ArticleSummary]: ...

    def delete(self, collection: str, ref: str) -> ArticleSummary: ...

    def move_collection(self, old: str, new: str) -> int: ...

    def context(self, collection: str, refs: Sequence[QuoteRef]) -> list[QuoteContext]: ...


class ReportedError(Exception):
    """An unexpected failure the user has already been told about; only its traceback is left to log."""


class Handlers:
    def __init__(self, engine: EngineLike, shared_turns: SharedLock | None = None) -> None:
        """`shared_turns`: chats' turns across processes too (workers on one database)."""
        self.engine = engine
        self.settings = engine.settings
        self.turns = ChatTurns(shared_turns)
        self.adds = AddLimit(self.settings.adds_per_user_per_hour)
        # Groups that became supergroups: old chat id -> new. Late updates of the old id, and replies to
        # it, go to the new chat and its collection.
        self.moved: dict[int, int] = {}
        self.origins: dict[int, int] = {}  # new chat id -> old, from the first service message on
        self.refused: set[int] = set()  # chats told they are not served (once each)

    # -- access -----------------------------------------------------------------------------------------

    async def gate(self, update: Update, context: Context) -> None:
        """Before every handler: outside VERBATIM_ALLOWED_CHATS nothing is stored or fetched, and each
        such chat hears once why the bot is silent."""
        if not self.settings.allowed_chats:
            return
        chat = update.effective_chat
        message = update.effective_message
        if chat is None or self._serves(chat.id):
            return
        if (
            message is not None
            and message.migrate_from_chat_id
            and self._serves(message.migrate_from_chat_id)
        ):
            return  # a served group that became a supergroup: the migration handler takes it over
        log.info("update from chat %s, which is not in VERBATIM_ALLOWED_CHATS: ignored", chat.id)
        if update.callback_query is not None:
            await update.callback_query.answer(NOT_ALLOWED)
        elif message is not None and chat.id not in self.refused and self._addressed(message, context):
            self.refused.add(chat.id)
            with contextlib.suppress(TelegramError):
                await self._reply(message, NOT_ALLOWED)
        raise ApplicationHandlerStop

    def _serves(self, chat_id: int) -> bool:
        allowed = self.settings.allowed_chats
        return not allowed or chat_id in allowed or self.origins.get(chat_id) in allowed

    @staticmethod
    def _addressed(message: Message, context: Context) -> bool:
        """Whether a message is for the bot: all of a private chat; in groups commands and mentions."""
        if not is_group(message.chat):
            return True
        if (message.text or "").startswith("/"):
            return True
        return addressed_question(message, bot_id=context.bot.id, username=context.bot.username) is not None

    # -- chat migration ---------------------------------------------------------------------------------

    async def migrate(self, update: Update, context: Context) -> None:
        """A group became a supergroup with a new id: its collection and chat data follow it. Both chats
        get a service message, in no set order; whichever comes first moves everything, the other finds
        nothing left to move."""
        message = _message(update)
        if message.migrate_to_chat_id is not None:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id is not None:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        # At once, before any await: the new chat's next update may be checked before the move ends.
        self.origins[new] = old
        # Both chats' turns: whatever the old chat was doing (an add) lands first and is moved too, and
        # the new chat's questions wait for the articles.
        async with self.turns.of(old, new):
            moved = await asyncio.to_thread(
                self.engine.move_collection, collection_for(old), collection_for(new)
            )
            _move_chat_data(context.application, old, new)
            self.moved[old] = new
        if moved:
            log.info("chat %s became %s: moved its %d articles", old, new, moved)
        allowed = self.settings.allowed_chats
        if allowed and old in allowed and new not in allowed:
            log.warning("chat %s became %s: add %s to VERBATIM_ALLOWED_CHATS", old, new, new)

    def _chat_id(self, chat_id: int) -> int:
        return self.moved.get(chat_id, chat_id)

    # -- commands ---------------------------------------------------------------------------------------

    async def start(self, update: Update, context: Context) -> None:
        message = _message(update)
        await self._reply(message, render.START_GROUP if is_group(message.chat) else render.START_PRIVATE)

    async def help(self, update: Update, context: Context) -> None:
        message = _message(update)
        await self._reply(message, render.HELP_GROUP if is_group(message.chat) else render.HELP_PRIVATE)

    async def ask(self, update: Update, context: Context) -> None:
        message = _message(update)
        async with self.turns.of(message.chat.id):
            question = command_rest(message.text)
            if not question and message.reply_to_message is not None:
                question = message_text(message.reply_to_message)  # `/ask` as a reply asks that message
            if not question.strip():
                await self._reply(message, "Ask like this: /ask Why was the delegation cancelled?")
                return
            await self._answer(message, context, question)

    async def add(self, update: Update, context: Context) -> None:
        message = _message(update)
        async with self.turns.of(message.chat.id):
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
        async with self.turns.of(message.chat.id):
            articles = await asyncio.to_thread(self.engine.list_articles, self._collection(message))
            if context.chat_data is not None:
                # /delete N means the N-th of this list, whatever is added or deleted after it.
                context.chat_data[LAST_LIST] = [a.id for a in articles]
            lines = render.article_list_lines(articles, group=is_group(message.chat))
            await self._reply_parts(message, render.pack(lines))

    async def delete_article(self, update: Update, context: Context) -> None:
        """`/delete N` asks first, naming the article: the button carries its id, so a list that changed
        meanwhile, or a second admin, cannot make it delete another."""
        message = _message(update)
        async with self.turns.of(message.chat.id):
            if not await is_admin(context.bot, message):
                await self._reply(message, "Only the group's admins can delete articles.")
                return
            ref = command_rest(message.text)
            if not ref:
                await self._reply(message, wording.WHICH_ONE)
                return
            shown = (context.chat_data or {}).get(LAST_LIST)
            articles = await asyncio.to_thread(self.engine.list_articles, self._collection(message))
            article = _article_to_delete(ref, articles, shown)
            title = html.escape(render.shorten(wording.title_of(article.title), render.TITLE_LIMIT))
            keyboard = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton("Delete", callback_data=delete_data(article.id)),
                        InlineKeyboardButton("Cancel", callback_data=KEEP_DATA),
                    ]
                ]
            )
            await self._reply(message, f"Delete “{title}”?", reply_markup=keyboard)

    async def delete_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None
        asked = query.message if isinstance(query.message, Message) else None
        if asked is None:
            await query.answer("This button no longer works; send /delete again.")
            return
        async with self.turns.of(asked.chat.id):
            chat_id = self._chat_id(asked.chat.id)
            if is_group(asked.chat) and not await is_member_admin(context.bot, chat_id, query.from_user.id):
                await query.answer("Only the group's admins can delete articles.", show_alert=True)
                return
            if query.data == KEEP_DATA:
                await query.answer()
                await _edit_quietly(asked, "Not deleted.")
                return
            collection = collection_for(chat_id)
            try:
                article_id = await asyncio.to_thread(self._button_article, collection, query.data or "")
                article = await asyncio.to_thread(self.engine.delete, collection, f"id:{article_id}")
            except NotFoundError:
                # Another admin (or this one, twice) was quicker: nothing else is touched.
                await query.answer("That article is already deleted.")
                await _edit_quietly(asked, f"{_asked_title(asked)} is already deleted.")
                return
            await query.answer()
            await _edit_quietly(asked, render.deleted_html(article))

    def _button_article(self, collection: str, data: str) -> str:
        """The id a Delete button names (an id too long for its data is found again by its hash)."""
        if data.startswith(DELETE_PREFIX):
            return data[len(DELETE_PREFIX) :]
        wanted = data[len(DELETE_HASHED_PREFIX) :]
        for article in self.engine.list_articles(collection):
            if _id_hash(article.id) == wanted:
                return article.id
        raise NotFoundError("That article is already deleted.")

    async def sources(self, update: Update, context: Context) -> None:
        message = _message(update)
        async with self.turns.of(message.chat.id):
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
        async with self.turns.of(answered.chat.id):
            collection = collection_for(self._chat_id(answered.chat.id))
            contexts = await asyncio.to_thread(self.engine.context, collection, refs)
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

    # -- inline mode ------------------------------------------------------------------------------------

    async def inline_query(self, update: Update, context: Context) -> None:
        """`@Bot question` typed in any chat: answered from the asker's own (private chat) collection,
        never a group's: the results are for them alone (is_personal)."""
        query = update.inline_query
        assert query is not None
        question = " ".join(query.query.split())
        if not question or not self._serves(query.from_user.id):
            await query.answer([], cache_time=INLINE_CACHE_S, is_personal=True)
            return
        answer = await asyncio.to_thread(self.engine.ask, collection_for(query.from_user.id), question)
        await query.answer(
            render.inline_results(answer),
            cache_time=INLINE_CACHE_S,
            is_personal=True,
            button=render.inline_button(answer),
        )

    # -- plain messages ---------------------------------------------------------------------------------

    async def private_text(self, update: Update, context: Context) -> None:
        """A text (new or edited: an edited question is answered again) or a photo's caption."""
        message = _message(update)
        async with self.turns.of(message.chat.id):
            link = sole_link(message)
            text = message_text(message)
            if link:
                await self._add(message, lambda: _ready(LinkSource(link)))
            elif len(text) > MAX_QUESTION_CHARS:
                # Nobody asks a question this long: it is an article pasted in to be added.
                await self._add(message, lambda: _ready(TextSource(text, "telegram")))
            else:
                await self._answer(message, context, text)

    async def private_document(self, update: Update, context: Context) -> None:
        message = _message(update)
        async with self.turns.of(message.chat.id):
            await self._add(message, lambda: self._document_source(_document(message)))

    async def private_forward(self, update: Update, context: Context) -> None:
        message = _message(update)
        async with self.turns.of(message.chat.id):
            await self._add(message, lambda: self._post_source(message))

    async def private_other(self, update: Update, context: Context) -> None:
        """A sticker, a photo without a caption, a voice note: nothing to read, so say what is."""
        await self._reply(_message(update), SEND_TEXT)

    async def group_text(self, update: Update, context: Context) -> None:
        message = _message(update)
        username = context.bot.username
        question = addressed_question(message, bot_id=context.bot.id, username=username)
        if question is None:
            return  # not talking to us: stay silent
        async with self.turns.of(message.chat.id):
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
        elif isinstance(error, ChatMigrated):
            # Sent in a group just before it became a supergroup, handled after: the group's id is gone.
            log.info("update from a group that has become the supergroup %s", error.new_chat_id)
            text = "This group has just become a supergroup; please send that again."
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
        return collection_for(self._chat_id(message.chat.id))

    async def _reply(self, message: Message, html: str, **kwargs: Any) -> Message:
        # Groups: quote the message answered so a busy chat knows what is answered; the thread
        # (forum topic) is kept by PTB's reply shortcut.
        kwargs.setdefault("do_quote", is_group(message.chat))
        try:
            return await message.reply_text(html, **kwargs)
        except ChatMigrated as exc:
            # The group became a supergroup while we worked: say it there, without the quote (the
            # message quoted stayed behind in the old chat). Its articles move when the service
            # message is handled, which waits for this turn to end.
            return await message.get_bot().send_message(
                exc.new_chat_id, html, reply_markup=kwargs.get("reply_markup")
            )

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
        wait = self.adds.take(_sender_id(message))
        if wait is not None:
            await self._reply(
                message,
                f"You have added {self.adds.per_hour} articles in the last hour, the most allowed."
                f" Try again in {max(1, round(wait / 60))} min.",
            )
            return
        status = await self._reply(message, render.ADDING)
        try:
            draft = await self.engine.draft_async(await make_source())
            result = await asyncio.to_thread(self.engine.add, self._collection(message), draft)
            text = render.added_html(result)
        except VerbatimError as exc:
            text = render.error_html(exc)
        except Exception as exc:
            with contextlib.suppress(TelegramError):
                await self._edit(status, render.SORRY)
            raise ReportedError("adding an article failed") from exc
        await self._edit(status, text)

    async def _edit(self, status: Message, text: str) -> None:
        try:
            await status.edit_text(text)
        except ChatMigrated as exc:
            # The group moved while the article was added (to the old collection, then moved with it).
            await status.get_bot().send_message(exc.new_chat_id, text)

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


@dataclass
class _Turn:
    lock: asyncio.Lock
    holders: int = 0  # handlers holding or waiting for it: at 0 it is forgotten


class SharedLock(Protocol):
    """Chats' turns held beyond this process (`bot.telegram.shared_turns.SharedTurns`)."""

    def hold(self, *chat_ids: int) -> contextlib.AbstractAsyncContextManager[None]: ...


class ChatTurns:
    """One chat's updates one at a time, in the order they arrived; other chats run meanwhile.

    The application starts a task per update in arrival order, and each handler asks for its chat's
    turn before its first await: asyncio.Lock wakes waiters first come, first served. With `shared`
    (several workers on one database) the turn is then also taken there, so a worker waits for the
    update of the same chat another worker is handling."""

    def __init__(self, shared: SharedLock | None = None) -> None:
        self._turns: dict[int, _Turn] = {}
        self.shared = shared

    @contextlib.asynccontextmanager
    async def of(self, *chat_ids: int) -> AsyncIterator[None]:
        """The turn of every chat named, taken in one order everywhere (no two handlers deadlock)."""
        async with contextlib.AsyncExitStack() as stack:
            chats = sorted(set(chat_ids))
            for chat_id in chats:
                await stack.enter_async_context(self._one(chat_id))
            if self.shared is not None:
                # Inside this process's own turn: its waiters keep their arrival order here rather than
                # racing for the database, and the process asks the database once per chat at a time.
                await stack.enter_async_context(self.shared.hold(*chats))
            yield

    @contextlib.asynccontextmanager
    async def _one(self, chat_id: int) -> AsyncIterator[None]:
        turn = self._turns.setdefault(chat_id, _Turn(asyncio.Lock()))
        turn.holders += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.holders -= 1
            if not turn.holders:
                del self._turns[chat_id]

    def __len__(self) -> int:
        return len(self._turns)


class AddLimit:
    """At most `per_hour` adds (each a fetch, for a link) per user in any hour; 0: no limit."""

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self.clock = clock
        self._times: dict[int, deque[float]] = {}

    def take(self, user_id: int) -> float | None:
        """Count one add; or, when the user is at the limit, the seconds until they may add again."""
        if not self.per_hour:
            return None
        now = self.clock()
        times = self._times.setdefault(user_id, deque())
        while times and times[0] <= now - RATE_WINDOW_S:
            times.popleft()
        if len(times) >= self.per_hour:
            return times[0] + RATE_WINDOW_S - now
        times.append(now)
        return None


def delete_data(article_id: str) -> str:
    """A Delete button's callback data: the article's id, or its hash when the id is too long."""
    data = DELETE_PREFIX + article_id
    if len(data.encode()) <= render.CALLBACK_DATA_LIMIT:
        return data
    return DELETE_HASHED_PREFIX + _id_hash(article_id)


def _id_hash(article_id: str) -> str:
    return hashlib.sha256(article_id.encode()).hexdigest()[:32]


def _article_to_delete(ref: str, articles: list[ArticleSummary], shown: list[str] | None) -> ArticleSummary:
    """The article `/delete REF` means: N counts in the list this chat was last shown (else the list
    now), anything else is an id (`id:…` for one of digits only)."""
    ref = ref.strip()
    number = None if ref[:3].lower() == "id:" else _LIST_NUMBER.fullmatch(ref)
    if number is None:
        wanted = ref[3:].strip() if ref[:3].lower() == "id:" else ref
        found = next((a for a in articles if a.id == wanted), None)
        if found is None:
            raise NotFoundError(
                f"No article with the id {wanted!r} in this chat.", "See the list for ids and numbers."
            )
        return found
    n = int(number.group(1))
    if shown is None:
        if not 1 <= n <= len(articles):
            raise NotFoundError(
                f"There is no article number {n}; the collection holds {len(articles)}.", "See the list."
            )
        return articles[n - 1]
    if not 1 <= n <= len(shown):
        raise NotFoundError(
            f"There is no article number {n} in the last list; it had {len(shown)}.",
            "Send /list to see the articles now.",
        )
    found = next((a for a in articles if a.id == shown[n - 1]), None)
    if found is None:
        raise NotFoundError(
            f"Article {n} of the last list is already deleted.", "Send /list to see the articles now."
        )
    return found


def _move_chat_data(app: Application, old: int, new: int) -> None:  # type: ignore[type-arg]
    """The old chat's data (last answer's quotes, last list) to the new id, keeping what the new chat
    already has: it is newer."""
    if old not in app.chat_data:
        return
    if not app.chat_data.get(new):
        app.migrate_chat_data(old_chat_id=old, new_chat_id=new)
        return
    target = app.chat_data[new]
    for key, value in app.chat_data[old].items():
        target.setdefault(key, value)
    app.drop_chat_data(old)


async def _edit_quietly(message: Message, text: str) -> None:
    """Replace a question's text (and drop its buttons); a second press may find it replaced already."""
    try:
        await message.edit_text(text)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


def _asked_title(asked: Message) -> str:
    """The quoted title in "Delete “Title”?", escaped again for HTML."""
    text = asked.text or ""
    return html.escape(text.removeprefix("Delete ").removesuffix("?") or "That article")


def _sender_id(message: Message) -> int:
    # Anonymous admins and channels have no user: their chat stands for them.
    if message.from_user is not None and message.sender_chat is None:
        return message.from_user.id
    return message.sender_chat.id if message.sender_chat is not None else message.chat.id


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
