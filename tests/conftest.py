from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from verbatim.bot.answering import Answerer
from verbatim.bot.settings import Settings
from verbatim.index.embedder import Embedder, SentenceTransformerEmbedder
from verbatim.index.library import Library
from verbatim.index.postgres import PostgresLibrary
from verbatim.index.reader import BundledReader

from tests import postgres
from tests.fake_telegram import FakeTelegram
from tests.telegram_cast import ADMIN, ANON_ADMIN, GROUP, OTHER, USER

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED_ARTICLE = SHARED / "eval" / "seed" / "article.txt"
# `make test` runs two pytest-xdist workers, a core each: torch left to take every core beside another
# busy process runs several times slower than with one thread.
TORCH_THREADS = "1" if os.environ.get("PYTEST_XDIST_WORKER") else None
if TORCH_THREADS:
    os.environ["VERBATIM_TORCH_THREADS"] = TORCH_THREADS


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real default model, loaded once for the whole test session."""
    settings = Settings()
    model = SentenceTransformerEmbedder(settings.model, torch_threads=settings.torch_threads)
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def reader() -> BundledReader:
    """The bundled reader, loaded once for the whole test session."""
    settings = Settings()
    model = BundledReader(torch_threads=settings.torch_threads, precision=settings.reader_precision)
    model.warm_up()
    return model


BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A running PostgreSQL with pgvector (tests/postgres.py), once a session."""
    return postgres.start_server(tmp_path_factory.mktemp("postgres"))


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database of its own for one test."""
    with postgres.fresh_database(postgres_server) as url:
        yield url


def open_storage(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, embedder: Embedder, **kw: Any
) -> Library | PostgresLibrary:
    """A library on `backend`: SQLite + FAISS in `tmp_path`, or PostgreSQL in a fresh database."""
    if backend == "sqlite":
        return Library(tmp_path / "data", embedder, **kw)
    return PostgresLibrary(request.getfixturevalue("postgres_url"), embedder, **kw)


def reopen(lib: Library | PostgresLibrary, embedder: Embedder, **kw: Any) -> Library | PostgresLibrary:
    """The same storage opened afresh, as another process would."""
    if isinstance(lib, Library):
        return Library(lib.data_dir, embedder, **kw)
    return PostgresLibrary(lib.url, embedder, **kw)


@pytest.fixture(params=BACKENDS)
def library(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> Iterator[Library | PostgresLibrary]:
    """The library on each backend, with the real model."""
    lib = open_storage(request.param, request, tmp_path, embedder)
    yield lib
    lib.close()


@pytest.fixture
def answerer(library: Library, reader: BundledReader) -> Answerer:
    """The answerer as the product runs it: ranker, then the bundled reader."""
    return Answerer(library, library.embedder, reader=reader)


@pytest.fixture
def seed_text() -> str:
    return SEED_ARTICLE.read_text(encoding="utf-8")


def verbatim_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for running the CLI in a subprocess against an isolated data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERBATIM_")}
    if TORCH_THREADS:
        env["VERBATIM_TORCH_THREADS"] = TORCH_THREADS
    env["VERBATIM_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


VERBATIM = [sys.executable, "-m", "verbatim.bot.cli"]


fake_server = FakeTelegram.fixture("fake_server")


@pytest.fixture
def fake(fake_server: FakeTelegram) -> FakeTelegram:
    """The fake Bot API with the tests' people and group (teardown fails on unexpected error answers)."""
    fake_server.add_user(USER, "Ada", "ada")
    fake_server.add_user(OTHER, "Bob", "bob")
    fake_server.add_user(ADMIN, "Cleo", "cleo")
    fake_server.add_user(ANON_ADMIN, "Dan", "dan")
    fake_server.add_chat(GROUP, "supergroup", "Newsroom")
    return fake_server
