"""What only the PostgreSQL backend has to get right: writers in several processes at once, the vector
index a big collection gets, custom plans, and a server that cannot be reached. A real PostgreSQL 18 with
pgvector (tests/postgres.py) and the hashing embedder (no model)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import psycopg.sql
import pytest
from pgvector.psycopg import register_vector
from verbatim.index import bm25
from verbatim.index.errors import StorageError
from verbatim.index.library import Library
from verbatim.index.models import ArticleDraft
from verbatim.index.postgres import PostgresLibrary, dense_query

from tests.conftest import ROOT
from tests.fakes import BRIDGE, ORCHESTRA, HashingEmbedder

CHAT = "tg:-100200"


def draft(text: str) -> ArticleDraft:
    return ArticleDraft(text=text, title=text.split("\n", 1)[0])


def report(n: int) -> str:
    return (
        f"Council report {n}\nThe council met on day {n} and approved budget line {n} for the harbour."
        f" Ferries on route {n} will run every {n + 5} minutes while the pier is repaired."
    )


@pytest.fixture
def lib(postgres_url: str) -> Iterator[PostgresLibrary]:
    library = PostgresLibrary(postgres_url, HashingEmbedder())
    yield library
    library.close()


def statistics_are_exact(url: str, collection: str) -> None:
    """Postings, document frequencies and the collection's counts, recomputed from its sentences."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, terms FROM sentences WHERE collection = %s", (collection,)).fetchall()
        postings = Counter[tuple[str, int, int, int]]()
        df = Counter[str]()
        total = 0
        for sid, terms in rows:
            counts, length = bm25.postings(terms)
            total += length
            df.update(counts.keys())
            postings.update((t, sid, tf, length) for t, tf in counts.items())
        stored = conn.execute(
            "SELECT term, sentence_id, tf, len FROM postings WHERE collection = %s", (collection,)
        ).fetchall()
        assert Counter(tuple(r) for r in stored) == postings
        assert dict(conn.execute("SELECT term, df FROM term_df WHERE collection = %s", (collection,))) == df
        counts_row = conn.execute(
            "SELECT sentence_count, term_total FROM collections WHERE name = %s", (collection,)
        ).fetchone()
        assert counts_row == (len(rows), total)


ADDER = textwrap.dedent(
    """
    import json, sys
    from verbatim.index.models import ArticleDraft
    from verbatim.index.postgres import PostgresLibrary
    from tests.fakes import HashingEmbedder

    url, collection, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    lib = PostgresLibrary(url, HashingEmbedder())
    print("ready", flush=True)
    sys.stdin.readline()  # both processes start adding together
    for text in texts:
        lib.add(collection, ArticleDraft(text=text, title=text.split(chr(10), 1)[0]))
    lib.close()
    """
)


def test_two_processes_adding_to_one_chat_leave_each_article_once_and_exact_statistics(
    postgres_url: str,
) -> None:
    shared = [report(n) for n in range(10)]  # both send these: each must be stored once
    own = [[report(100 + n) for n in range(15)], [report(200 + n) for n in range(15)]]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", ADDER, postgres_url, CHAT, json.dumps(shared + mine)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for mine in own
    ]
    for w in workers:
        assert w.stdout is not None and w.stdout.readline().strip() == "ready"
    for w in workers:
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.close()
    for w in workers:
        assert w.wait(timeout=120) == 0
        assert w.stdout is not None
        w.stdout.close()

    lib = PostgresLibrary(postgres_url, HashingEmbedder())
    try:
        titles = [a.title for a in lib.list_articles(CHAT)]
        assert sorted(titles) == sorted(t.split("\n", 1)[0] for t in shared + own[0] + own[1])
        statistics_are_exact(postgres_url, CHAT)
    finally:
        lib.close()


def test_both_backends_rank_alike_with_each_collections_own_statistics(
    postgres_url: str, tmp_path: Path
) -> None:
    embedder = HashingEmbedder()
    sqlite, pg = Library(tmp_path / "data", embedder), PostgresLibrary(postgres_url, embedder)
    try:
        for lib in (sqlite, pg):
            for n in range(6):
                lib.add("a", draft(report(n)))
            lib.add("a", draft(BRIDGE))
            lib.add("b", draft(ORCHESTRA))  # another chat: no part of "a"'s statistics
        terms = ["harbour", "ferri", "council", "bridg", "cabl"]
        results = []
        for lib in (sqlite, pg):
            hits = lib.lexical_search("a", terms, 10)
            sentences = lib.sentences("a", [h.sentence_id for h in hits])
            results.append([(sentences[h.sentence_id].text, round(h.bm25, 9)) for h in hits])
        assert results[0] == results[1]
        assert len(results[0]) == 10
        query = embedder.embed_query("steel cables cracked")
        # Every sentence, so ties (the hashing embedder makes many) cannot fall either side of a cut.
        dense = [
            sorted(
                (-round(score, 5), lib.sentences("a", [i])[i].text)
                for i, score in lib.dense_search("a", query, 100)
            )
            for lib in (sqlite, pg)
        ]
        assert len(dense[0]) == sqlite.sentence_count("a")
        assert dense[0] == dense[1]
    finally:
        sqlite.close()
        pg.close()


def test_a_big_collection_gets_its_own_vector_index_and_searches_it(postgres_url: str) -> None:
    lib = PostgresLibrary(postgres_url, HashingEmbedder(), hnsw_from=40)
    try:
        for n in range(20):  # 60 sentences
            lib.add(CHAT, draft(report(n)))
        lib.add("tg:small", draft(BRIDGE))
        lib.wait_for_indexes()
        assert lib.vector_kind(CHAT) == "hnsw"
        assert lib.vector_kind("tg:small") == "exact"
        query = lib.embed_query("ferries every minutes pier")
        with psycopg.connect(postgres_url) as conn:
            # The exact answer, for comparison: no index at all.
            conn.execute("SET enable_indexscan = off")
            exact = conn.execute(
                "SELECT round(((embedding <#> %s::vector) * -1)::numeric, 5)::float8 FROM sentences"
                " WHERE collection = %s ORDER BY 1 DESC LIMIT 5",
                (str(query.tolist()), CHAT),
            ).fetchall()
        top = [score for (score,) in exact]  # scores, not ids: the hashing embedder makes ties
        hits = lib.dense_search(CHAT, query, 5)
        assert "sentences_hnsw_" in plan(postgres_url, CHAT, query)
        assert "sentences_hnsw_" not in plan(postgres_url, "tg:small", query)
        assert [round(s, 5) for _, s in hits] == top
        # A new chat name drops the index (it names the old one) and searches exactly until rebuilt.
        lib.move_collection(CHAT, "tg:-100300")
        lib.wait_for_indexes()
        assert lib.vector_kind("tg:-100300") == "hnsw"
        assert [round(s, 5) for _, s in lib.dense_search("tg:-100300", query, 5)] == top
        with psycopg.connect(postgres_url) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'sentences_hnsw_%'"
                )
            ]
        assert len(names) == 1
    finally:
        lib.close()


def plan(url: str, collection: str, query: np.ndarray) -> str:
    """The plan of the library's own dense query, as a generic (prepared) plan: scans that are not
    index scans are off, so what is left shows whether the collection's partial index can serve it."""
    with psycopg.connect(url, prepare_threshold=0) as conn:
        register_vector(conn)
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(f"SET {setting} = off")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        explained = conn.execute(
            psycopg.sql.SQL("EXPLAIN ") + dense_query(collection), {"q": query, "k": 5}
        ).fetchall()
    return "\n".join(r[0] for r in explained)


def test_an_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    url = f"postgresql://verbatim@/verbatim?host={tmp_path}&connect_timeout=2"
    with pytest.raises(StorageError, match=r"Cannot reach the PostgreSQL database verbatim at .*") as caught:
        PostgresLibrary(url, HashingEmbedder())
    assert "VERBATIM_DATABASE_URL" in (caught.value.hint or "")


def test_the_password_never_shows_in_messages(tmp_path: Path) -> None:
    url = f"postgresql://verbatim:s3cret-pw@/verbatim?host={tmp_path}&connect_timeout=2"
    with pytest.raises(StorageError) as caught:
        PostgresLibrary(url, HashingEmbedder())
    assert "s3cret-pw" not in str(caught.value)


def test_vectors_round_trip_exactly(lib: PostgresLibrary) -> None:
    article = lib.add(CHAT, draft(BRIDGE)).article
    sentences = lib.article_sentences(CHAT, article.id)
    rows = lib.candidate_context(CHAT, [s.id for s in sentences])
    embedder = HashingEmbedder()
    expected = embedder.embed([s.text for s in sentences])
    assert np.array_equal(np.stack([r.embedding for r in rows]), expected)
    assert all(BRIDGE[s.start : s.end] == s.text for s in sentences)
