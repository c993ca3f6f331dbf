"""Build the engine from settings: the one place that wires model, storage and retrieval together."""

from __future__ import annotations

import logging

from bot.settings import Settings
from index.embedder import SentenceTransformerEmbedder
from index.library import Library
from retrieval.pipeline import Answerer

log = logging.getLogger(__name__)


class Engine:
    """A library and its answerer, opened once per process and shared by every front end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        embedder = SentenceTransformerEmbedder(
            settings.model,
            device=settings.device,
            batch_size=settings.embed_batch_size,
            torch_threads=settings.torch_threads,
        )
        self.library = Library(
            settings.resolved_data_dir(), embedder, max_article_chars=settings.max_article_chars
        )
        self.answerer = Answerer(self.library, max_citations=settings.max_citations)

    def close(self) -> None:
        self.library.close()
