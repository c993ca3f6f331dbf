"""The engine: the one object every front end (the CLI, the terminal chat, the Telegram bot) calls.
Front ends parse input and render output; the engine decides.

It wires the settings to storage (`index.storage.Storage`: SQLite + FAISS by default, PostgreSQL +
pgvector when VERBATIM_DATABASE_URL is set), the embedding
model, the reader and the answer path, and offers: ask, add (any `bot.sources.Source`), add_many, list,
delete, and the context around quotes. Every method is synchronous and may block (models, disk, the
network), so an event loop calls it in a worker thread; `draft_async` fetches links without blocking.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from verbatim.bot.answering import Answerer
from verbatim.bot.settings import Settings
from verbatim.bot.sources import DraftSource, FileSource, LinkSource, Source, TextSource, UploadSource
from verbatim.index.adding import Limits
from verbatim.index.embedder import Embedder, SentenceTransformerEmbedder
from verbatim.index.library import Library
from verbatim.index.models import Article, ArticleDraft, ArticleSummary, Sentence
from verbatim.index.reader import Reader, load_reader
from verbatim.index.storage import AddResult, Storage
from verbatim.retrieval.models import Answer, Citation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuoteRef:
    """A quote as a front end remembers it: its first sentence and how many follow it."""

    sentence_id: int
    extra: int = 0

    @classmethod
    def of(cls, citation: Citation) -> QuoteRef | None:
        if not citation.sentence_ids:
            return None
        return cls(citation.sentence_ids[0], len(citation.sentence_ids) - 1)


def refs_of(citations: Sequence[Citation]) -> tuple[QuoteRef, ...]:
    return tuple(ref for ref in (QuoteRef.of(c) for c in citations) if ref is not None)


@dataclass(frozen=True)
class QuoteContext:
    """A quote with the sentences around it."""

    article: Article
    sentences: list[Sentence]  # in article order
    cited: frozenset[int]  # ids of the quoted sentences


def open_storage(settings: Settings, embedder: Embedder) -> Storage:
    """PostgreSQL when VERBATIM_DATABASE_URL is set, else SQLite + FAISS in the data dir."""
    limits = Limits(
        max_article_chars=settings.max_article_chars,
        max_article_sentences=settings.max_article_sentences,
        max_collection_sentences=settings.max_collection_sentences,
    )
    url = settings.database_url.get_secret_value().strip() if settings.database_url else ""
    if url:
        from verbatim.index.postgres import PostgresLibrary

        return PostgresLibrary(url, embedder, limits=limits, pool_size=settings.database_pool_size)
    return Library(settings.resolved_data_dir(), embedder, limits=limits)


class Engine:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        reader: Reader | None = None,
    ) -> None:
        """`embedder` and `reader` let tests share loaded models across engines; by default both come
        from the settings (where `reader=off` means none)."""
        self.settings = settings
        self.embedder = embedder or SentenceTransformerEmbedder(
            settings.model,
            device=settings.device,
            batch_size=settings.embed_batch_size,
            torch_threads=settings.torch_threads,
        )
        self.storage: Storage = open_storage(settings, self.embedder)
        if reader is None:
            reader = load_reader(
                settings.reader,
                device=settings.device,
                torch_threads=settings.torch_threads,
                precision=settings.reader_precision,
            )
        self.reader = reader
        self.answerer = Answerer(
            self.storage, self.embedder, reader=self.reader, max_citations=settings.max_citations
        )

    def close(self) -> None:
        self.storage.close()

    def warm_up(self) -> None:
        """Load both networks now rather than on the first question."""
        self.embedder.embed_query("warm up")
        if self.reader is not None:
            self.reader.score("warm up", [("", "warm up")])

    # -- asking -----------------------------------------------------------------------------------

    def ask(self, collection: str, question: str) -> Answer:
        return self.answerer.ask(collection, question)

    # -- adding -----------------------------------------------------------------------------------

    def draft(self, source: Source) -> ArticleDraft:
        """The article a source holds: text split and titled, a file decoded, a link fetched."""
        from verbatim.index.ingest import draft_from_bytes, draft_from_file, draft_from_text

        limit = self.settings.max_article_chars
        match source:
            case TextSource(text, origin):
                return draft_from_text(text, max_chars=limit, source=origin)
            case FileSource(path):
                return draft_from_file(path, max_chars=limit)
            case UploadSource(data, name):
                return draft_from_bytes(data, name, max_chars=limit, source="file")
            case DraftSource(draft):
                return draft
            case LinkSource(url):
                from verbatim.index.extract import fetch_article_sync

                return fetch_article_sync(url, self.settings)
        raise TypeError(f"not a source: {source!r}")

    async def draft_async(self, source: Source) -> ArticleDraft:
        """`draft` for an event loop: a link is fetched on the loop, the rest runs in a worker thread."""
        if isinstance(source, LinkSource):
            from verbatim.index.extract import fetch_article

            return await fetch_article(source.url, self.settings)
        return await asyncio.to_thread(self.draft, source)

    def add(self, collection: str, source: Source | ArticleDraft) -> AddResult:
        draft = source if isinstance(source, ArticleDraft) else self.draft(source)
        return next(iter(self.storage.add_many(collection, [draft])))

    def add_many(self, collection: str, drafts: Iterable[ArticleDraft]) -> Iterator[AddResult]:
        """Bulk adding (a JSONL file): one transaction an article, embedded in batches."""
        return self.storage.add_many(collection, drafts)

    # -- the collection -----------------------------------------------------------------------------

    def list_articles(self, collection: str) -> list[ArticleSummary]:
        return self.storage.list_articles(collection)

    def delete(self, collection: str, ref: str) -> ArticleSummary:
        return self.storage.delete(collection, ref)

    def move_collection(self, old: str, new: str) -> int:
        """Move every article of `old` into `new` (a chat that got a new id); returns how many moved."""
        return self.storage.move_collection(old, new)

    def context(self, collection: str, refs: Sequence[QuoteRef]) -> list[QuoteContext]:
        """Each quote with the sentence before and after it; quotes whose article is gone are left out."""
        storage = self.storage
        found = storage.sentences(collection, [ref.sentence_id for ref in refs])
        article_ids = sorted({s.article_id for s in found.values()})
        articles = storage.articles(collection, article_ids)
        contexts = []
        for ref in refs:
            first = found.get(ref.sentence_id)
            if first is None or first.article_id not in articles:
                continue  # its article was deleted since the answer
            around = storage.neighbours(collection, first, radius=ref.extra + 1)
            sentences = [s for s in around if s.ordinal >= first.ordinal - 1]
            last = first.ordinal + ref.extra
            cited = frozenset(s.id for s in sentences if first.ordinal <= s.ordinal <= last)
            contexts.append(QuoteContext(articles[first.article_id], sentences, cited))
        return contexts
