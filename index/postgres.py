"""PostgreSQL + pgvector storage, for a bot past one process or machine: several workers on one
database, with safe concurrent writers. Implements `index.storage.Storage`, like `index.library.Library`
(SQLite + FAISS, the embedded default), and adds through `index.adding`, so both accept, refuse,
deduplicate and rank alike (`index.bm25`).

- An article is one transaction, under its collection's advisory lock: two workers adding to one chat
  at once queue there, so the duplicate check and the per-collection statistics stay exact.
- Dense search is exact (a b-tree on the collection, then a sort) until a collection holds more than
  `HNSW_FROM` sentences; then it gets its own HNSW index, a partial index on `collection = name` built
  concurrently in the background, as the embedded store switches FAISS to HNSW past `FLAT_LIMIT`. A
  table-wide HNSW index would make every add of every chat 50 times slower.
- Prepared statements are off: psycopg switches to a generic plan after five executions, which turned
  a 5 ms search into 113 ms; and a search names its collection as a literal, so that even a generic
  plan could use the collection's partial index.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
from verbatim.index import adding, bm25
from verbatim.index.adding import Limits, Prepared
from verbatim.index.embedder import Embedder
from verbatim.index.errors import InputError, ModelMismatchError, StorageError
from verbatim.index.models import Article, ArticleDraft, ArticleSummary, Sentence
from verbatim.index.storage import AddResult, ContextRow, LexicalHit, context_rows
from verbatim.index.store import id_taken, same_story
from verbatim.index.text import term_string
from verbatim.index.vectors import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
# Exact search reads every row of the collection: about 1 ms per 1,000 sentences measured here (FAISS's
# flat search is 20 times faster, so it stays flat up to 200,000). Past this a collection gets HNSW.
HNSW_FROM = 20_000
# An HNSW build slows to a quarter once its graph outgrows maintenance_work_mem (about 2.5 KB a
# sentence at m 32 and 384 dimensions): 1,159 s for 1M sentences in 1 GB. Sized from the collection.
HNSW_BUILD_BYTES_PER_SENTENCE = 3_072
HNSW_BUILD_MEMORY_MAX = 8 << 30
POOL_SIZE = 8
# Articles at the draft's URL compared with it, most recent first (as index.store does).
_URL_CANDIDATES = 20
# Advisory-lock namespaces: a collection's writes, the schema, a collection's vector index build, and a
# chat's turn (bot.telegram.shared_turns). Keys are hashed into PostgreSQL's one bigint lock space.
COLLECTION_LOCK = "verbatim:collection:"
SCHEMA_LOCK = "verbatim:schema"
HNSW_LOCK = "verbatim:hnsw:"
CHAT_LOCK = "verbatim:chat:"


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for `name`, the same in every process."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _schema(dim: int) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS meta(key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS collections(
    name text PRIMARY KEY,
    generation bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    sentence_count bigint NOT NULL DEFAULT 0,
    term_total bigint NOT NULL DEFAULT 0,
    vector_index text  -- its HNSW index, once built (see HNSW_FROM)
);
CREATE TABLE IF NOT EXISTS articles(
    seq bigserial PRIMARY KEY,
    collection text NOT NULL REFERENCES collections(name),
    id text NOT NULL,
    title text NOT NULL,
    text text NOT NULL,
    url text,
    author text,
    published date,
    source text NOT NULL,
    added_at timestamptz NOT NULL,
    text_hash text NOT NULL,
    sentence_count integer NOT NULL,
    UNIQUE(collection, id),
    UNIQUE(collection, text_hash)
);
CREATE INDEX IF NOT EXISTS articles_url ON articles(collection, url);
CREATE TABLE IF NOT EXISTS sentences(
    id bigserial PRIMARY KEY,
    article_seq bigint NOT NULL REFERENCES articles(seq) ON DELETE CASCADE,
    collection text NOT NULL,
    ordinal integer NOT NULL,
    paragraph integer NOT NULL,
    start_char integer NOT NULL,
    end_char integer NOT NULL,
    text text NOT NULL,
    terms text NOT NULL,
    embedding vector({dim}) NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_collection ON sentences(collection, id);
CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_seq, ordinal);
CREATE INDEX IF NOT EXISTS sentences_paragraph ON sentences(article_seq, paragraph);
CREATE TABLE IF NOT EXISTS term_df(
    collection text NOT NULL,
    term text NOT NULL,
    df integer NOT NULL,
    PRIMARY KEY(collection, term)
);
CREATE TABLE IF NOT EXISTS postings(
    collection text NOT NULL,
    term text NOT NULL,
    sentence_id bigint NOT NULL,
    tf integer NOT NULL,
    len integer NOT NULL,
    PRIMARY KEY(collection, term, sentence_id) INCLUDE (tf, len)
);
"""


def describe_url(url: str) -> str:
    """Where a database URL points, without its password: for messages and logs."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:  # psycopg raises ProgrammingError for a malformed URL
        return "the database in VERBATIM_DATABASE_URL"
    host = str(parts.get("host") or "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"PostgreSQL database {parts.get('dbname') or parts.get('user') or 'postgres'!s} at {host}{port}"


class PostgresLibrary:
    def __init__(
        self,
        url: str,
        embedder: Embedder,
        *,
        limits: Limits | None = None,
        pool_size: int = POOL_SIZE,
        hnsw_from: int = HNSW_FROM,
    ) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self.url = url
        self.where = describe_url(url)
        self.embedder = embedder
        self.limits = limits or Limits()
        self.hnsw_from = hnsw_from
        self.read_only = False
        self._builds: dict[str, threading.Thread] = {}
        self._builds_guard = threading.Lock()
        self._dim: int | None = None
        try:
            self._create_schema()
            self.pool = ConnectionPool(
                url,
                min_size=1,
                max_size=pool_size,
                # prepare_threshold None: never prepare (see the module's docstring).
                kwargs={"autocommit": True, "prepare_threshold": None},
                configure=self._configure,
                open=True,
                timeout=30.0,
            )
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: Exception) -> StorageError:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return StorageError(
            f"Cannot reach the {self.where}: {reason}",
            "Check VERBATIM_DATABASE_URL and that the server is running.",
        )

    @staticmethod
    def _configure(conn: Any) -> None:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        conn.execute(f"SET hnsw.ef_search = {min(HNSW_EF_SEARCH, 1000)}")

    def _create_schema(self) -> None:
        """The tables, once, under a lock (workers starting together), and the model checked."""
        import psycopg

        with (
            psycopg.connect(self.url, autocommit=True, prepare_threshold=None) as conn,
            conn.transaction(),
        ):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(SCHEMA_LOCK),))
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.errors.InsufficientPrivilege:
                raise StorageError(
                    f"The {self.where} lacks the pgvector extension, and this user may not create it.",
                    "Run `CREATE EXTENSION vector;` in it once as its owner or a superuser.",
                ) from None
            except psycopg.errors.FeatureNotSupported:
                raise StorageError(
                    f"The {self.where} has no pgvector extension installed.",
                    "Install pgvector on the server (https://github.com/pgvector/pgvector).",
                ) from None
            has_meta = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
            recorded: dict[str, str] = {}
            if has_meta and has_meta[0]:
                recorded = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if recorded and recorded.get("schema_version") != SCHEMA_VERSION:
                raise StorageError(
                    f"The {self.where} was written by another version of Verbatim (schema"
                    f" {recorded.get('schema_version')}, this one reads {SCHEMA_VERSION}).",
                    "Use that version, or another database.",
                )
            model = recorded.get("model")
            if model is not None and model != self.embedder.name:
                raise ModelMismatchError(
                    f"The {self.where} was indexed with the model {model!r},"
                    f" but {self.embedder.name!r} is configured.",
                    f"Set VERBATIM_MODEL={model} or use another database.",
                )
            if "dim" in recorded:
                self._dim = int(recorded["dim"])
                return
            # A new database: its vector column takes the model's dimension.
            dim = self.embedder.dim
            conn.execute(_schema(dim))
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', %s), ('model', %s), ('dim', %s)"
                " ON CONFLICT (key) DO NOTHING",
                (SCHEMA_VERSION, self.embedder.name, str(dim)),
            )
            self._dim = dim

    def _check_model_dim(self) -> int:
        dim = self.embedder.dim
        if dim != self._dim:
            raise ModelMismatchError(
                f"The {self.where} holds {self._dim}-dimensional vectors; the model gives {dim}.",
                "Use the model the collection was built with or another database.",
            )
        return dim

    def close(self) -> None:
        for thread in list(self._builds.values()):
            thread.join()
        self.pool.close()

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        import psycopg

        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from exc

    @contextmanager
    def _writing(self, *collections: str) -> Iterator[Any]:
        """A transaction holding the write locks of `collections`, taken in one order everywhere."""
        with self._conn() as conn, conn.transaction():
            for name in sorted(set(collections)):
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(COLLECTION_LOCK + name),))
            yield conn

    # -- adding -----------------------------------------------------------------------------------

    def add(self, collection: str, draft: ArticleDraft) -> AddResult:
        return next(iter(self.add_many(collection, [draft])))

    def add_many(self, collection: str, drafts: Iterable[ArticleDraft]) -> Iterator[AddResult]:
        """As `Library.add_many`: one transaction an article, results in order, the first article that
        cannot be added stops the run after those before it."""
        for chunk in adding.chunks(drafts, self.limits):
            if isinstance(chunk, InputError):
                raise chunk
            yield from self._add_chunk(collection, chunk)

    def _add_chunk(self, collection: str, chunk: list[Prepared]) -> Iterator[AddResult]:
        with self._conn() as conn:
            chunk_plan = adding.plan(
                chunk,
                lambda p: _find_duplicate(conn, collection, p.draft, p.text_hash, p.article_id),
                _sentence_count(conn, collection),
                self.limits,
            )
        todo = chunk_plan.todo
        if todo:
            vectors = adding.embed_sentences(self.embedder, todo, self._check_model_dim())
        added: dict[str, AddResult] = {}
        error: BaseException | None = None
        offset = 0
        try:
            for prepared in todo:
                n = len(prepared.spans)
                added[prepared.text_hash] = self._commit(collection, prepared, vectors[offset : offset + n])
                offset += n
        except Exception as exc:  # a full collection or an id taken meanwhile: keep what was committed
            error = exc
        if added:
            self._index_when_big(collection)
        yield from adding.results(chunk_plan, added, error)

    def _commit(self, collection: str, prepared: Prepared, vectors: np.ndarray) -> AddResult:
        with self._writing(collection) as conn:
            # Checked again under the collection's lock: another worker may have added it meanwhile.
            existing = _find_duplicate(
                conn, collection, prepared.draft, prepared.text_hash, prepared.article_id
            )
            if existing is not None:
                return AddResult(existing, created=False)
            held = _sentence_count(conn, collection)
            if held + len(prepared.spans) > self.limits.max_collection_sentences:
                raise adding.collection_full(held, len(prepared.spans), self.limits)
            article = _insert_article(conn, collection, prepared, vectors)
        return AddResult(article, created=True)

    def import_embedded(self, collection: str, articles: Iterable[tuple[ArticleDraft, np.ndarray]]) -> int:
        """Bulk import of articles whose sentence vectors are known (as `Library.import_embedded`); the
        vector index, when the collection needs one, is built before this returns."""
        dim = self._check_model_dim()
        added = 0
        for draft, vectors in articles:
            prepared = adding.prepare(draft, self.limits)
            if vectors.shape != (len(prepared.spans), dim):
                raise InputError(f"{len(prepared.spans)} sentences but vectors of shape {vectors.shape}.")
            added += self._commit(collection, prepared, vectors).created
        self._index_when_big(collection, wait=True)
        return added

    # -- the vector index of a big collection ------------------------------------------------------

    def vector_kind(self, collection: str) -> str | None:
        """exact or hnsw; None when the collection is empty."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT sentence_count, vector_index FROM collections WHERE name = %s", (collection,)
            ).fetchone()
        if row is None or not row[0]:
            return None
        return "hnsw" if row[1] else "exact"

    def wait_for_indexes(self) -> None:
        """Until the vector indexes being built in the background are done (tests, benchmarks)."""
        with self._builds_guard:
            threads = list(self._builds.values())
        for thread in threads:
            thread.join()

    def _index_when_big(self, collection: str, *, wait: bool = False) -> None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT sentence_count, vector_index FROM collections WHERE name = %s", (collection,)
            ).fetchone()
        if row is None or row[0] <= self.hnsw_from or row[1]:
            return
        with self._builds_guard:
            thread = self._builds.get(collection)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(
                    target=self._build_index, args=(collection,), name=f"hnsw {collection}", daemon=True
                )
                self._builds[collection] = thread
                thread.start()
        if wait:
            thread.join()

    def _build_index(self, collection: str) -> None:
        """The collection's own HNSW index, built concurrently (adds and questions go on meanwhile) by
        one worker at a time; a build cut short leaves an invalid index, dropped by the next try."""
        import psycopg
        from psycopg import sql

        name = "sentences_hnsw_" + hashlib.sha256(collection.encode()).hexdigest()[:16]
        try:
            with psycopg.connect(self.url, autocommit=True, prepare_threshold=None) as conn:
                got = conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (lock_key(HNSW_LOCK + collection),)
                ).fetchone()
                if not got or not got[0]:
                    return  # another worker builds it
                count = conn.execute(
                    "SELECT sentence_count FROM collections WHERE name = %s", (collection,)
                ).fetchone()
                memory = (count[0] if count else 0) * HNSW_BUILD_BYTES_PER_SENTENCE
                memory = min(max(memory, 64 << 20), HNSW_BUILD_MEMORY_MAX)
                log.info("building the vector index of %r (%d MB to build in)", collection, memory >> 20)
                conn.execute(f"SET maintenance_work_mem = '{memory >> 20}MB'")
                conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))
                conn.execute(
                    sql.SQL(
                        "CREATE INDEX CONCURRENTLY {} ON sentences USING hnsw (embedding vector_ip_ops)"
                        " WITH (m = {}, ef_construction = {}) WHERE collection = {}"
                    ).format(
                        sql.Identifier(name),
                        sql.Literal(HNSW_M),
                        sql.Literal(HNSW_EF_CONSTRUCTION),
                        sql.Literal(collection),
                    )
                )
                conn.execute("UPDATE collections SET vector_index = %s WHERE name = %s", (name, collection))
                log.info("the vector index of %r is built", collection)
        except psycopg.Error:
            log.exception("building the vector index of %r failed; searches stay exact", collection)

    # -- reading and deleting ---------------------------------------------------------------------

    def list_articles(self, collection: str) -> list[ArticleSummary]:
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM articles WHERE collection = %s ORDER BY seq", (collection,)
            ).fetchall()
        return [ArticleSummary(**_summary_fields(r)) for r in rows]

    def _get_article(self, collection: str, article_id: str) -> Article | None:
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE collection = %s AND id = %s",
                (collection, article_id),
            ).fetchone()
        return None if row is None else _article(row)

    def resolve(self, collection: str, ref: str) -> ArticleSummary:
        """An article by its list number or id (see `index.adding.resolve`)."""
        return adding.resolve(
            ref, lambda: self.list_articles(collection), lambda i: self._get_article(collection, i)
        )

    def delete(self, collection: str, ref: str) -> ArticleSummary:
        article = self.resolve(collection, ref)
        with self._writing(collection) as conn:
            _delete_article(conn, collection, article.id)
        return article

    def move_collection(self, old: str, new: str) -> int:
        """As `Library.move_collection`: every article of `old` into `new`, those `new` holds kept once;
        idempotent. Both lose their vector index (its predicate names the collection) until rebuilt."""
        if old == new:
            return 0
        with self._writing(old, new) as conn:
            if not _has_articles(conn, old):
                return 0
            clashes = conn.execute(
                "SELECT o.id FROM articles o WHERE o.collection = %s AND EXISTS (SELECT 1 FROM articles n"
                " WHERE n.collection = %s AND (n.id = o.id OR n.text_hash = o.text_hash))",
                (old, new),
            ).fetchall()
            for (article_id,) in clashes:
                _delete_article(conn, old, article_id)
            _ensure_collection(conn, new)
            stats = conn.execute(
                "SELECT sentence_count, term_total, created_at, vector_index FROM collections"
                " WHERE name = %s",
                (old,),
            ).fetchone()
            moved = conn.execute(
                "UPDATE articles SET collection = %s WHERE collection = %s", (new, old)
            ).rowcount
            conn.execute("UPDATE sentences SET collection = %s WHERE collection = %s", (new, old))
            conn.execute("UPDATE postings SET collection = %s WHERE collection = %s", (new, old))
            conn.execute(
                "INSERT INTO term_df(collection, term, df) SELECT %s, term, df FROM term_df"
                " WHERE collection = %s ORDER BY term"
                " ON CONFLICT (collection, term) DO UPDATE SET df = term_df.df + excluded.df",
                (new, old),
            )
            conn.execute("DELETE FROM term_df WHERE collection = %s", (old,))
            conn.execute(
                "UPDATE collections SET sentence_count = sentence_count + %s, term_total = term_total + %s,"
                " created_at = least(created_at, %s), vector_index = NULL, generation = generation + 1"
                " WHERE name = %s",
                (stats[0], stats[1], stats[2], new),
            )
            conn.execute(
                "UPDATE collections SET sentence_count = 0, term_total = 0, vector_index = NULL,"
                " generation = generation + 1 WHERE name = %s",
                (old,),
            )
            dropped = [stats[3]] if stats[3] else []
            dropped += [r[0] for r in conn.execute(_VECTOR_INDEX_OF, (new,)).fetchall()]
        self._drop_indexes(dropped)
        log.info("moved %d articles from %r to %r", moved, old, new)
        self._index_when_big(new)
        return moved

    def _drop_indexes(self, names: Sequence[str]) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True, prepare_threshold=None) as conn:
            for name in names:
                conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))

    # -- search -----------------------------------------------------------------------------------

    def embed_query(self, text: str) -> np.ndarray:
        return self.embedder.embed_query(text)

    def sentence_count(self, collection: str) -> int:
        with self._conn() as conn:
            return _sentence_count(conn, collection)

    def document_frequencies(self, collection: str, terms: list[str]) -> dict[str, int]:
        if not terms:
            return {}
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT term, df FROM term_df WHERE collection = %s AND term = ANY(%s)", (collection, terms)
            ).fetchall()
        return {term: int(df) for term, df in rows}

    def dense_search(self, collection: str, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k sentences of highest inner product (unit vectors: cosine)."""
        if k <= 0:
            return []
        vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        with self._conn() as conn:
            rows = conn.execute(dense_query(collection), {"q": vector, "k": k}).fetchall()
        return [(int(i), float(s)) for i, s in rows]

    def lexical_search(self, collection: str, terms: list[str], k: int) -> list[LexicalHit]:
        """BM25 with the collection's own statistics (`index.bm25`); lower (more negative) is better."""
        if not terms or k <= 0:
            return []
        with self._conn() as conn:
            stats = conn.execute(
                "SELECT sentence_count, term_total FROM collections WHERE name = %s", (collection,)
            ).fetchone()
            if stats is None:
                return []
            df = dict(
                conn.execute(
                    "SELECT term, df FROM term_df WHERE collection = %s AND term = ANY(%s)",
                    (collection, list(terms)),
                ).fetchall()
            )
            query = bm25.query(terms, df, int(stats[0]), int(stats[1]))
            if query is None:
                return []
            rows = conn.execute(
                f"SELECT p.sentence_id, -{bm25.score_sql('%s::float8')} AS score"
                " FROM unnest(%s::text[], %s::float8[]) AS q(term, idf)"
                " JOIN postings p ON p.collection = %s AND p.term = q.term"
                " GROUP BY p.sentence_id ORDER BY score, p.sentence_id LIMIT %s",
                (query.mean_length, query.terms, query.idfs, collection, k),
            ).fetchall()
        return [LexicalHit(int(i), float(s)) for i, s in rows]

    def sentences(self, collection: str, ids: list[int]) -> dict[int, Sentence]:
        """Only sentences that still exist in `collection`."""
        if not ids:
            return {}
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {_SENTENCE_COLUMNS} FROM sentences s JOIN articles a ON a.seq = s.article_seq"
                " WHERE s.collection = %s AND s.id = ANY(%s)",
                (collection, list(ids)),
            ).fetchall()
        return {int(r[0]): _sentence(r) for r in rows}

    def article_sentences(self, collection: str, article_id: str) -> list[Sentence]:
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {_SENTENCE_COLUMNS} FROM sentences s JOIN articles a ON a.seq = s.article_seq"
                " WHERE a.collection = %s AND a.id = %s ORDER BY s.ordinal",
                (collection, article_id),
            ).fetchall()
        return [_sentence(r) for r in rows]

    def neighbours(self, collection: str, sentence: Sentence, radius: int = 1) -> list[Sentence]:
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {_SENTENCE_COLUMNS} FROM sentences s JOIN articles a ON a.seq = s.article_seq"
                " WHERE a.collection = %s AND a.id = %s AND s.ordinal BETWEEN %s AND %s ORDER BY s.ordinal",
                (collection, sentence.article_id, sentence.ordinal - radius, sentence.ordinal + radius),
            ).fetchall()
        return [_sentence(r) for r in rows]

    def articles(self, collection: str, article_ids: list[str]) -> dict[str, Article]:
        if not article_ids:
            return {}
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE collection = %s AND id = ANY(%s)",
                (collection, list(article_ids)),
            ).fetchall()
        return {r[0]: _article(r) for r in rows}

    def candidate_context(self, collection: str, ids: Sequence[int]) -> list[ContextRow]:
        """As `Store.candidate_context`: the sentences `ids` of `collection` and every other sentence of
        their paragraphs, in id order, with title, terms and vector, in one query."""
        if not ids:
            return []
        with self._conn() as conn:
            # Binary: the vectors come as float32 bytes, not as text to parse (hundreds of rows a question).
            cursor = conn.cursor(binary=True)
            rows = cursor.execute(
                "WITH keys AS (SELECT DISTINCT article_seq, paragraph FROM sentences"
                " WHERE collection = %s AND id = ANY(%s))"
                " SELECT s.id, a.id, a.title, s.paragraph, s.ordinal, s.terms, s.embedding, s.start_char,"
                " s.end_char, s.text FROM keys k"
                " JOIN sentences s ON s.article_seq = k.article_seq AND s.paragraph = k.paragraph"
                " JOIN articles a ON a.seq = s.article_seq ORDER BY s.id",
                (collection, list(ids)),
            ).fetchall()
        return context_rows(rows, ids, lambda stored: stored.to_numpy().astype(np.float32, copy=False))


# -- SQL inside a caller's connection ------------------------------------------------------------------


def dense_query(collection: str) -> Any:
    """Dense search over one collection. The collection is a literal, not a parameter, so the planner
    can prove that collection's partial HNSW index applies, even in a generic plan."""
    from psycopg import sql

    return sql.SQL(
        "SELECT id, (embedding <#> %(q)s) * -1 FROM sentences WHERE collection = {}"
        " ORDER BY embedding <#> %(q)s LIMIT %(k)s"
    ).format(sql.Literal(collection))


_SUMMARY_COLUMNS = "id, collection, title, url, author, published, source, added_at, sentence_count"
_ARTICLE_COLUMNS = _SUMMARY_COLUMNS + ", text"
_SENTENCE_COLUMNS = "s.id, a.id, s.ordinal, s.paragraph, s.start_char, s.end_char, s.text"
_VECTOR_INDEX_OF = "SELECT vector_index FROM collections WHERE name = %s AND vector_index IS NOT NULL"


def _summary_fields(row: Sequence[Any]) -> dict[str, Any]:
    keys = ("id", "collection", "title", "url", "author", "published", "source", "added_at", "sentence_count")
    return dict(zip(keys, row[:9], strict=True))


def _article(row: Sequence[Any]) -> Article:
    return Article(**_summary_fields(row), text=row[9])


def _sentence(row: Sequence[Any]) -> Sentence:
    sid, article_id, ordinal, paragraph, start, end, text = row
    return Sentence(
        id=sid, article_id=article_id, ordinal=ordinal, paragraph=paragraph, start=start, end=end, text=text
    )


def _sentence_count(conn: Any, collection: str) -> int:
    row = conn.execute("SELECT sentence_count FROM collections WHERE name = %s", (collection,)).fetchone()
    return 0 if row is None else int(row[0])


def _has_articles(conn: Any, collection: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM articles WHERE collection = %s LIMIT 1", (collection,)).fetchone()
        is not None
    )


def _ensure_collection(conn: Any, collection: str) -> None:
    conn.execute("INSERT INTO collections(name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (collection,))


def _find_duplicate(
    conn: Any, collection: str, draft: ArticleDraft, text_hash: str, article_id: str | None
) -> Article | None:
    """As `Store.find_duplicate`: the same normalised text, or the same URL and much the same text;
    `DuplicateIdError` when the id is another text's."""
    article_id = article_id or draft.id
    rows = conn.execute(
        f"SELECT {_ARTICLE_COLUMNS}, text_hash FROM articles"
        " WHERE collection = %s AND (text_hash = %s OR id = %s)",
        (collection, text_hash, article_id or ""),
    ).fetchall()
    same_text = next((r for r in rows if r[10] == text_hash), None)
    if same_text is not None:
        return _article(same_text)
    if rows:
        raise id_taken(str(article_id))
    if not draft.url:
        return None
    at_url = conn.execute(
        f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE collection = %s AND url = %s"
        " ORDER BY seq DESC LIMIT %s",
        (collection, draft.url, _URL_CANDIDATES),
    ).fetchall()
    return next((_article(r) for r in at_url if same_story(r[9], draft.text)), None)


def _insert_article(conn: Any, collection: str, prepared: Prepared, vectors: np.ndarray) -> Article:
    """The article, its sentences (COPY), postings and statistics, in the caller's transaction."""
    draft = prepared.draft
    spans = prepared.spans
    added_at = datetime.now(UTC)
    _ensure_collection(conn, collection)
    seq = conn.execute(
        "INSERT INTO articles(collection, id, title, text, url, author, published, source, added_at,"
        " text_hash, sentence_count) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING seq",
        (
            collection,
            prepared.article_id,
            draft.title,
            draft.text,
            draft.url,
            draft.author,
            draft.published,
            draft.source,
            added_at,
            prepared.text_hash,
            len(spans),
        ),
    ).fetchone()[0]
    ids = [
        int(r[0])
        for r in conn.execute(
            "SELECT nextval('sentences_id_seq') FROM generate_series(1, %s)", (len(spans),)
        ).fetchall()
    ]
    df: Counter[str] = Counter()
    postings: list[tuple[str, int, int, int]] = []
    term_total = 0
    with conn.cursor().copy(
        "COPY sentences(id, article_seq, collection, ordinal, paragraph, start_char, end_char, text, terms,"
        " embedding) FROM STDIN"
    ) as copy:
        for n, (sid, s) in enumerate(zip(ids, spans, strict=True)):
            sentence = draft.text[s.start : s.end]
            terms = term_string(sentence)
            counts, length = bm25.postings(terms)
            df.update(counts.keys())
            term_total += length
            postings.extend((term, sid, tf, length) for term, tf in counts.items())
            copy.write_row(
                (sid, seq, collection, n, s.paragraph, s.start, s.end, sentence, terms, vectors[n])
            )
    with conn.cursor().copy("COPY postings(collection, term, sentence_id, tf, len) FROM STDIN") as copy:
        for term, sid, tf, length in postings:
            copy.write_row((collection, term, sid, tf, length))
    # In term order: rows locked in one order cannot deadlock (unsorted, concurrent adds did), though
    # one collection's writers already queue on its advisory lock.
    in_order = sorted(df)
    conn.execute(
        "INSERT INTO term_df(collection, term, df) SELECT %s, t.term, t.df"
        " FROM unnest(%s::text[], %s::int[]) AS t(term, df) ORDER BY t.term"
        " ON CONFLICT (collection, term) DO UPDATE SET df = term_df.df + excluded.df",
        (collection, in_order, [df[t] for t in in_order]),
    )
    conn.execute(
        "UPDATE collections SET sentence_count = sentence_count + %s, term_total = term_total + %s,"
        " generation = generation + 1 WHERE name = %s",
        (len(spans), term_total, collection),
    )
    return Article.from_draft(
        draft, id=prepared.article_id, collection=collection, added_at=added_at, sentence_count=len(spans)
    )


def _delete_article(conn: Any, collection: str, article_id: str) -> None:
    row = conn.execute(
        "SELECT seq FROM articles WHERE collection = %s AND id = %s", (collection, article_id)
    ).fetchone()
    if row is None:
        return
    seq = row[0]
    rows = conn.execute("SELECT id, terms FROM sentences WHERE article_seq = %s", (seq,)).fetchall()
    df: Counter[str] = Counter()
    keys: list[tuple[str, int]] = []
    term_total = 0
    for sid, terms in rows:
        counts, length = bm25.postings(terms)
        df.update(counts.keys())
        term_total += length
        keys.extend((term, sid) for term in counts)
    conn.execute(
        "DELETE FROM postings p USING unnest(%s::text[], %s::bigint[]) AS d(term, sentence_id)"
        " WHERE p.collection = %s AND p.term = d.term AND p.sentence_id = d.sentence_id",
        ([term for term, _ in keys], [sid for _, sid in keys], collection),
    )
    in_order = sorted(df)
    conn.execute(
        "UPDATE term_df d SET df = d.df - t.df FROM unnest(%s::text[], %s::int[]) AS t(term, df)"
        " WHERE d.collection = %s AND d.term = t.term",
        (in_order, [df[t] for t in in_order], collection),
    )
    conn.execute("DELETE FROM term_df WHERE collection = %s AND df <= 0", (collection,))
    conn.execute("DELETE FROM articles WHERE seq = %s", (seq,))  # its sentences go with it (CASCADE)
    conn.execute(
        "UPDATE collections SET sentence_count = sentence_count - %s, term_total = term_total - %s,"
        " generation = generation + 1 WHERE name = %s",
        (len(rows), term_total, collection),
    )
