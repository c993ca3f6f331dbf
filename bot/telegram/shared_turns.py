"""Chat turns and the webhook secret across workers: several `verbatim serve` processes on one database
(VERBATIM_DATABASE_URL) behind one public URL, where a load balancer sends any update to any of them.

- `SharedTurns`: a chat's turn held in PostgreSQL, as an advisory lock, so an update handled by one
  worker waits for the update of the same chat another worker is handling (a question for the add sent
  before it). `handlers.ChatTurns` takes it after its own in-process lock, so waiters of one process
  queue in arrival order and a process asks the database for a chat's turn once at a time.
- `shared_webhook_secret`: each worker calls setWebhook at start; with a random secret each, the last
  one's would lock the others out, so the first to start stores one in the database for all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

from verbatim.index.errors import StorageError
from verbatim.index.postgres import CHAT_LOCK, describe_url, lock_key

log = logging.getLogger(__name__)

# How often a turn another worker holds is tried again. Turns of one chat meet across workers only when
# its updates arrive at two workers at once, so this is rarely waited at all.
POLL_S = 0.05
WEBHOOK_SECRET_KEY = "webhook_secret"
CHECK_URL = "Check VERBATIM_DATABASE_URL and that the server is running."


class SharedTurns:
    """Chats' turns across processes: `async with turns.hold(*chat_ids)` while handling an update.

    One connection a process holds every chat's turn, as session advisory locks. A turn held elsewhere is
    tried again every POLL_S (`pg_try_advisory_lock`) rather than waited for in the database, so a waiting
    chat never ties up the connection, and busy chats never queue for connections: a pool of one
    connection per busy chat capped the chats a worker could serve at once at the pool's size. If the
    connection drops, the server releases its locks (other workers go on) and the next turn reconnects."""

    def __init__(self, url: str, *, poll_s: float = POLL_S) -> None:
        self.url = url
        self.where = describe_url(url)
        self.poll_s = poll_s
        self._conn: Any = None
        self._lock: asyncio.Lock | None = None  # one statement at a time on the connection

    async def open(self) -> None:
        """Connect now rather than at the first turn; safe to call again."""
        await self._connection()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            try:
                self._conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, prepare_threshold=None
                )
            except psycopg.OperationalError as exc:
                raise StorageError(f"Cannot reach the {self.where}: {_reason(exc)}", CHECK_URL) from exc
        return self._conn

    async def _execute(self, query: str, key: int) -> bool:
        import psycopg

        if self._lock is None:
            self._lock = asyncio.Lock()  # made on the loop that uses it
        async with self._lock:
            conn = await self._connection()
            try:
                row = await (await conn.execute(query, (key,))).fetchone()
            except psycopg.OperationalError as exc:
                await self.close()  # the session, and every turn it held, is gone: reconnect next time
                raise StorageError(f"Lost the {self.where}: {_reason(exc)}", CHECK_URL) from exc
        return bool(row and row[0])

    @contextlib.asynccontextmanager
    async def hold(self, *chat_ids: int) -> AsyncIterator[None]:
        """The chats' turns, taken in sorted order (no two holders deadlock), until the block ends."""
        keys = [lock_key(f"{CHAT_LOCK}{chat_id}") for chat_id in sorted(set(chat_ids))]
        held: list[int] = []
        try:
            for key in keys:
                # Counted as held while asked for: a handler cancelled mid-query may have got it, and
                # releasing a lock the session does not hold only draws a warning from the server.
                held.append(key)
                while not await self._execute("SELECT pg_try_advisory_lock(%s)", key):
                    held.pop()
                    await asyncio.sleep(self.poll_s)
                    held.append(key)
            yield
        finally:
            for key in reversed(held):
                try:
                    await self._execute("SELECT pg_advisory_unlock(%s)", key)
                except StorageError as exc:  # a lost session released it already
                    log.warning("could not release a chat's turn: %s", exc)


def shared_webhook_secret(url: str) -> str:
    """The webhook secret every worker on this database uses: the first to ask stores a fresh one.

    Needs the tables (`meta`), which opening the storage creates: `verbatim serve` opens the engine first.
    """
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            # Two workers starting together: the second insert waits for the first and does nothing.
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (WEBHOOK_SECRET_KEY, secrets.token_urlsafe(32)),
            )
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (WEBHOOK_SECRET_KEY,)).fetchone()
    except psycopg.OperationalError as exc:
        raise StorageError(f"Cannot reach the {describe_url(url)}: {_reason(exc)}", CHECK_URL) from None
    assert row is not None  # inserted or already there
    return str(row[0])


def _reason(exc: Exception) -> str:
    """The last line of psycopg's message: the one that says what failed."""
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
