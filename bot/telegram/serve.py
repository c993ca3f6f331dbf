"""`verbatim serve`: run the bot by long polling, or behind a webhook when VERBATIM_WEBHOOK_URL is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application
from verbatim.bot.settings import Settings
from verbatim.bot.telegram.app import ALLOWED_UPDATES, build_application
from verbatim.bot.telegram.handlers import EngineLike
from verbatim.index.errors import VerbatimError

log = logging.getLogger(__name__)

NO_TOKEN = (
    "Set VERBATIM_TELEGRAM_TOKEN to the token @BotFather gave you (in the environment or in .env), "
    "then run `verbatim serve` again."
)
REJECTED_TOKEN = (
    "Telegram rejected the bot token in VERBATIM_TELEGRAM_TOKEN; "
    "check it with @BotFather (/mybots → API Token)."
)
NOT_THE_BOT_API = (
    "The server at {url} answered, but not as the Telegram Bot API does (its reply is not JSON); "
    "check VERBATIM_TELEGRAM_BASE_URL."
)
POLL_TIMEOUT_S = 30
# PTB's words for a reply that is not JSON (it logs the whole reply, with a traceback, as it raises).
_INVALID_RESPONSE = "Invalid server response"


@contextlib.asynccontextmanager
async def running(
    app: Application,  # type: ignore[type-arg]
    settings: Settings,
    *,
    poll_timeout: int = POLL_TIMEOUT_S,
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The application initialized, receiving updates and handling them until the block ends.

    What `Application.run_polling`/`run_webhook` do, minus owning the event loop: `serve` adds its
    own signal handling, and tests run the bot inside their event loop.
    """
    try:
        async with app:  # initialize (getMe: a bad token fails here) ... shutdown
            if app.post_init:
                await app.post_init(app)
            assert app.updater is not None
            if settings.webhook_url:
                await app.updater.start_webhook(
                    listen=settings.webhook_listen,
                    port=settings.webhook_port,
                    url_path=urlsplit(settings.webhook_url).path.strip("/"),
                    webhook_url=settings.webhook_url,
                    secret_token=await asyncio.to_thread(webhook_secret, settings),
                    allowed_updates=ALLOWED_UPDATES,
                )
            else:
                await app.updater.start_polling(
                    poll_interval=0, timeout=poll_timeout, allowed_updates=ALLOWED_UPDATES
                )
            await app.start()
            try:
                yield app
            finally:
                if app.updater.running:
                    await app.updater.stop()
                if app.running:
                    await app.stop()
                    if app.post_stop:
                        await app.post_stop(app)
    finally:
        # Also after a failed start (a port taken): what post_init opened is closed, as PTB's run_* do.
        if app.post_shutdown:
            await app.post_shutdown(app)


def webhook_secret(settings: Settings) -> str:
    """The configured secret, or one made up: the webhook is set anew at each start, so any will do,
    as long as every worker behind the URL has the same (those on one database share one there)."""
    if settings.webhook_secret is not None and settings.webhook_secret.get_secret_value():
        return settings.webhook_secret.get_secret_value()
    url = settings.database_url.get_secret_value().strip() if settings.database_url else ""
    if url:
        from verbatim.bot.telegram.shared_turns import shared_webhook_secret

        return shared_webhook_secret(url)
    return secrets.token_urlsafe(32)


async def _serve(app: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(app, settings):
        me = app.bot.username
        mode = f"webhook {settings.webhook_url}" if settings.webhook_url else "long polling"
        log.info("@%s is running (%s); Ctrl-C stops it", me, mode)
        await stop.wait()
        log.info("stopping")


def serve(settings: Settings, engine: EngineLike) -> int:
    """Run until SIGINT/SIGTERM. Returns the exit status; failures are one line on stderr."""
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not token:
        print(NO_TOKEN, file=sys.stderr)
        return 1
    redact_token(token)
    logging.getLogger("telegram.request.BaseRequest").addFilter(_drop_invalid_json_dump)
    try:
        app = build_application(settings, engine)
        asyncio.run(_serve(app, settings))
    except InvalidToken:
        # PTB's message repeats the token: say it in our own words.
        print(REJECTED_TOKEN, file=sys.stderr)
        return 1
    except NetworkError as exc:
        print(f"Cannot reach the Telegram Bot API at {settings.telegram_base_url}: {exc}", file=sys.stderr)
        return 1
    except TelegramError as exc:  # an answer, but not one the bot can start on
        if exc.message == _INVALID_RESPONSE:
            print(NOT_THE_BOT_API.format(url=settings.telegram_base_url), file=sys.stderr)
        else:
            print(f"The Telegram Bot API at {settings.telegram_base_url} refused: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if not settings.webhook_url:
            raise
        # The webhook's port is taken or may not be bound.
        print(f"Cannot listen on {settings.webhook_listen}:{settings.webhook_port}: {exc}", file=sys.stderr)
        return 1
    except VerbatimError as exc:  # the database, while starting
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were in place
        pass
    return 0


def _drop_invalid_json_dump(record: logging.LogRecord) -> bool:
    """PTB logs a reply that is not JSON whole, with a traceback, then raises: the error it raises is
    reported (in one line at start-up), so the dump is left out."""
    return not str(record.msg).startswith("Can not load invalid JSON data")


class _RedactingFormatter(logging.Formatter):
    """Keeps the token out of every log line, tracebacks included, whatever a library logs."""

    def __init__(self, inner: logging.Formatter, token: str) -> None:
        super().__init__()
        self.inner = inner
        self.token = token

    def format(self, record: logging.LogRecord) -> str:
        return self.inner.format(record).replace(self.token, "<token>")


def redact_token(token: str) -> None:
    """Log what the bot does, never the token: httpx logs each request URL (which holds the token)
    at INFO, so it only logs warnings; every handler's output is scrubbed as well."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in root.handlers:
        if not isinstance(handler.formatter, _RedactingFormatter):
            handler.setFormatter(_RedactingFormatter(handler.formatter or logging.Formatter(), token))
    # What the bot itself says is worth seeing by default: it is a long-running service.
    logging.getLogger("verbatim").setLevel(logging.INFO)
