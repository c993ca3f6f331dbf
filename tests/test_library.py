from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from verbatim.bot.answering import Answerer
from verbatim.index.adding import Limits
from verbatim.index.errors import DuplicateIdError, InputError, ModelMismatchError, NotFoundError
from verbatim.index.library import Library
from verbatim.index.models import ArticleDraft

from tests.conftest import BACKENDS, open_storage, reopen
from tests.fakes import BRIDGE, HashingEmbedder

pytestmark = pytest.mark.slow  # the real model

ARTICLE_A = BRIDGE
ARTICLE_B = (
    "Orchestra names new conductor\n"
    "The national orchestra appointed Maria Lindqvist as its principal conductor. "
    "She will lead her first concert in September at the opera house."
)


def draft(text: str, **kw: object) -> ArticleDraft:
    return ArticleDraft(text=text, title=text.split("\n", 1)[0], **kw)  # type: ignore[arg-type]


def test_stored_sentences_are_the_article_text_at_their_offsets(library: Library) -> None:
    result = library.add("c", draft(ARTICLE_A))
    sentences = library.article_sentences("c", result.article.id)
    assert len(sentences) == result.article.sentence_count == 4
    for s in sentences:
        assert ARTICLE_A[s.start : s.end] == s.text


_words = st.sampled_from(
    ["Rain", "fell.", "Dr.", "U.S.", "3.5", "on", "Jan.", "“Yes,”", "he", "said.", "\n", "é"]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_words, min_size=1, max_size=80).map(" ".join))
def test_offsets_hold_for_any_article(tmp_path: Path, text: str) -> None:
    # The model is not what is under test here, so a fast deterministic embedder stands in.
    lib = Library(tmp_path / f"p{abs(hash(text))}", HashingEmbedder())
    try:
        if not any(ch.isalnum() for ch in text):
            return
        result = lib.add("c", draft(text))
        for s in lib.article_sentences("c", result.article.id):
            assert text[s.start : s.end] == s.text
    finally:
        lib.close()


def test_answers_quote_the_right_sentence(library: Library, answerer: Answerer) -> None:
    library.add("c", draft(ARTICLE_A))
    library.add("c", draft(ARTICLE_B))
    answer = answerer.ask("c", "How long will the bridge repairs take?")
    assert answer.answered
    top = answer.citations[0]
    assert "six weeks" in top.text
    assert ARTICLE_A[top.start : top.end] == top.text


def test_collections_never_see_each_other(library: Library, answerer: Answerer) -> None:
    library.add("alpha", draft(ARTICLE_A))
    library.add("beta", draft(ARTICLE_B))
    assert [a.title for a in library.list_articles("alpha")] == ["Harbour bridge closes for repairs"]
    assert [a.title for a in library.list_articles("beta")] == ["Orchestra names new conductor"]
    answer = answerer.ask("beta", "Why was the harbour bridge closed?")
    assert all("bridge" not in c.text for c in answer.citations)
    assert answerer.ask("alpha", "Who is the new conductor of the orchestra?").answered is False


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_text_or_url_is_not_added_twice(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    library = open_storage(backend, request, tmp_path, HashingEmbedder())  # dedup is not the model's
    try:
        first = library.add("c", draft(ARTICLE_A, url="https://example.com/bridge"))
        assert first.created
        again = library.add("c", draft("  " + ARTICLE_A.replace(" ", "  ") + "\n"))
        assert not again.created and again.article.id == first.article.id
        # The same URL is the same article when the text is much the same (a page fetched again)...
        edited = library.add(
            "c",
            draft(ARTICLE_A + "\nThe council will meet again on Friday.", url="https://example.com/bridge"),
        )
        assert not edited.created and edited.article.id == first.article.id
        # ...but another story behind the same (generic, canonical) URL is another article.
        assert library.add("c", draft(ARTICLE_B, url="https://example.com/bridge")).created
        assert len(library.list_articles("c")) == 2
        # Another collection may hold its own copy.
        assert library.add("other", draft(ARTICLE_A)).created
    finally:
        library.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_jsonl_ids_are_kept_and_deduplicated(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    library = open_storage(backend, request, tmp_path, HashingEmbedder())
    try:
        assert library.add("c", draft(ARTICLE_A, id="bridge-1")).article.id == "bridge-1"
        assert not library.add("c", draft(ARTICLE_A, id="bridge-1")).created
        # An id already given to another text is an error, never a silent "already there".
        with pytest.raises(DuplicateIdError, match="'bridge-1'"):
            library.add("c", draft(ARTICLE_B, id="bridge-1"))
        assert len(library.list_articles("c")) == 1
    finally:
        library.close()


def test_delete_removes_sentences_from_every_index(
    tmp_path: Path, library: Library, answerer: Answerer, embedder: object
) -> None:
    a = library.add("c", draft(ARTICLE_A)).article
    library.add("c", draft(ARTICLE_B))
    assert answerer.ask("c", "How long will the bridge repairs take?").answered
    library.delete("c", a.id)
    answer = answerer.ask("c", "How long will the bridge repairs take?")
    assert all(c.article_id != a.id for c in answer.citations)
    assert library.lexical_search("c", ["bridg"], 10) == []
    assert library.sentence_count("c") == 3
    # And after a restart, from what is stored.
    library.close()
    reopened = reopen(library, library.embedder)
    try:
        assert [x.title for x in reopened.list_articles("c")] == ["Orchestra names new conductor"]
        hits = reopened.dense_search("c", reopened.embed_query("bridge repairs"), 10)
        remaining = reopened.list_articles("c")[0].id
        assert {reopened.sentences("c", [i])[i].article_id for i, _ in hits} == {remaining}
    finally:
        reopened.close()


def test_delete_by_list_number_and_unknown(library: Library) -> None:
    library.add("c", draft(ARTICLE_A))
    library.add("c", draft(ARTICLE_B))
    assert library.delete("c", "2").title == "Orchestra names new conductor"
    with pytest.raises(NotFoundError, match="no article number 5"):
        library.delete("c", "5")
    with pytest.raises(NotFoundError):
        library.delete("c", "nope")


@pytest.mark.parametrize("backend", BACKENDS)
def test_opening_with_another_model_is_refused(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    lib = open_storage(backend, request, tmp_path, HashingEmbedder("model-one", dim=32))
    lib.add("c", draft(ARTICLE_A))
    lib.close()
    with pytest.raises(ModelMismatchError, match="model-one"):
        reopen(lib, HashingEmbedder("model-two", dim=32))


def test_vectors_are_rebuilt_when_the_index_file_is_stale_or_damaged(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    lib = Library(tmp_path / "d", embedder)
    lib.add("c", draft(ARTICLE_A))
    lib.close()
    for faiss_file in (tmp_path / "d" / "vectors").glob("*.faiss"):
        faiss_file.write_bytes(b"garbage")
    lib = Library(tmp_path / "d", embedder)
    hits = lib.dense_search("c", embedder.embed_query("ferries every ten minutes"), 1)
    assert "Ferries" in lib.sentences("c", [hits[0][0]])[hits[0][0]].text
    assert len(embedder.batches) == 2  # the article once, the query once: nothing re-embedded
    lib.close()


def test_bad_drafts_are_refused(library: Library) -> None:
    with pytest.raises(InputError, match="empty"):
        library.add("c", ArticleDraft(text="   \n"))
    small = reopen(library, library.embedder, limits=Limits(max_article_chars=100))
    try:
        with pytest.raises(InputError, match="too long"):
            small.add("c", draft(ARTICLE_A))
    finally:
        small.close()
    assert library.list_articles("c") == []


def test_concurrent_adds_and_questions(library: Library, answerer: Answerer) -> None:
    library.add("c", draft(ARTICLE_A))
    errors: list[BaseException] = []
    texts = [
        f"Report {n}\nThe committee number {n} met on day {n} and approved budget {n}." for n in range(8)
    ]

    def add(text: str) -> None:
        try:
            library.add("c", draft(text))
        except BaseException as exc:  # collected, so the main thread can fail the test
            errors.append(exc)

    def ask() -> None:
        try:
            for _ in range(5):
                assert (
                    "six weeks"
                    in answerer.ask("c", "How long will the bridge repairs take?").citations[0].text
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(t,)) for t in texts] + [
        threading.Thread(target=ask) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(library.list_articles("c")) == 9
    assert library.sentence_count("c") == 4 + 8 * 2
    assert len(library.dense_search("c", library.embed_query("committee budget"), 100)) == 20
