"""SQLite storage for collections, articles and sentences (with their embeddings and BM25 postings).

SQLite is the source of truth: an add or delete is one transaction, so a crash leaves the collection
exactly as it was before or after it. FAISS files are a cache rebuilt from here when stale.

A database in a directory Verbatim may not write is opened read-only (reading works, writes are refused).
SQLite failures a user can act on (a damaged file, a full disk, a read-only or busy database) surface as
one-line `StorageError`s; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from verbatim.index import bm25
from verbatim.index.errors import DuplicateIdError, StorageError, VerbatimError
from verbatim.index.models import Article, ArticleDraft, ArticleSummary, Sentence, Span
from verbatim.index.storage import ContextRow, LexicalHit, context_rows
from verbatim.index.text import term_string, words

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections(
    name TEXT PRIMARY KEY,
    generation INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    -- BM25's statistics of the collection alone (index.bm25): its sentences and their summed lengths.
    sentence_count INTEGER NOT NULL DEFAULT 0,
    term_total INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS articles(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL REFERENCES collections(name),
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    url TEXT,
    author TEXT,
    published TEXT,
    source TEXT NOT NULL,
    added_at TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    sentence_count INTEGER NOT NULL,
    UNIQUE(collection, id),
    UNIQUE(collection, text_hash)
);
CREATE INDEX IF NOT EXISTS articles_url ON articles(collection, url);
CREATE TABLE IF NOT EXISTS sentences(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_seq INTEGER NOT NULL REFERENCES articles(seq),
    collection TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    paragraph INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    text TEXT NOT NULL,
    terms TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS term_df(
    collection TEXT NOT NULL,
    term TEXT NOT NULL,
    df INTEGER NOT NULL,
    PRIMARY KEY(collection, term)
) WITHOUT ROWID;
-- One row per distinct stemmed term (index.text) of a sentence: what BM25 sums over, per collection.
CREATE TABLE IF NOT EXISTS postings(
    collection TEXT NOT NULL,
    term TEXT NOT NULL,
    sentence_id INTEGER NOT NULL,
    tf INTEGER NOT NULL,
    len INTEGER NOT NULL,
    PRIMARY KEY(collection, term, sentence_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_seq, ordinal);
CREATE INDEX IF NOT EXISTS sentences_collection ON sentences(collection, id);
-- A paragraph's sentences: every candidate's ranking context (built on first open of older files).
CREATE INDEX IF NOT EXISTS sentences_paragraph ON sentences(article_seq, paragraph);
"""

_INSERT_POSTING = "INSERT INTO postings(collection, term, sentence_id, tf, len) VALUES (?,?,?,?,?)"


def _posting_rows(collection: str, sentence_id: int, terms: str) -> list[tuple[str, str, int, int, int]]:
    counts, length = bm25.postings(terms)
    return [(collection, term, sentence_id, tf, length) for term, tf in counts.items()]


def _schema_version(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else str(row[0])


def _upgrade_from_1(conn: sqlite3.Connection) -> None:
    """Schema 1 ranked with an FTS5 index over all collections together; 2 keeps postings and statistics
    per collection. Runs inside the opening transaction, after `_SCHEMA` has made the postings table."""
    conn.execute("DROP TRIGGER IF EXISTS sentences_ai")
    conn.execute("DROP TRIGGER IF EXISTS sentences_ad")
    conn.execute("DROP TABLE IF EXISTS sentences_fts")
    # CREATE TABLE IF NOT EXISTS leaves the existing collections table as it was.
    conn.execute("ALTER TABLE collections ADD COLUMN sentence_count INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE collections ADD COLUMN term_total INTEGER NOT NULL DEFAULT 0")
    sentences = conn.execute("SELECT id, collection, terms FROM sentences ORDER BY id")
    conn.executemany(_INSERT_POSTING, (p for s in sentences for p in _posting_rows(s[1], s[0], s[2])))
    conn.execute(
        "UPDATE collections SET sentence_count = c.n FROM"
        " (SELECT collection, COUNT(*) AS n FROM sentences GROUP BY collection) c WHERE c.collection = name"
    )
    # A sentence without terms has no postings and adds nothing to the total.
    conn.execute(
        "UPDATE collections SET term_total = t.n FROM (SELECT collection, SUM(len) AS n FROM"
        " (SELECT DISTINCT collection, sentence_id, len FROM postings) GROUP BY collection) t"
        " WHERE t.collection = name"
    )
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def text_fingerprint(text: str) -> str:
    """Hash of the text with case, Unicode form and whitespace normalised: the dedup key."""
    normalised = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def article_id_for(text: str) -> str:
    """Content-derived id, so a citation stays valid when the collection is rebuilt."""
    return text_fingerprint(text)[:12]


# Texts at one URL are one story when at least half of the shorter one's 5-word runs are in the other:
# a page fetched again after an edit or with other page furniture, not two stories behind one generic
# canonical URL (a home page, a section front).
_SHINGLE_WORDS = 5
SAME_STORY_SHARE = 0.5
# Articles at the draft's URL compared with it, most recent first: a generic URL may front thousands.
_URL_CANDIDATES = 20


def _shingles(text: str) -> set[int]:
    w = words(text)
    return {hash(tuple(w[i : i + _SHINGLE_WORDS])) for i in range(max(1, len(w) - _SHINGLE_WORDS + 1))}


def same_story(a: str, b: str) -> bool:
    """Whether two texts are versions of one article (see SAME_STORY_SHARE)."""
    sa, sb = _shingles(a), _shingles(b)
    return len(sa & sb) >= SAME_STORY_SHARE * min(len(sa), len(sb))


def id_taken(article_id: str) -> DuplicateIdError:
    return DuplicateIdError(
        f"The id {article_id!r} is already given to another article, with a different text.",
        "Give this article its own id (or none).",
    )


_ELSEWHERE = "Use a data directory you may write to (--data-dir or VERBATIM_DATA_DIR)."


def _is_read_only(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(target, uri=uri, check_same_thread=False, isolation_level=None, timeout=30.0)
    conn.row_factory = sqlite3.Row
    return conn


def _may_write(path: Path) -> bool:
    """Whether SQLite may write `path` (and its -wal and -shm files beside it)."""
    if not os.access(path.parent, os.W_OK):
        return False
    return not path.exists() or os.access(path, os.W_OK)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.read_only = False
        # One connection guarded by a lock: calls arrive from worker threads (asyncio.to_thread).
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StorageError(f"Cannot create the data directory {path.parent}: {reason}.") from None
        self._conn = self._open_writable() if _may_write(path) else self._open_read_only()
        try:
            recorded = self.get_meta("schema_version")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise self._describe(exc, opening=True) or exc from None
        if recorded == "1" and self.read_only:
            self._conn.close()
            raise VerbatimError(
                f"{path} was written by an older version of Verbatim (schema 1) and is read-only here, so"
                " it cannot be upgraded.",
                "Open it once where it can be written (this version upgrades it then), or use that version.",
            )
        if recorded != SCHEMA_VERSION:
            self._conn.close()
            raise VerbatimError(
                f"{path} was written by another version of Verbatim (schema {recorded}, this one reads"
                f" {SCHEMA_VERSION}).",
                "Use that version, or another --data-dir and add the articles again.",
            )

    def _open_writable(self) -> sqlite3.Connection:
        try:
            conn = _connect(str(self.path))
        except sqlite3.DatabaseError as exc:
            raise self._describe(exc, opening=True) or exc from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            # 64 MiB of page cache rather than 2: a question reads posting lists and paragraphs that the
            # next question reads again (halved the lexical search on SQuAD).
            conn.execute("PRAGMA cache_size=-65536")
            # The schema and any upgrade are one transaction: a crash leaves the file as it was.
            conn.executescript(
                f"BEGIN IMMEDIATE;{_SCHEMA}"
                f"INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');"
            )
            upgrading = _schema_version(conn) == "1"
            if upgrading:
                _upgrade_from_1(conn)
            conn.execute("COMMIT")
            if upgrading:
                log.info("upgraded %s to schema 2: BM25 postings per collection instead of FTS5", self.path)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if self.path.exists() and _is_read_only(exc):  # a read-only file system, say
                return self._open_read_only()
            raise self._describe(exc, opening=True) or exc from None
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        """The database for reading only: Verbatim may not write where it is."""
        if not self.path.exists():
            raise StorageError(
                f"{self.path.parent} is read-only and holds no Verbatim database yet.",
                "Use a data directory you may write to (--data-dir or VERBATIM_DATA_DIR).",
            )
        self.read_only = True
        uri = self.path.resolve().as_uri()
        try:
            conn = _connect(f"{uri}?mode=ro", uri=True)
            try:
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError as exc:
                if not (_is_read_only(exc) or "unable to open" in str(exc).lower()):
                    raise
                # A WAL database whose -shm file is gone cannot be opened read-only where that file
                # cannot be made again (SQLITE_READONLY_DIRECTORY); it was closed cleanly (or the -shm
                # would be there), so reading it as an unchanging file is right.
                conn.close()
                conn = _connect(f"{uri}?immutable=1", uri=True)
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            conn.execute("PRAGMA cache_size=-65536")
        except sqlite3.DatabaseError as exc:
            raise self._describe(exc, opening=True) or exc from None
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _describe(self, exc: sqlite3.DatabaseError, *, opening: bool = False) -> VerbatimError | None:
        """The one-line error for a SQLite failure a user can act on; None for one that is a bug."""
        if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
            return None
        text = str(exc).lower()
        where = self.path
        if "malformed" in text or "not a database" in text or "encrypted" in text:
            return StorageError(
                f"{where} is damaged or is not a Verbatim database ({exc}).",
                "Restore it from a backup, or move it aside and add the articles again.",
            )
        if opening and "no such table" in text:
            return StorageError(f"{where} is an SQLite database, but not one of Verbatim's.", _ELSEWHERE)
        if "full" in text:
            return StorageError(
                f"The disk that holds {where} is full ({exc}).", "Free some space and try again."
            )
        if _is_read_only(exc):
            return StorageError(f"{where} is read-only: it can be read, not changed.", _ELSEWHERE)
        if "locked" in text or "busy" in text:
            return StorageError(
                f"{where} stayed busy: another Verbatim process is writing to it.", "Try again in a moment."
            )
        if "disk i/o error" in text or "unable to open" in text:
            return StorageError(f"Cannot read or write {where} ({exc}).")
        return None

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, to this thread alone; SQLite failures a user can act on become StorageErrors."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.DatabaseError as exc:
                error = self._describe(exc)
                if error is None:
                    raise
                raise error from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: takes the write lock up front so concurrent writers queue."""
        if self.read_only:
            raise StorageError(f"{self.path.parent} is read-only: it can be read, not changed.", _ELSEWHERE)
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk does): then there is nothing to undo.
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    # -- meta -----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._locked():
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- collections ------------------------------------------------------------------------------

    def generation(self, collection: str) -> int:
        with self._locked():
            row = self._conn.execute(
                "SELECT generation FROM collections WHERE name = ?", (collection,)
            ).fetchone()
        return 0 if row is None else int(row["generation"])

    @staticmethod
    def _bump(conn: sqlite3.Connection, collection: str) -> int:
        conn.execute(
            "INSERT INTO collections(name, generation, created_at) VALUES (?, 0, ?)"
            " ON CONFLICT(name) DO NOTHING",
            (collection, datetime.now(UTC).isoformat()),
        )
        conn.execute("UPDATE collections SET generation = generation + 1 WHERE name = ?", (collection,))
        row = conn.execute("SELECT generation FROM collections WHERE name = ?", (collection,)).fetchone()
        return int(row["generation"])

    # -- articles ---------------------------------------------------------------------------------

    def find_duplicate(
        self, collection: str, draft: ArticleDraft, text_hash: str, article_id: str | None = None
    ) -> Article | None:
        """The stored article that `draft` repeats: the same normalised text, or the same URL and much
        the same text (`same_story`). Raises `DuplicateIdError` when the draft's id (`article_id`, else
        `draft.id`) is already another text's: a different article is never taken for a copy."""
        article_id = article_id or draft.id
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT * FROM articles WHERE collection = ? AND (text_hash = ? OR id = ?)",
                (collection, text_hash, article_id or ""),
            ).fetchall()
            same_text = next((r for r in rows if r["text_hash"] == text_hash), None)
            if same_text is not None:
                return _article(same_text)
            if rows:
                raise id_taken(str(article_id))
            if not draft.url:
                return None
            at_url = conn.execute(
                "SELECT * FROM articles WHERE collection = ? AND url = ? ORDER BY seq DESC LIMIT ?",
                (collection, draft.url, _URL_CANDIDATES),
            ).fetchall()
        return next((_article(r) for r in at_url if same_story(r["text"], draft.text)), None)

    def insert_article(
        self,
        conn: sqlite3.Connection,
        collection: str,
        draft: ArticleDraft,
        article_id: str,
        text_hash: str,
        spans: Sequence[Span],
        vectors: np.ndarray,
    ) -> tuple[Article, list[int], int]:
        """Insert inside the caller's transaction; returns the article, its sentence ids, the generation."""
        generation = self._bump(conn, collection)
        added_at = datetime.now(UTC)
        cursor = conn.execute(
            "INSERT INTO articles(collection, id, title, text, url, author, published, source, added_at,"
            " text_hash, sentence_count) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                collection,
                article_id,
                draft.title,
                draft.text,
                draft.url,
                draft.author,
                draft.published.isoformat() if draft.published else None,
                draft.source,
                added_at.isoformat(),
                text_hash,
                len(spans),
            ),
        )
        seq = cursor.lastrowid
        rows = []
        sentence_terms = []
        for n, s in enumerate(spans):
            sentence = draft.text[s.start : s.end]
            terms = term_string(sentence)
            sentence_terms.append(terms)
            rows.append(
                (seq, collection, n, s.paragraph, s.start, s.end, sentence, terms, vectors[n].tobytes())
            )
        conn.executemany(
            "INSERT INTO sentences(article_seq, collection, ordinal, paragraph, start_char, end_char, text,"
            " terms, embedding) VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )
        ids = [
            int(r[0])
            for r in conn.execute(
                "SELECT id FROM sentences WHERE article_seq = ? ORDER BY ordinal", (seq,)
            ).fetchall()
        ]
        self._add_statistics(conn, collection, list(zip(ids, sentence_terms, strict=True)))
        article = Article.from_draft(
            draft, id=article_id, collection=collection, added_at=added_at, sentence_count=len(spans)
        )
        return article, ids, generation

    @staticmethod
    def _add_statistics(conn: sqlite3.Connection, collection: str, sentences: list[tuple[int, str]]) -> None:
        """Postings, document frequencies and the collection's totals for new (sentence id, terms)."""
        postings = [p for sid, terms in sentences for p in _posting_rows(collection, sid, terms)]
        # In key order, so the inserts walk each B-tree once rather than jumping about it.
        postings.sort(key=lambda p: (p[1], p[2]))
        conn.executemany(_INSERT_POSTING, postings)
        df = Counter(p[1] for p in postings)
        conn.executemany(
            "INSERT INTO term_df(collection, term, df) VALUES (?,?,?)"
            " ON CONFLICT(collection, term) DO UPDATE SET df = df + excluded.df",
            [(collection, term, count) for term, count in sorted(df.items())],
        )
        conn.execute(
            "UPDATE collections SET sentence_count = sentence_count + ?, term_total = term_total + ?"
            " WHERE name = ?",
            (len(sentences), sum(len(terms.split()) for _, terms in sentences), collection),
        )

    def delete_article(
        self, conn: sqlite3.Connection, collection: str, article_id: str
    ) -> tuple[list[int], int]:
        row = conn.execute(
            "SELECT seq FROM articles WHERE collection = ? AND id = ?", (collection, article_id)
        ).fetchone()
        if row is None:
            return [], self.generation(collection)
        seq = int(row["seq"])
        rows = conn.execute("SELECT id, terms FROM sentences WHERE article_seq = ?", (seq,)).fetchall()
        ids = [int(r["id"]) for r in rows]
        self._remove_statistics(conn, collection, [(int(r["id"]), str(r["terms"])) for r in rows])
        conn.execute("DELETE FROM sentences WHERE article_seq = ?", (seq,))
        conn.execute("DELETE FROM articles WHERE seq = ?", (seq,))
        return ids, self._bump(conn, collection)

    @staticmethod
    def _remove_statistics(
        conn: sqlite3.Connection, collection: str, sentences: list[tuple[int, str]]
    ) -> None:
        """Undoes `_add_statistics` for sentences about to be deleted."""
        keys = sorted((term, sid) for sid, terms in sentences for term in set(terms.split()))
        conn.executemany(
            "DELETE FROM postings WHERE collection = ? AND term = ? AND sentence_id = ?",
            [(collection, term, sid) for term, sid in keys],
        )
        df = Counter(term for term, _ in keys)
        conn.executemany(
            "UPDATE term_df SET df = df - ? WHERE collection = ? AND term = ?",
            [(count, collection, term) for term, count in sorted(df.items())],
        )
        conn.execute("DELETE FROM term_df WHERE collection = ? AND df <= 0", (collection,))
        conn.execute(
            "UPDATE collections SET sentence_count = sentence_count - ?, term_total = term_total - ?"
            " WHERE name = ?",
            (len(sentences), sum(len(terms.split()) for _, terms in sentences), collection),
        )

    def list_articles(self, collection: str) -> list[ArticleSummary]:
        """The collection's articles in the order they were added, without their texts."""
        with self._locked():
            rows = self._conn.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM articles WHERE collection = ? ORDER BY seq", (collection,)
            ).fetchall()
        return [ArticleSummary(**_summary_fields(r)) for r in rows]

    def get_article(self, collection: str, article_id: str) -> Article | None:
        with self._locked():
            row = self._conn.execute(
                "SELECT * FROM articles WHERE collection = ? AND id = ?", (collection, article_id)
            ).fetchone()
        return None if row is None else _article(row)

    def articles_by_id(self, collection: str, article_ids: Sequence[str]) -> dict[str, Article]:
        if not article_ids:
            return {}
        marks = ",".join("?" * len(article_ids))
        with self._locked():
            rows = self._conn.execute(
                f"SELECT * FROM articles WHERE collection = ? AND id IN ({marks})", (collection, *article_ids)
            ).fetchall()
        return {r["id"]: _article(r) for r in rows}

    # -- sentences --------------------------------------------------------------------------------

    _SENTENCE_COLUMNS = "s.id, a.id AS article_id, s.ordinal, s.paragraph, s.start_char, s.end_char, s.text"

    def sentences_by_id(self, collection: str, ids: Sequence[int]) -> dict[int, Sentence]:
        """Only sentences that still exist in `collection`: a stale vector id can never come back."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._locked():
            rows = self._conn.execute(
                f"SELECT {self._SENTENCE_COLUMNS} FROM sentences s JOIN articles a ON a.seq = s.article_seq"
                f" WHERE s.collection = ? AND s.id IN ({marks})",
                (collection, *ids),
            ).fetchall()
        return {int(r["id"]): _sentence(r) for r in rows}

    def article_sentences(self, collection: str, article_id: str) -> list[Sentence]:
        with self._locked():
            rows = self._conn.execute(
                f"SELECT {self._SENTENCE_COLUMNS} FROM sentences s JOIN articles a ON a.seq = s.article_seq"
                " WHERE a.collection = ? AND a.id = ? ORDER BY s.ordinal",
                (collection, article_id),
            ).fetchall()
        return [_sentence(r) for r in rows]

    def neighbours(self, collection: str, article_id: str, ordinal: int, radius: int) -> list[Sentence]:
        with self._locked():
            rows = self._conn.execute(
                f"SELECT {self._SENTENCE_COLUMNS} FROM sentences s JOIN articles a ON a.seq = s.article_seq"
                " WHERE a.collection = ? AND a.id = ? AND s.ordinal BETWEEN ? AND ? ORDER BY s.ordinal",
                (collection, article_id, ordinal - radius, ordinal + radius),
            ).fetchall()
        return [_sentence(r) for r in rows]

    def candidate_context(self, collection: str, ids: Sequence[int]) -> list[ContextRow]:
        """The sentences `ids` that exist in `collection` and every other sentence of their paragraphs,
        in id order, with title, stored terms and vector: all that ranking reads, in one query."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self._locked():
            cursor = self._conn.cursor()
            cursor.row_factory = None  # plain tuples: hundreds of rows a question
            rows = cursor.execute(
                "WITH keys AS (SELECT DISTINCT article_seq, paragraph FROM sentences"
                f" WHERE collection = ? AND id IN ({marks}))"
                " SELECT s.id, a.id, a.title, s.paragraph, s.ordinal, s.terms, s.embedding, s.start_char,"
                " s.end_char, s.text FROM keys k"
                " JOIN sentences s ON s.article_seq = k.article_seq AND s.paragraph = k.paragraph"
                " JOIN articles a ON a.seq = s.article_seq ORDER BY s.id",
                (collection, *ids),
            ).fetchall()
        return context_rows(rows, ids, lambda stored: np.frombuffer(stored, dtype=np.float32))

    def embeddings(self, collection: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """All (ids, vectors) of a collection, for rebuilding its FAISS index."""
        with self._locked():
            rows = self._conn.execute(
                "SELECT id, embedding FROM sentences WHERE collection = ? ORDER BY id", (collection,)
            ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return ids, vectors

    def sentence_count(self, collection: str) -> int:
        with self._locked():
            row = self._conn.execute(
                "SELECT sentence_count FROM collections WHERE name = ?", (collection,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def document_frequencies(self, collection: str, terms: Sequence[str]) -> dict[str, int]:
        if not terms:
            return {}
        marks = ",".join("?" * len(terms))
        with self._locked():
            rows = self._conn.execute(
                f"SELECT term, df FROM term_df WHERE collection = ? AND term IN ({marks})",
                (collection, *terms),
            ).fetchall()
        return {r["term"]: int(r["df"]) for r in rows}

    def lexical_search(self, collection: str, terms: Sequence[str], limit: int) -> list[LexicalHit]:
        """The `limit` sentences of `collection` holding any of `terms` (stemmed, as stored) that score
        best by BM25 (index.bm25) over that collection's statistics alone, best first; scores negated."""
        with self._locked() as conn:
            row = conn.execute(
                "SELECT sentence_count, term_total FROM collections WHERE name = ?", (collection,)
            ).fetchone()
            if row is None:
                return []
            df = self.document_frequencies(collection, terms)
            query = bm25.query(terms, df, int(row[0]), int(row[1]))
            if query is None:
                return []
            values = ",".join("(?, ?)" for _ in query.terms)
            rows = conn.execute(
                f"WITH q(term, idf) AS (VALUES {values})"
                f" SELECT p.sentence_id, -({bm25.score_sql('?')}) AS score FROM q"
                " JOIN postings p ON p.collection = ? AND p.term = q.term"
                " GROUP BY p.sentence_id ORDER BY score, p.sentence_id LIMIT ?",
                (
                    *(v for pair in zip(query.terms, query.idfs, strict=True) for v in pair),
                    query.mean_length,
                    collection,
                    limit,
                ),
            ).fetchall()
        return [LexicalHit(int(r[0]), float(r[1])) for r in rows]

    # -- moving a collection ----------------------------------------------------------------------

    def move_collection(self, conn: sqlite3.Connection, old: str, new: str) -> tuple[int, int]:
        """Move every article of `old` into `new`, inside the caller's transaction; returns the articles
        moved and `new`'s generation. An article `new` already holds (same id or text) stays as `new`
        has it and `old`'s copy is dropped; sentence ids do not change, so quotes remembered under `old`
        are found under `new`. `old` is left empty, its generation bumped, so no cache of it stays valid."""
        clashes = conn.execute(
            "SELECT o.id FROM articles o WHERE o.collection = ? AND EXISTS (SELECT 1 FROM articles n"
            " WHERE n.collection = ? AND (n.id = o.id OR n.text_hash = o.text_hash))",
            (old, new),
        ).fetchall()
        for row in clashes:
            self.delete_article(conn, old, str(row["id"]))
        # The new name's row first (articles reference it), at a generation past both names': no index
        # cached under either matches it, so every process rebuilds.
        generation = max(self._bump(conn, new), self.generation_in(conn, old) + 1)
        conn.execute("UPDATE collections SET generation = ? WHERE name = ?", (generation, new))
        moved = conn.execute("UPDATE articles SET collection = ? WHERE collection = ?", (new, old)).rowcount
        conn.execute("UPDATE sentences SET collection = ? WHERE collection = ?", (new, old))
        conn.execute("UPDATE postings SET collection = ? WHERE collection = ?", (new, old))
        conn.execute(
            "UPDATE collections AS n SET sentence_count = n.sentence_count + o.sentence_count,"
            " term_total = n.term_total + o.term_total FROM collections AS o WHERE o.name = ? AND n.name = ?",
            (old, new),
        )
        conn.execute("UPDATE collections SET sentence_count = 0, term_total = 0 WHERE name = ?", (old,))
        conn.execute(
            "INSERT INTO term_df(collection, term, df) SELECT ?, term, df FROM term_df WHERE collection = ?"
            " ON CONFLICT(collection, term) DO UPDATE SET df = df + excluded.df",
            (new, old),
        )
        conn.execute("DELETE FROM term_df WHERE collection = ?", (old,))
        conn.execute(
            "UPDATE collections SET created_at = min(created_at,"
            " coalesce((SELECT created_at FROM collections WHERE name = ?), created_at)) WHERE name = ?",
            (old, new),
        )
        if self.generation_in(conn, old):
            self._bump(conn, old)
        return moved, generation

    @staticmethod
    def generation_in(conn: sqlite3.Connection, collection: str) -> int:
        row = conn.execute("SELECT generation FROM collections WHERE name = ?", (collection,)).fetchone()
        return 0 if row is None else int(row["generation"])


_SUMMARY_COLUMNS = "id, collection, title, url, author, published, source, added_at, sentence_count"


def _summary_fields(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "collection": row["collection"],
        "title": row["title"],
        "url": row["url"],
        "author": row["author"],
        "published": date.fromisoformat(row["published"]) if row["published"] else None,
        "source": row["source"],
        "added_at": datetime.fromisoformat(row["added_at"]),
        "sentence_count": row["sentence_count"],
    }


def _article(row: sqlite3.Row) -> Article:
    return Article(**_summary_fields(row), text=row["text"])


def _sentence(row: sqlite3.Row) -> Sentence:
    return Sentence(
        id=row["id"],
        article_id=row["article_id"],
        ordinal=row["ordinal"],
        paragraph=row["paragraph"],
        start=row["start_char"],
        end=row["end_char"],
        text=row["text"],
    )
