"""`verbatim chat`: the terminal conversation, line by line, on the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from verbatim.bot.console import HELP, handle_line
from verbatim.bot.engine import Engine
from verbatim.bot.settings import Settings
from verbatim.index.embedder import SentenceTransformerEmbedder

from tests.conftest import SEED_ARTICLE

pytestmark = pytest.mark.slow  # the real model


def test_a_conversation(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    engine = Engine(Settings(_env_file=None, data_dir=tmp_path), embedder)  # type: ignore[call-arg]
    try:
        assert handle_line(engine, "c", "/help") == HELP
        assert "no articles here yet" in (handle_line(engine, "c", "why was the delegation cancelled?") or "")
        assert "Added “Netanyahu sending delegation" in (
            handle_line(engine, "c", f"/add {SEED_ARTICLE}") or ""
        )
        assert "Already there" in (handle_line(engine, "c", f"/add {SEED_ARTICLE}") or "")
        answer = handle_line(engine, "c", "why was the delegation cancelled?") or ""
        assert "veto" in answer and "[1] Netanyahu sending delegation" in answer
        pasted = handle_line(
            engine, "c", "/add Tram line opens. The new tram line opened on Friday in Leeds."
        )
        assert pasted is not None and pasted.startswith("Added")
        assert (handle_line(engine, "c", "/list") or "").splitlines()[1].startswith("2. Tram line opens.")
        assert "Deleted" in (handle_line(engine, "c", "/delete 2") or "")
        assert "Unknown command /nope" in (handle_line(engine, "c", "/nope") or "")
        assert handle_line(engine, "c", "/quit") is None
    finally:
        engine.close()
