"""The embedded storage: collections of articles in SQLite (the source of truth) with a FAISS index per
collection kept in step. Implements `index.storage.Storage`."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from verbatim.index import adding
from verbatim.index.adding import Limits, Prepared
from verbatim.index.embedder import Embedder
from verbatim.index.errors import InputError, ModelMismatchError, StorageError
from verbatim.index.faults import crash_point
from verbatim.index.models import Article, ArticleDraft, ArticleSummary, Sentence
from verbatim.index.storage import AddResult, ContextRow, LexicalHit
from verbatim.index.store import Store
from verbatim.index.vectors import VectorIndex

log = logging.getLogger(__name__)

DB_NAME = "verbatim.sqlite3"


class Library:
    def __init__(
        self,
        data_dir: Path,
        embedder: Embedder,
        *,
        limits: Limits | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.embedder = embedder
        self.limits = limits or Limits()
        _check_data_dir(data_dir)
        self.store = Store(data_dir / DB_NAME)
        self._vectors: dict[str, VectorIndex] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._check_model_name()

    @property
    def read_only(self) -> bool:
        """Opened from a directory Verbatim may not write: reading works, changes are refused."""
        return self.store.read_only

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
            crash_point("meta:after-model")  # the model recorded, its dimension not yet
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
        """Add articles; each is its own transaction, so a crash keeps those already done and no half.

        Results come in the order of `drafts`. An article that cannot be added (an `InputError`: empty,
        too long, an id taken by another text) or a collection that is full (`CollectionFullError`) stops
        the run: every article before it is added and its result yielded first, none after it is
        touched, so a caller can report it and go on with the next ones."""
        for chunk in adding.chunks(drafts, self.limits):
            if isinstance(chunk, InputError):
                raise chunk
            yield from self._add_chunk(collection, chunk)

    def _add_chunk(self, collection: str, chunk: list[Prepared]) -> Iterator[AddResult]:
        """Add `chunk` in order, stopping at the first article that fails: the results before it are
        yielded, then its error is raised."""
        self._refuse_writes()
        chunk_plan = adding.plan(
            chunk,
            lambda p: self.store.find_duplicate(collection, p.draft, p.text_hash, p.article_id),
            self.sentence_count(collection),
            self.limits,
        )
        todo = chunk_plan.todo
        if todo:
            vectors = adding.embed_sentences(self.embedder, todo, self._check_model_dim())
        added: dict[str, AddResult] = {}
        error: BaseException | None = None
        offset = 0
        with self._lock(collection):
            if todo:
                self._index(collection)  # loaded first, so the new vectors are added, not rebuilt
            try:
                for prepared in todo:
                    n = len(prepared.spans)
                    rows = vectors[offset : offset + n]
                    added[prepared.text_hash] = self._commit(collection, prepared, rows)
                    offset += n
            except Exception as exc:  # a disk full, an id taken meanwhile: keep what was committed
                error = exc
            if added:
                crash_point("add:after-commit")
                self._save_vectors(collection)
        yield from adding.results(chunk_plan, added, error)

    def import_embedded(self, collection: str, articles: Iterable[tuple[ArticleDraft, np.ndarray]]) -> int:
        """Bulk import of articles whose sentence vectors are already known (one row a sentence, in
        `split_sentences` order): one transaction an article, the vector index built once at the end
        rather than saved after every article. For migrations and benchmarks; returns articles added."""
        self._refuse_writes()
        dim = self._check_model_dim()
        added = 0
        with self._lock(collection):
            held = self.store.sentence_count(collection)
            for draft, vectors in articles:
                prepared = adding.prepare(draft, self.limits)
                if vectors.shape != (len(prepared.spans), dim):
                    raise InputError(f"{len(prepared.spans)} sentences but vectors of shape {vectors.shape}.")
                with self.store.transaction() as conn:
                    existing = self.store.find_duplicate(
                        collection, draft, prepared.text_hash, prepared.article_id
                    )
                    if existing is None:
                        if held + len(prepared.spans) > self.limits.max_collection_sentences:
                            raise adding.collection_full(held, len(prepared.spans), self.limits)
                        held += len(prepared.spans)
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

    def _commit(self, collection: str, prepared: Prepared, vectors: np.ndarray) -> AddResult:
        with self.store.transaction() as conn:
            # Checked again under the write lock: another process may have added it meanwhile.
            existing = self.store.find_duplicate(
                collection, prepared.draft, prepared.text_hash, prepared.article_id
            )
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
        """An article by its list number or id (see `index.adding.resolve`)."""
        return adding.resolve(
            ref, lambda: self.list_articles(collection), lambda i: self.store.get_article(collection, i)
        )

    def delete(self, collection: str, ref: str) -> ArticleSummary:
        article = self.resolve(collection, ref)
        self._refuse_writes()
        with self._lock(collection):
            with self.store.transaction() as conn:
                ids, generation = self.store.delete_article(conn, collection, article.id)
                crash_point("delete:before-commit")
            crash_point("delete:after-commit")  # SQLite changed, the vector file not yet
            index = self._vectors.get(collection)
            if index is not None and index.generation == generation - 1:
                # Removed in place when the index can; else _save_vectors rebuilds it from SQLite.
                index.remove(ids, generation)
            self._save_vectors(collection)
        return article

    def move_collection(self, old: str, new: str) -> int:
        """Move every article of `old` into `new` (a Telegram group that became a supergroup); returns
        how many moved. Idempotent: moving an empty or unknown collection moves nothing. Articles `new`
        already holds are kept once. The vector files of both are dropped and rebuilt from SQLite on
        next use: cheaper to write than a merge, and a migration happens once in a chat's life."""
        if old == new:
            return 0
        self._refuse_writes()
        first, second = sorted((old, new))
        with self._lock(first), self._lock(second):
            if not self.store.list_articles(old):
                return 0
            with self.store.transaction() as conn:
                moved, _generation = self.store.move_collection(conn, old, new)
            for name in (old, new):
                self._vectors.pop(name, None)
                for suffix in (".faiss", ".json"):
                    self._vector_path(name).with_suffix(suffix).unlink(missing_ok=True)
        log.info("moved %d articles from %r to %r", moved, old, new)
        return moved

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
        return self.store.sentence_count(collection)

    def article_sentences(self, collection: str, article_id: str) -> list[Sentence]:
        return self.store.article_sentences(collection, article_id)

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
        index = VectorIndex.load(
            self._vector_path(collection), self.embedder.name, generation, read_only=self.read_only
        )
        if index is None:
            index = self._rebuild(collection, generation)
            crash_point("rebuild:before-save")
            self._write_vectors(collection, index)
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
            self._write_vectors(collection, index)

    def _write_vectors(self, collection: str, index: VectorIndex) -> None:
        """Save `index`; when it cannot be (a read-only directory, a full disk) the one in memory serves
        this process and the next one rebuilds it from SQLite, which holds every vector: a warning, not
        a failure."""
        if self.read_only:
            return
        try:
            index.save(self._vector_path(collection))
        except (OSError, RuntimeError) as exc:  # FAISS reports a failed write as a RuntimeError
            log.warning("could not save the vector index of %r (%s); it will be rebuilt", collection, exc)

    def _refuse_writes(self) -> None:
        if self.read_only:
            raise StorageError(
                f"{self.data_dir} is read-only: its articles can be listed and asked about, not changed.",
                "Use a data directory you may write to (--data-dir or VERBATIM_DATA_DIR).",
            )


def _check_data_dir(data_dir: Path) -> None:
    """One clear error for a data directory that is a file, or cannot be created."""
    if data_dir.exists() and not data_dir.is_dir():
        raise StorageError(
            f"The data directory {data_dir} is a file, not a directory.",
            "Point --data-dir (or VERBATIM_DATA_DIR) at a directory.",
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, FileExistsError | NotADirectoryError):
            reason = "part of that path is a file"
        raise StorageError(
            f"Cannot create the data directory {data_dir}: {reason}.",
            "Point --data-dir (or VERBATIM_DATA_DIR) at a directory you may write to.",
        ) from None
    if not os.access(data_dir, os.R_OK | os.X_OK):
        raise StorageError(f"Cannot read the data directory {data_dir}: permission denied.")
