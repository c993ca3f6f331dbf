"""The embedded storage: collections of articles in SQLite (the source of truth) with a FAISS index per
collection kept in step. Implements `index.storage.Storage`."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.embedder import Embedder
from index.errors import InputError, ModelMismatchError, NotFoundError
from index.faults import crash_point
from index.models import Article, ArticleDraft, ArticleSummary, Sentence, Span
from index.segment import split_sentences
from index.storage import AddResult, ContextRow, LexicalHit
from index.store import Store, article_id_for, text_fingerprint
from index.vectors import VectorIndex

log = logging.getLogger(__name__)

DB_NAME = "verbatim.sqlite3"
# Articles embedded together: big enough to keep the model's batches full, small enough that a
# progress bar moves and memory stays flat.
ADD_CHUNK_ARTICLES = 32


@dataclass
class _Prepared:
    draft: ArticleDraft
    article_id: str
    text_hash: str
    spans: list[Span]


class Library:
    def __init__(self, data_dir: Path, embedder: Embedder, *, max_article_chars: int = 1_000_000) -> None:
        self.data_dir = data_dir
        self.embedder = embedder
        self.max_article_chars = max_article_chars
        self.store = Store(data_dir / DB_NAME)
        self._vectors: dict[str, VectorIndex] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}  # collection -> (generation, sentence count)
        self._check_model_name()

    def close(self) -> None:
        self.store.close()

    # -- model manifest ---------------------------------------------------------------------------

    def _check_model_name(self) -> None:
        recorded = self.store.get_meta("model")
        if recorded is not None and recorded != self.embedder.name:
            raise ModelMismatchError(
                f"{self.data_dir} was indexed with the model {recorded!r},"
                f" but {self.embedder.name!r} is configured.",
                f"Set VERBATIM_MODEL={recorded} or use another --data-dir.",
            )

    def _check_model_dim(self) -> int:
        dim = self.embedder.dim
        recorded = self.store.get_meta("dim")
        if recorded is None:
            self.store.set_meta("model", self.embedder.name)
            self.store.set_meta("dim", str(dim))
        elif int(recorded) != dim:
            raise ModelMismatchError(
                f"{self.data_dir} holds {recorded}-dimensional vectors; the model gives {dim}.",
                "Use the model the collection was built with or another --data-dir.",
            )
        return dim

    # -- adding -----------------------------------------------------------------------------------

    def add(self, collection: str, draft: ArticleDraft) -> AddResult:
        return next(iter(self.add_many(collection, [draft])))

    def add_many(self, collection: str, drafts: Iterable[ArticleDraft]) -> Iterator[AddResult]:
        """Add articles; each is its own transaction, so a crash keeps those already done and no half."""
        chunk: list[ArticleDraft] = []
        for draft in drafts:
            chunk.append(draft)
            if len(chunk) >= ADD_CHUNK_ARTICLES:
                yield from self._add_chunk(collection, chunk)
                chunk = []
        if chunk:
            yield from self._add_chunk(collection, chunk)

    def _prepare(self, draft: ArticleDraft) -> _Prepared:
        if not draft.text.strip():
            raise InputError("The article is empty.")
        if len(draft.text) > self.max_article_chars:
            raise InputError(f"The article is too long ({len(draft.text):,} characters).")
        spans = split_sentences(draft.text)
        if not spans:
            raise InputError("The article has no sentences in it.")
        return _Prepared(draft, draft.id or article_id_for(draft.text), text_fingerprint(draft.text), spans)

    def _add_chunk(self, collection: str, drafts: list[ArticleDraft]) -> Iterator[AddResult]:
        todo: list[_Prepared] = []
        results: list[AddResult | _Prepared] = []
        seen: dict[str, _Prepared] = {}
        for draft in drafts:
            prepared = self._prepare(draft)
            existing = self.store.find_duplicate(collection, draft, prepared.text_hash)
            if existing is not None:
                results.append(AddResult(existing, created=False))
            elif prepared.text_hash in seen:
                results.append(seen[prepared.text_hash])  # the same text twice in one batch
            else:
                seen[prepared.text_hash] = prepared
                todo.append(prepared)
                results.append(prepared)
        if todo:
            dim = self._check_model_dim()
            texts = [p.draft.text[s.start : s.end] for p in todo for s in p.spans]
            vectors = self.embedder.embed(texts).reshape(len(texts), dim)
        added: dict[str, AddResult] = {}
        offset = 0
        with self._lock(collection):
            if todo:
                self._index(collection)  # loaded first, so the new vectors are added, not rebuilt
            for prepared in todo:
                n = len(prepared.spans)
                added[prepared.text_hash] = self._commit(collection, prepared, vectors[offset : offset + n])
                offset += n
            if todo:
                crash_point("add:after-commit")
                self._save_vectors(collection)
        for item in results:
            yield item if isinstance(item, AddResult) else added[item.text_hash]

    def import_embedded(self, collection: str, articles: Iterable[tuple[ArticleDraft, np.ndarray]]) -> int:
        """Bulk import of articles whose sentence vectors are already known (one row a sentence, in
        `split_sentences` order): one transaction an article, the vector index built once at the end
        rather than saved after every article. For migrations and benchmarks; returns articles added."""
        dim = self._check_model_dim()
        added = 0
        with self._lock(collection):
            for draft, vectors in articles:
                prepared = self._prepare(draft)
                if vectors.shape != (len(prepared.spans), dim):
                    raise InputError(f"{len(prepared.spans)} sentences but vectors of shape {vectors.shape}.")
                with self.store.transaction() as conn:
                    if self.store.find_duplicate(collection, draft, prepared.text_hash) is None:
                        self.store.insert_article(
                            conn,
                            collection,
                            draft,
                            prepared.article_id,
                            prepared.text_hash,
                            prepared.spans,
                            vectors,
                        )
                        added += 1
            self._vectors.pop(collection, None)
            self._index(collection)  # rebuilt from SQLite and saved
        return added

    def vector_kind(self, collection: str) -> str | None:
        """The collection's vector index type (flat or hnsw), loading it; None when it is empty."""
        with self._lock(collection):
            index = self._index(collection)
            return None if index is None else index.kind

    def _commit(self, collection: str, prepared: _Prepared, vectors: np.ndarray) -> AddResult:
        with self.store.transaction() as conn:
            # Checked again under the write lock: another process may have added it meanwhile.
            existing = self.store.find_duplicate(collection, prepared.draft, prepared.text_hash)
            if existing is not None:
                return AddResult(existing, created=False)
            article, ids, generation = self.store.insert_article(
                conn,
                collection,
                prepared.draft,
                prepared.article_id,
                prepared.text_hash,
                prepared.spans,
                vectors,
            )
            crash_point("add:before-commit")
        index = self._vectors.get(collection)
        if index is not None and index.generation == generation - 1:
            index.add(ids, vectors, generation)
        else:
            self._vectors.pop(collection, None)  # someone else wrote too: rebuild on next use
        return AddResult(article, created=True)

    # -- reading and deleting ---------------------------------------------------------------------

    def list_articles(self, collection: str) -> list[ArticleSummary]:
        return self.store.list_articles(collection)

    def resolve(self, collection: str, ref: str) -> ArticleSummary:
        """An article by id, or by its number in `list` (1-based)."""
        ref = ref.strip().lstrip("#")
        article = self.store.get_article(collection, ref)
        if article is not None:
            return article
        if ref.isdigit():
            articles = self.list_articles(collection)
            if 1 <= int(ref) <= len(articles):
                return articles[int(ref) - 1]
            raise NotFoundError(
                f"There is no article number {ref}; the collection holds {len(articles)}.", "See the list."
            )
        raise NotFoundError(f"No article {ref!r} in this collection.", "See the list for ids and numbers.")

    def delete(self, collection: str, ref: str) -> ArticleSummary:
        article = self.resolve(collection, ref)
        with self._lock(collection):
            with self.store.transaction() as conn:
                ids, generation = self.store.delete_article(conn, collection, article.id)
            index = self._vectors.get(collection)
            if index is not None and index.generation == generation - 1:
                # Removed in place when the index can; else _save_vectors rebuilds it from SQLite.
                index.remove(ids, generation)
            self._save_vectors(collection)
        return article

    # -- search -----------------------------------------------------------------------------------

    def embed_query(self, text: str) -> np.ndarray:
        return self.embedder.embed_query(text)

    def dense_search(self, collection: str, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        with self._lock(collection):
            index = self._index(collection)
            return [] if index is None else index.search(query_vector, k)

    def lexical_search(self, collection: str, terms: list[str], k: int) -> list[LexicalHit]:
        return self.store.lexical_search(collection, terms, k)

    def document_frequencies(self, collection: str, terms: list[str]) -> dict[str, int]:
        return self.store.document_frequencies(collection, terms)

    def sentences(self, collection: str, ids: list[int]) -> dict[int, Sentence]:
        return self.store.sentences_by_id(collection, ids)

    def candidate_context(self, collection: str, ids: Sequence[int]) -> list[ContextRow]:
        return self.store.candidate_context(collection, ids)

    def sentence_count(self, collection: str) -> int:
        """Sentences in `collection`, counted once per generation: COUNT(*) reads a whole index, which
        costs milliseconds a question at a million sentences."""
        # The generation is read first, so a count cached under it is never older than it.
        generation = self.store.generation(collection)
        cached = self._counts.get(collection)
        if cached is not None and cached[0] == generation:
            return cached[1]
        count = self.store.sentence_count(collection)
        self._counts[collection] = (generation, count)
        return count

    def articles(self, collection: str, article_ids: list[str]) -> dict[str, Article]:
        return self.store.articles_by_id(collection, article_ids)

    def neighbours(self, collection: str, sentence: Sentence, radius: int = 1) -> list[Sentence]:
        return self.store.neighbours(collection, sentence.article_id, sentence.ordinal, radius)

    # -- vectors ----------------------------------------------------------------------------------

    def _lock(self, collection: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(collection, threading.RLock())

    def _vector_path(self, collection: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", collection)[:40]
        digest = hashlib.sha256(collection.encode()).hexdigest()[:12]
        return self.data_dir / "vectors" / f"{safe}-{digest}"

    def _index(self, collection: str) -> VectorIndex | None:
        """The collection's index at the current generation: cached, loaded from disk, or rebuilt."""
        generation = self.store.generation(collection)
        if generation == 0:
            return None
        cached = self._vectors.get(collection)
        if cached is not None and cached.generation == generation:
            return cached
        index = VectorIndex.load(self._vector_path(collection), self.embedder.name, generation)
        if index is None:
            index = self._rebuild(collection, generation)
            index.save(self._vector_path(collection))
        self._vectors[collection] = index
        return index

    def _rebuild(self, collection: str, generation: int) -> VectorIndex:
        recorded = self.store.get_meta("dim")
        dim = int(recorded) if recorded else self._check_model_dim()
        ids, vectors = self.store.embeddings(collection, dim)
        log.info("rebuilding vectors of %r (%d sentences)", collection, len(ids))
        return VectorIndex.build(self.embedder.name, dim, generation, ids, vectors)

    def _save_vectors(self, collection: str) -> None:
        index = self._vectors.get(collection)
        if index is None or index.generation != self.store.generation(collection):
            self._vectors.pop(collection, None)
            self._index(collection)  # rebuilds from SQLite and saves
        else:
            index.save(self._vector_path(collection))
