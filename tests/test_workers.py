"""Several `verbatim serve` workers on one PostgreSQL database behind one webhook URL: one secret for
all, and one chat's updates take turns across workers (bot.telegram.shared_turns).

The fast tests hold the turns directly, as two processes would (two connections); the slow one runs two real
workers against the fake Bot API and plays Telegram and the load balancer: it posts each update to one
worker's webhook itself.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from verbatim.bot.settings import Settings
from verbatim.bot.telegram.handlers import ChatTurns
from verbatim.bot.telegram.render import ADDING
from verbatim.bot.telegram.serve import webhook_secret
from verbatim.bot.telegram.shared_turns import SharedTurns, shared_webhook_secret
from verbatim.index.postgres import PostgresLibrary

from tests.conftest import ROOT, SEED_ARTICLE, VERBATIM
from tests.fake_telegram import FakeTelegram
from tests.fakes import BRIDGE, ORCHESTRA, HashingEmbedder
from tests.test_telegram_serve import serve_env

server = FakeTelegram.fixture("server")

USER = 42
OTHER = 43
PUBLIC_URL = "https://bot.example/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MARKET = (
    "Night market opens on the old pier\n"
    "A night market with forty stalls opened on the old pier on Friday. "
    "It will run every weekend until the end of October."
)


# -- turns across processes, fast -----------------------------------------------------------------------


async def _entered(holding: Any, seconds: float = 0.3) -> bool:
    """Whether `holding` (an async context manager) is entered within `seconds`; entered, it is left."""
    try:
        await asyncio.wait_for(holding.__aenter__(), seconds)
    except TimeoutError:
        return False
    await holding.__aexit__(None, None, None)
    return True


def test_shared_turns_exclude_the_same_chat_across_pools_and_not_other_chats(postgres_url: str) -> None:
    async def main() -> None:
        a, b = SharedTurns(postgres_url), SharedTurns(postgres_url)
        try:
            async with a.hold(1):
                assert not await _entered(b.hold(1))  # another process's turn of the same chat waits
                assert not await _entered(b.hold(2, 1))  # and so does one naming it among others
                assert await _entered(b.hold(2))  # another chat goes on
                waiting = asyncio.create_task(_entered(b.hold(1), seconds=10))
                await asyncio.sleep(0.1)
                assert not waiting.done()
            assert await waiting  # released when the holder is done
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_chat_turns_with_shared_turns_keep_one_chats_order_across_processes(postgres_url: str) -> None:
    async def main() -> None:
        shared = [SharedTurns(postgres_url) for _ in range(2)]
        first, second = ChatTurns(shared[0]), ChatTurns(shared[1])
        log: list[str] = []
        slow = asyncio.Event()

        async def work(turns: ChatTurns, name: str, chat: int, wait: asyncio.Event | None = None) -> None:
            async with turns.of(chat):
                log.append(f"{name} starts")
                if wait is not None:
                    await wait.wait()
                log.append(f"{name} ends")

        try:
            add = asyncio.create_task(work(first, "add", 1, wait=slow))
            await asyncio.sleep(0.2)  # the add holds chat 1 in the database
            question = asyncio.create_task(work(second, "question", 1))
            other = asyncio.create_task(work(second, "other chat", 2))
            await asyncio.sleep(0.3)
            assert log == ["add starts", "other chat starts", "other chat ends"]
            slow.set()
            await asyncio.gather(add, question, other)
            assert log[3:] == ["add ends", "question starts", "question ends"]
            assert len(first) == len(second) == 0
        finally:
            for one in shared:
                await one.close()

    asyncio.run(main())


def test_workers_on_one_database_share_one_webhook_secret(postgres_url: str) -> None:
    PostgresLibrary(postgres_url, HashingEmbedder()).close()  # `verbatim serve` opens the storage first
    with ThreadPoolExecutor(4) as pool:
        secrets = set(pool.map(lambda _: shared_webhook_secret(postgres_url), range(4)))
    [secret] = secrets
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret)  # what setWebhook accepts
    settings = Settings(_env_file=None, database_url=SecretStr(postgres_url))  # type: ignore[call-arg]
    assert webhook_secret(settings) == secret
    configured = settings.model_copy(update={"webhook_secret": SecretStr("own-Secret_1")})
    assert webhook_secret(configured) == "own-Secret_1"  # a configured one wins
    # The stored secret leaves the database usable: its meta table is the storage's own.
    PostgresLibrary(postgres_url, HashingEmbedder()).close()


# -- two real workers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_worker(data_dir: Path, server: FakeTelegram, database: str, port: int) -> subprocess.Popen[str]:
    env = serve_env(data_dir, server, server.token)
    env.update(
        VERBATIM_DATABASE_URL=database,
        VERBATIM_WEBHOOK_URL=PUBLIC_URL,
        VERBATIM_WEBHOOK_LISTEN="127.0.0.1",
        VERBATIM_WEBHOOK_PORT=str(port),
        VERBATIM_TORCH_THREADS="1",
    )
    # Into a file: a pipe left unread could fill up and stall the worker.
    with (data_dir.parent / f"worker-{port}.log").open("w") as log:
        return subprocess.Popen(
            [*VERBATIM, "serve"], stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env
        )


def stopped(worker: subprocess.Popen[str]) -> int | None:
    """The worker's exit status once it stopped; None if it had to be killed."""
    try:
        return worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        return None


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Balancer:
    """Telegram and the load balancer in one: posts an update to the webhook of the worker chosen."""

    def __init__(self, server: FakeTelegram, ports: list[int], secret: str, client: httpx.Client) -> None:
        self.server = server
        self.ports = ports
        self.secret = secret
        self.client = client

    def says(self, chat_id: int, text: str) -> dict[str, Any]:
        """The user's message as Telegram would push it."""
        self.server.user_says(chat_id, chat_id, text)
        [update] = self.server.take_updates()
        return update

    def deliver(self, worker: int, update: dict[str, Any]) -> None:
        url = f"http://127.0.0.1:{self.ports[worker]}/telegram"
        response = self.client.post(url, json=update, headers={SECRET_HEADER: self.secret})
        assert response.status_code == 200, response.text

    def result(self, chat_id: int, message_id: int, timeout: float = 60) -> str:
        """The text of an "Adding…" status once it shows the result."""
        self.server.wait_until(
            lambda: self.server.bot_message(chat_id, message_id).edited, timeout=timeout, what="an add"
        )
        return self.server.bot_message(chat_id, message_id).text or ""


@pytest.mark.slow  # the real model, in two subprocesses
def test_two_workers_share_the_webhook_and_each_chats_turns(
    tmp_path: Path, server: FakeTelegram, postgres_url: str
) -> None:
    server.add_user(USER, "Ada")
    server.add_user(OTHER, "Bob")
    ports = [free_port(), free_port()]
    workers = [
        start_worker(tmp_path / f"data-{i}", server, postgres_url, port) for i, port in enumerate(ports)
    ]
    client = httpx.Client(timeout=30)
    try:
        # Both up, on the same URL with the same secret (one from the database).
        wait_for(lambda: len(server.calls("setWebhook")) == 2, 90, "both workers to set the webhook")
        calls = server.calls("setWebhook")
        assert [c["url"] for c in calls] == [PUBLIC_URL, PUBLIC_URL]
        assert calls[0]["secret_token"] == calls[1]["secret_token"]
        hook = server.webhook
        assert hook is not None and hook["secret_token"] == calls[0]["secret_token"]
        wait_for(lambda: all(listening(port) for port in ports), 30, "both webhooks to listen")
        lb = Balancer(server, ports, hook["secret_token"], client)

        # Adds to one chat on both workers at once, one article twice: each article lands once.
        sends = [(0, BRIDGE), (1, ORCHESTRA), (0, MARKET), (1, MARKET)]
        updates = [(worker, lb.says(OTHER, "/add " + text)) for worker, text in sends]
        with ThreadPoolExecutor(len(updates)) as pool:
            list(pool.map(lambda sent: lb.deliver(*sent), updates))
        statuses = server.wait_for_bot_messages(OTHER, count=4, timeout=60)
        results = sorted(lb.result(OTHER, s.message_id) for s in statuses)
        titles = [text.split("\n", 1)[0] for text in (BRIDGE, MARKET, ORCHESTRA)]
        assert [r.split(" (")[0] for r in results] == [
            *(f"Added “{title}”" for title in titles),
            f"Already there: “{titles[1]}”.",
        ]
        lb.deliver(1, lb.says(OTHER, "/list"))
        [listed] = server.wait_for_bot_messages(OTHER, timeout=30)
        assert all((listed.text or "").count(title) == 1 for title in titles), listed.text
        assert len(re.findall(r"^\d+\. ", listed.text or "", re.MULTILINE)) == 3, listed.text

        # One chat's order across workers: the question sent to worker 1 while worker 0 adds the article
        # it asks about waits for that add. (PTB answers the webhook once the update is queued, before
        # its handler takes the chat's turn: "Adding…" shows worker 0 holds it.)
        add = lb.says(USER, "/add " + SEED_ARTICLE.read_text(encoding="utf-8"))
        question = lb.says(USER, "why was the delegation cancelled?")
        lb.deliver(0, add)
        [status] = server.wait_for_bot_messages(USER, timeout=30)
        assert status.text == ADDING
        lb.deliver(1, question)
        [answer] = server.wait_for_bot_messages(USER, timeout=60)
        assert server.bot_message(USER, status.message_id).edited  # the add was done first
        assert (server.bot_message(USER, status.message_id).text or "").startswith("Added “Netanyahu")
        assert "refused to veto" in (answer.text or "") or "failure to veto" in (answer.text or "")
    finally:
        client.close()
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [stopped(worker) for worker in workers]
    logs = [(tmp_path / f"worker-{port}.log").read_text() for port in ports]
    assert codes == [0, 0], logs
    assert not any("Traceback" in log for log in logs), logs
    assert all("is running (webhook https://bot.example/telegram)" in log for log in logs), logs
    # Stopping leaves the webhook set: the other workers behind the URL may still be serving.
    assert server.webhook is not None and server.webhook["url"] == PUBLIC_URL
