"""Build the python-telegram-bot Application: settings in, handlers and startup work wired up."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from telegram import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from verbatim.bot.settings import Settings
from verbatim.bot.telegram.handlers import (
    DELETE_HASHED_PREFIX,
    DELETE_PREFIX,
    KEEP_DATA,
    EngineLike,
    Handlers,
)
from verbatim.bot.telegram.render import SOURCES_PREFIX

if TYPE_CHECKING:
    from verbatim.bot.telegram.shared_turns import SharedTurns

log = logging.getLogger(__name__)

# Only what the bot handles; Telegram then does not send the rest at all.
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]

PRIVATE_COMMANDS = [
    BotCommand("add", "Add an article: /add TEXT or LINK"),
    BotCommand("list", "The articles of this chat"),
    BotCommand("delete", "Delete article N: /delete N"),
    BotCommand("sources", "The sentences around the last answer's quotes"),
    BotCommand("ask", "Ask a question (or just type it)"),
    BotCommand("help", "How to use the bot"),
]
GROUP_COMMANDS = [
    BotCommand("ask", "Ask a question: /ask QUESTION"),
    BotCommand("add", "Add an article: /add TEXT or LINK, or reply /add"),
    BotCommand("list", "This group's articles"),
    BotCommand("sources", "The sentences around the last answer's quotes"),
    BotCommand("help", "How to use the bot"),
]
ADMIN_COMMANDS = [
    *GROUP_COMMANDS[:3],
    BotCommand("delete", "Delete article N: /delete N"),
    *GROUP_COMMANDS[3:],
]


def build_application(settings: Settings, engine: EngineLike) -> Application:  # type: ignore[type-arg]
    """The bot, ready for `bot.telegram.serve.running` (or PTB's own run_polling/run_webhook)."""
    if settings.telegram_token is None or not settings.telegram_token.get_secret_value().strip():
        raise ValueError("no Telegram token in the settings")
    shared = shared_turns(settings)
    handlers = Handlers(engine, shared)
    warm_up = _WarmUp(engine)

    async def post_init(app: Application) -> None:  # type: ignore[type-arg]
        if shared is not None:
            await shared.open()
        await set_commands(app)
        warm_up.start()

    async def post_shutdown(app: Application) -> None:  # type: ignore[type-arg]
        if shared is not None:
            await shared.close()
        await warm_up.wait()

    app = (
        ApplicationBuilder()
        .token(settings.telegram_token.get_secret_value().strip())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                # The question may be deleted while we think; answer anyway.
                allow_sending_without_reply=True,
            )
        )
        .rate_limiter(
            AIORateLimiter(
                overall_max_rate=settings.rate_limit_overall_per_s,
                overall_time_period=1,
                group_max_rate=settings.rate_limit_group_per_min,
                group_time_period=60,
                max_retries=settings.rate_limit_max_retries,
            )
        )
        .concurrent_updates(True)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    add_handlers(app, handlers)
    return app


def shared_turns(settings: Settings) -> SharedTurns | None:
    """With a database, chats' turns are held there too: other workers may share it (and the URL)."""
    url = settings.database_url.get_secret_value().strip() if settings.database_url else ""
    if not url:
        return None
    from verbatim.bot.telegram.shared_turns import SharedTurns

    return SharedTurns(url)


def add_handlers(app: Application, handlers: Handlers) -> None:  # type: ignore[type-arg]
    new = filters.UpdateType.MESSAGE
    edited = filters.UpdateType.EDITED_MESSAGE  # only private questions are asked again
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    # Before anything else (group -1 is left to callers): chats not served stop here.
    app.add_handler(TypeHandler(Update, handlers.gate), group=-2)
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, handlers.migrate))
    commands: dict[str, Any] = {
        "start": handlers.start,
        "help": handlers.help,
        "ask": handlers.ask,
        "add": handlers.add,
        "list": handlers.list_articles,
        "delete": handlers.delete_article,
        "sources": handlers.sources,
    }
    # CommandHandler answers `/cmd` and `/cmd@ThisBot` and ignores `/cmd@OtherBot`.
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback, filters=new))
    app.add_handler(InlineQueryHandler(handlers.inline_query))
    app.add_handler(CallbackQueryHandler(handlers.sources_button, pattern=f"^{SOURCES_PREFIX}"))
    deleting = f"^({DELETE_PREFIX}|{DELETE_HASHED_PREFIX}|{KEEP_DATA}$)"
    app.add_handler(CallbackQueryHandler(handlers.delete_button, pattern=deleting))
    app.add_handler(MessageHandler(new & groups & filters.Document.ALL & _AddCaption(), handlers.add))
    app.add_handler(MessageHandler(new & private & filters.COMMAND, handlers.unknown_command))
    app.add_handler(MessageHandler(new & private & filters.Document.ALL, handlers.private_document))
    app.add_handler(MessageHandler(new & private & filters.FORWARDED, handlers.private_forward))
    app.add_handler(MessageHandler(new & private & filters.TEXT & ~filters.COMMAND, handlers.private_text))
    app.add_handler(MessageHandler(edited & private & filters.TEXT & ~filters.COMMAND, handlers.private_text))
    # A photo (or video, voice note) with a caption: the caption is the question or the link.
    app.add_handler(MessageHandler(new & private & filters.CAPTION, handlers.private_text))
    # Stickers, photos without a caption, voice notes: nothing to read or add.
    app.add_handler(
        MessageHandler(new & private & ~filters.TEXT & ~filters.StatusUpdate.ALL, handlers.private_other)
    )
    app.add_handler(MessageHandler(new & groups & filters.TEXT & ~filters.COMMAND, handlers.group_text))
    app.add_error_handler(handlers.on_error)


class _AddCaption(filters.MessageFilter):
    """A file whose caption is `/add` or `/add@ThisBot` (captions are no commands to PTB)."""

    def filter(self, message: Any) -> bool:
        caption = (message.caption or "").split(maxsplit=1)
        if not caption:
            return False
        command, _, target = caption[0].partition("@")
        username = message.get_bot().username
        return command.lower() == "/add" and (not target or target.lower() == username.lower())


async def set_commands(app: Application) -> None:  # type: ignore[type-arg]
    """The command menus: what private chats, group members and group admins may use."""
    await app.bot.set_my_commands(PRIVATE_COMMANDS, scope=BotCommandScopeAllPrivateChats())
    await app.bot.set_my_commands(GROUP_COMMANDS, scope=BotCommandScopeAllGroupChats())
    await app.bot.set_my_commands(ADMIN_COMMANDS, scope=BotCommandScopeAllChatAdministrators())


class _WarmUp:
    """Load the models in a worker thread at startup, so the first question does not wait for them."""

    def __init__(self, engine: EngineLike) -> None:
        self.engine = engine
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name="verbatim-warm-up")

    async def _run(self) -> None:
        try:
            await asyncio.to_thread(self.engine.warm_up)
        except Exception:
            # Questions will try again and report it; startup goes on.
            log.exception("could not load the models")

    async def wait(self) -> None:
        # A thread cannot be cancelled: wait for it so the process exits cleanly.
        if self.task is not None:
            if not self.task.done():
                log.info("waiting for the models to finish loading")
            await asyncio.shield(self.task)
