from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from verbatim.bot.answering import Answerer
from verbatim.bot.settings import Settings
from verbatim.index.embedder import SentenceTransformerEmbedder
from verbatim.index.library import Library
from verbatim.index.reader import BundledReader

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED_ARTICLE = SHARED / "eval" / "seed" / "article.txt"


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real default model, loaded once for the whole test session."""
    model = SentenceTransformerEmbedder(Settings().model)
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def reader() -> BundledReader:
    """The bundled reader, loaded once for the whole test session."""
    model = BundledReader()
    model.warm_up()
    return model


@pytest.fixture
def library(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> Iterator[Library]:
    lib = Library(tmp_path / "data", embedder)
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
    env["VERBATIM_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


VERBATIM = [sys.executable, "-m", "verbatim.bot.cli"]
