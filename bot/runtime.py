"""Build the engine from settings: the one place that wires model, storage and retrieval together."""

from __future__ import annotations

import logging

from bot.settings import Settings
from index.embedder import Embedder, SentenceTransformerEmbedder
from index.library import Library
from index.reader import load_reader
from retrieval.pipeline import Answerer

log = logging.getLogger(__name__)


class Engine:
    """A library and its answerer, opened once per process and shared by every front end."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        """`embedder` lets tests share one loaded model across engines; by default it comes from settings."""
        self.settings = settings
        embedder = embedder or SentenceTransformerEmbedder(
            settings.model,
            device=settings.device,
            batch_size=settings.embed_batch_size,
            torch_threads=settings.torch_threads,
        )
        self.library = Library(
            settings.resolved_data_dir(), embedder, max_article_chars=settings.max_article_chars
        )
        self.answerer = build_answerer(self.library, settings)

    def close(self) -> None:
        self.library.close()


def build_answerer(library: Library, settings: Settings) -> Answerer:
    """The answerer over `library`, with the reader the settings name (none when `off`)."""
    reader = load_reader(settings.reader, device=settings.device, torch_threads=settings.torch_threads)
    return Answerer(library, max_citations=settings.max_citations, reader=reader)
