"""move_collection on both backends (SQLite + FAISS, PostgreSQL + pgvector), with the hashing embedder
(no model): what a Telegram group's collection goes through when the group becomes a supergroup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from verbatim.index.library import Library
from verbatim.index.models import ArticleDraft
from verbatim.index.postgres import PostgresLibrary

from tests.conftest import BACKENDS, open_storage, reopen
from tests.fakes import HashingEmbedder

BRIDGE = (
    "Harbour bridge closes for repairs\n"
    "The city council closed the harbour bridge on Monday after engineers found cracks in two steel cables. "
    "Ferries will run every ten minutes while the bridge is shut."
)
ORCHESTRA = (
    "Orchestra names new conductor\n"
    "The national orchestra appointed Maria Lindqvist as its principal conductor. "
    "She will lead her first concert in September at the opera house."
)
MARKET = "Market hall reopens\nThe old market hall reopened on Saturday with forty stalls."
OLD, NEW = "tg:-4001", "tg:-1004001"


def draft(text: str) -> ArticleDraft:
    return ArticleDraft(text=text, title=text.split("\n", 1)[0])


@pytest.fixture(params=BACKENDS)
def library(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Library | PostgresLibrary]:
    lib = open_storage(request.param, request, tmp_path, HashingEmbedder())
    yield lib
    lib.close()


def snapshot(lib: Library | PostgresLibrary, collection: str) -> tuple[list[str], int, dict[str, int]]:
    """What a question reads: the articles, the sentence count and some term statistics."""
    terms = ["bridg", "orchestra", "conductor", "cabl", "market"]
    return (
        [a.title for a in lib.list_articles(collection)],
        lib.sentence_count(collection),
        lib.document_frequencies(collection, terms),
    )


def test_a_collection_moves_whole_and_searches_under_its_new_name(library: Library | PostgresLibrary) -> None:
    bridge = library.add(OLD, draft(BRIDGE)).article
    library.add(OLD, draft(ORCHESTRA))
    question = library.embed_query("Who was appointed conductor?")
    before = library.dense_search(OLD, question, 3)  # the vector file of OLD exists now
    sentences = library.article_sentences(OLD, bridge.id)
    counts_before = snapshot(library, OLD)

    assert library.move_collection(OLD, NEW) == 2
    assert snapshot(library, NEW) == counts_before
    assert snapshot(library, OLD) == ([], 0, {})
    assert library.dense_search(NEW, question, 3) == before  # rebuilt from the database
    assert library.dense_search(OLD, question, 3) == []
    assert [h.sentence_id for h in library.lexical_search(NEW, ["conductor"], 5)]
    assert library.lexical_search(OLD, ["conductor"], 5) == []
    # Sentence ids are kept: a quote remembered before the move is found after it.
    assert library.sentences(NEW, [s.id for s in sentences]) == {s.id: s for s in sentences}
    assert library.neighbours(NEW, sentences[1])[0].text == sentences[0].text

    assert library.move_collection(OLD, NEW) == 0  # the second service message: nothing left to move
    assert snapshot(library, NEW) == counts_before
    # Both names go on working: the old one is simply empty.
    library.add(OLD, draft(MARKET))
    assert [a.title for a in library.list_articles(OLD)] == ["Market hall reopens"]
    assert library.dense_search(OLD, library.embed_query("market stalls"), 1)


def test_moving_into_a_collection_that_already_has_articles_keeps_each_once(
    library: Library | PostgresLibrary, tmp_path: Path
) -> None:
    library.add(OLD, draft(BRIDGE))
    library.add(OLD, draft(ORCHESTRA))
    library.add(NEW, draft(ORCHESTRA))  # added in the supergroup before the move reached it
    library.add(NEW, draft(MARKET))
    library.dense_search(NEW, library.embed_query("market"), 1)

    assert library.move_collection(OLD, NEW) == 1
    titles, count, df = snapshot(library, NEW)
    # In the order they were added, wherever: the list numbers stay what each chat saw, in that order.
    assert titles == [
        "Harbour bridge closes for repairs",
        "Orchestra names new conductor",
        "Market hall reopens",
    ]
    assert count == sum(a.sentence_count for a in library.list_articles(NEW))
    for text in (ORCHESTRA, MARKET, BRIDGE):  # the same articles added afresh: the same statistics
        library.add("tg:check", draft(text))
    assert snapshot(library, "tg:check")[1:] == (count, df)
    hits = library.dense_search(NEW, library.embed_query("steel cables cracks"), 10)
    assert len(hits) == count

    # A fresh process finds the same, from the stored data alone.
    library.close()
    reopened = reopen(library, HashingEmbedder())
    try:
        assert snapshot(reopened, NEW) == (titles, count, df)
        assert len(reopened.dense_search(NEW, reopened.embed_query("cables"), 10)) == count
    finally:
        reopened.close()


def test_moving_nothing_changes_nothing(library: Library | PostgresLibrary) -> None:
    assert library.move_collection("tg:1", "tg:2") == 0
    library.add("tg:1", draft(BRIDGE))
    assert library.move_collection("tg:1", "tg:1") == 0
    assert [a.title for a in library.list_articles("tg:1")] == ["Harbour bridge closes for repairs"]
