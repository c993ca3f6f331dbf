"""BM25 per collection (index.bm25 in the SQLite store): the scores are the textbook formula over one
collection's sentences alone, another collection never moves them, adds, deletes and moves keep the
postings and statistics exact, a schema-1 file (FTS5) is upgraded on open, and on a database of one
collection the scores are the ones FTS5's bm25() gave. Hashing embedder, no model."""

from __future__ import annotations

import logging
import math
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from verbatim.index.errors import VerbatimError
from verbatim.index.library import DB_NAME, Library
from verbatim.index.models import ArticleDraft
from verbatim.index.storage import LexicalHit
from verbatim.index.text import content_terms, term_string

from tests.fakes import BRIDGE, ORCHESTRA, HashingEmbedder

# ASCII words without apostrophes, so FTS5's unicode61 tokenizer splits the stored terms as split() does.
# Repeated words give term frequencies above one; "And so it was." has no terms at all.
HARBOUR = (
    "Harbour pilots strike\n"
    "Harbour pilots walked out on Tuesday, and ships waited outside the harbour for hours. "
    "The pilots want a new contract. And so it was.\n"
    "Ferries kept running because ferries need no pilots."
)
STEEL = (
    "Steel prices climb\n"
    "Steel cables and steel beams cost more this spring. "
    "Builders say the bridge repairs will cost more too."
)
FESTIVAL = (
    "Harbour festival returns\n"
    "The harbour festival returns in June with boats, music and a night market on the old pier."
)
QUESTION_TERMS = content_terms(
    "Why did the harbour pilots strike, and what do the steel cables and ferries cost?"
)
A, B = "tg:-1", "tg:-2"


def draft(text: str) -> ArticleDraft:
    return ArticleDraft(text=text, title=text.split("\n", 1)[0])


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = Library(tmp_path / "data", HashingEmbedder())
    yield lib
    lib.close()


@contextmanager
def database(lib: Library) -> Iterator[sqlite3.Connection]:
    """A second, plain connection to the library's file: the tables as any reader finds them."""
    with closing(sqlite3.connect(lib.data_dir / DB_NAME)) as conn:
        yield conn


def textbook_bm25(conn: sqlite3.Connection, collection: str, terms: list[str]) -> dict[int, float]:
    """Okapi BM25 (k1 1.2, b 0.75, idf log((N - n + 0.5) / (n + 0.5)) floored at 1e-6 as FTS5 does) of
    every sentence of `collection` holding a term, from its stored terms alone; negated, as stored."""
    k1, b = 1.2, 0.75
    rows = conn.execute("SELECT id, terms FROM sentences WHERE collection = ?", (collection,)).fetchall()
    docs = {sid: text.split() for sid, text in rows}
    n_docs = len(docs)
    mean_length = sum(len(d) for d in docs.values()) / n_docs
    scores: dict[int, float] = {}
    for term in dict.fromkeys(terms):
        holding = sum(term in d for d in docs.values())
        if not holding:
            continue
        idf = max(math.log((n_docs - holding + 0.5) / (holding + 0.5)), 1e-6)
        for sid, doc in docs.items():
            tf = doc.count(term)
            if tf:
                norm = tf + k1 * (1 - b + b * len(doc) / mean_length)
                scores[sid] = scores.get(sid, 0.0) - idf * tf * (k1 + 1) / norm
    return scores


def assert_scores(hits: list[LexicalHit], expected: dict[int, float]) -> None:
    assert {h.sentence_id: h.bm25 for h in hits} == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert [h.bm25 for h in hits] == sorted(h.bm25 for h in hits)  # best (lowest) first


def check_bm25_tables(conn: sqlite3.Connection) -> None:
    """The postings, term_df and every collection's sentence count and term total are exactly what the
    sentences' stored terms give, counted again from scratch."""
    postings: dict[tuple[str, str, int], tuple[int, int]] = {}
    df: Counter[tuple[str, str]] = Counter()
    sentences: Counter[str] = Counter()
    term_total: Counter[str] = Counter()
    for sid, collection, terms in conn.execute("SELECT id, collection, terms FROM sentences"):
        tokens = terms.split()
        for term, tf in Counter(tokens).items():
            postings[collection, term, sid] = (tf, len(tokens))
            df[collection, term] += 1
        sentences[collection] += 1
        term_total[collection] += len(tokens)
    stored = conn.execute("SELECT collection, term, sentence_id, tf, len FROM postings").fetchall()
    assert {(c, t, sid): (tf, n) for c, t, sid, tf, n in stored} == postings
    assert {(c, t): n for c, t, n in conn.execute("SELECT collection, term, df FROM term_df")} == dict(df)
    for name, count, total in conn.execute("SELECT name, sentence_count, term_total FROM collections"):
        assert (count, total) == (sentences[name], term_total[name]), name


def test_scores_are_textbook_bm25_over_the_collection_alone(library: Library) -> None:
    for text in (BRIDGE, HARBOUR, STEEL):
        library.add(A, draft(text))
    library.add(B, draft(FESTIVAL))
    library.add(B, draft(ORCHESTRA))
    with database(library) as conn:
        expected = textbook_bm25(conn, A, QUESTION_TERMS)
        check_bm25_tables(conn)
        assert library.sentence_count(A) == len(
            conn.execute("SELECT id FROM sentences WHERE collection = ?", (A,)).fetchall()
        )
    assert len(expected) > 3
    assert_scores(library.lexical_search(A, QUESTION_TERMS, 100), expected)
    # The limit keeps the best.
    best = library.lexical_search(A, QUESTION_TERMS, 2)
    assert [h.sentence_id for h in best] == sorted(expected, key=lambda sid: (expected[sid], sid))[:2]
    assert library.lexical_search(A, ["orchestra"], 10) == []  # only in B
    assert library.lexical_search("tg:-3", QUESTION_TERMS, 10) == []  # no such collection
    assert library.lexical_search(A, [], 10) == []


def test_another_collections_articles_leave_a_collections_ranking_alone(library: Library) -> None:
    for text in (BRIDGE, HARBOUR):
        library.add(A, draft(text))
    before = library.lexical_search(A, QUESTION_TERMS, 100)
    for text in (STEEL, FESTIVAL, ORCHESTRA, HARBOUR):
        library.add(B, draft(text))
    assert library.lexical_search(A, QUESTION_TERMS, 100) == before
    library.delete(B, "1")
    assert library.lexical_search(A, QUESTION_TERMS, 100) == before


def test_delete_and_move_keep_postings_and_statistics_exact(library: Library) -> None:
    for text in (BRIDGE, HARBOUR, STEEL, FESTIVAL):
        library.add(A, draft(text))
    library.add(B, draft(ORCHESTRA))
    library.add(B, draft(STEEL))  # the same text as one of A's: dropped from A when A moves into B
    library.delete(A, "1")
    with database(library) as conn:
        check_bm25_tables(conn)

    assert library.move_collection(A, B) == 2
    with database(library) as conn:
        check_bm25_tables(conn)
        expected = textbook_bm25(conn, B, QUESTION_TERMS)
        assert conn.execute(
            "SELECT sentence_count, term_total FROM collections WHERE name = ?", (A,)
        ).fetchone() == (0, 0)
    assert_scores(library.lexical_search(B, QUESTION_TERMS, 100), expected)
    assert library.lexical_search(A, QUESTION_TERMS, 100) == []
    assert library.sentence_count(A) == 0

    for article in library.list_articles(B):
        library.delete(B, article.id)
    with database(library) as conn:
        check_bm25_tables(conn)
        assert conn.execute("SELECT COUNT(*) FROM postings").fetchone() == (0,)
    assert library.sentence_count(B) == 0


# index/store.py's schema 1, the last with an FTS5 index over every collection's sentences.
SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections(
    name TEXT PRIMARY KEY,
    generation INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
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
CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_seq, ordinal);
CREATE INDEX IF NOT EXISTS sentences_collection ON sentences(collection, id);
-- A paragraph's sentences: every candidate's ranking context (built on first open of older files).
CREATE INDEX IF NOT EXISTS sentences_paragraph ON sentences(article_seq, paragraph);
-- Indexes the stemmed terms (index.text), so FTS5, idf statistics and ranking agree on what a word is.
CREATE VIRTUAL TABLE IF NOT EXISTS sentences_fts USING fts5(
    terms, content='sentences', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS sentences_ai AFTER INSERT ON sentences BEGIN
    INSERT INTO sentences_fts(rowid, terms) VALUES (new.id, new.terms);
END;
CREATE TRIGGER IF NOT EXISTS sentences_ad AFTER DELETE ON sentences BEGIN
    INSERT INTO sentences_fts(sentences_fts, rowid, terms) VALUES ('delete', old.id, old.terms);
END;
"""


def write_schema_1(path: Path, articles: dict[str, list[str]]) -> None:
    """A schema-1 database holding `articles` (collection -> texts, one paragraph of sentences each,
    split at ". "), written as that version wrote it: term_df counted, FTS5 filled by its trigger."""
    embedder = HashingEmbedder()
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1)
    now = datetime.now(UTC).isoformat()
    meta = {"schema_version": "1", "model": embedder.name, "dim": str(embedder.dim)}
    conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", meta.items())
    for collection, texts in articles.items():
        conn.execute(
            "INSERT INTO collections(name, generation, created_at) VALUES (?, ?, ?)",
            (collection, len(texts), now),
        )
        for n, text in enumerate(texts):
            parts = [p if p.endswith(".") else p + "." for p in text.split(". ")]
            seq = conn.execute(
                "INSERT INTO articles(collection, id, title, text, source, added_at, text_hash,"
                " sentence_count) VALUES (?, ?, ?, ?, 'text', ?, ?, ?)",
                (collection, f"a{n}", parts[0], text, now, f"hash{n}", len(parts)),
            ).lastrowid
            start = 0
            for ordinal, (sentence, vector) in enumerate(zip(parts, embedder.embed(parts), strict=True)):
                start = text.index(sentence.rstrip("."), start)
                end = start + len(sentence)
                terms = term_string(sentence)
                conn.execute(
                    "INSERT INTO sentences(article_seq, collection, ordinal, paragraph, start_char, end_char,"
                    " text, terms, embedding) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)",
                    (seq, collection, ordinal, start, end, sentence, terms, vector.tobytes()),
                )
                conn.executemany(
                    "INSERT INTO term_df(collection, term, df) VALUES (?, ?, 1)"
                    " ON CONFLICT(collection, term) DO UPDATE SET df = df + 1",
                    [(collection, t) for t in set(terms.split())],
                )
                start = end
    conn.commit()
    conn.close()


OLD_ARTICLES = {
    A: [
        "Harbour pilots walked out on Tuesday. Ships waited outside the harbour. Pilots want a contract",
        "Steel cables cost more this spring. The bridge repairs will cost more too. And so it was",
    ],
    B: ["The harbour festival returns in June. Boats and music fill the old harbour pier"],
}


def test_a_schema_1_database_is_upgraded_on_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "data" / DB_NAME
    write_schema_1(db, OLD_ARTICLES)
    with caplog.at_level(logging.INFO, logger="verbatim.index.store"):
        lib = Library(tmp_path / "data", HashingEmbedder())
    try:
        assert [r.getMessage() for r in caplog.records if "upgraded" in r.getMessage()] == [
            f"upgraded {db} to schema 2: BM25 postings per collection instead of FTS5"
        ]
        with database(lib) as conn:
            left = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'sentences_%'").fetchall()
            assert {n for (n,) in left} == {
                "sentences_article",
                "sentences_collection",
                "sentences_paragraph",
            }
            assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
            check_bm25_tables(conn)
            expected = textbook_bm25(conn, A, QUESTION_TERMS)
        assert len(expected) >= 3
        assert_scores(lib.lexical_search(A, QUESTION_TERMS, 100), expected)
        assert lib.sentence_count(A) == 6 and lib.sentence_count(B) == 2
        # And it goes on as a schema-2 library.
        lib.add(A, draft(FESTIVAL))
        lib.delete(A, "a0")
        with database(lib) as conn:
            check_bm25_tables(conn)
    finally:
        lib.close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="verbatim.index.store"):
        Library(tmp_path / "data", HashingEmbedder()).close()
    assert not [r for r in caplog.records if "upgraded" in r.getMessage()]  # upgraded once only


def test_a_read_only_schema_1_database_says_to_open_it_where_it_can_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_schema_1(tmp_path / "data" / DB_NAME, OLD_ARTICLES)
    monkeypatch.setattr("verbatim.index.store._may_write", lambda path: False)
    with pytest.raises(VerbatimError, match="cannot be upgraded") as raised:
        Library(tmp_path / "data", HashingEmbedder())
    assert "Open it once where it can be written" in str(raised.value.hint)


def test_on_one_collection_the_scores_are_fts5s(library: Library) -> None:
    for text in (HARBOUR, STEEL, FESTIVAL):
        library.add(A, draft(text))
    with database(library) as conn:
        rows = conn.execute("SELECT id, terms FROM sentences").fetchall()
    assert any(not terms for _, terms in rows)  # a sentence without terms counts in N, as in FTS5
    assert all(t.isascii() and t.isalnum() for _, terms in rows for t in terms.split())
    fts = sqlite3.connect(":memory:")
    fts.execute("CREATE VIRTUAL TABLE f USING fts5(terms, tokenize='unicode61 remove_diacritics 2')")
    fts.executemany("INSERT INTO f(rowid, terms) VALUES (?, ?)", rows)
    match = " OR ".join(f'"{t}"' for t in QUESTION_TERMS)
    expected = dict(fts.execute("SELECT rowid, bm25(f) FROM f WHERE f MATCH ?", (match,)).fetchall())
    fts.close()
    assert len(expected) > 3
    hits = library.lexical_search(A, QUESTION_TERMS, 100)
    assert {h.sentence_id: h.bm25 for h in hits} == pytest.approx(expected, rel=0, abs=1e-9)
