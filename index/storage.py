"""What the engine needs of storage, as a protocol: collections of articles and their sentences, term
statistics, dense and lexical candidates, and the paragraphs around them.

`index.library.Library` (SQLite + FAISS, the embedded default) implements it. Everything crossing it
is plain data (pydantic models, numpy vectors, ints and strings): no SQL rows, no FAISS objects, so
another backend can stand behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
from verbatim.index.models import Article, ArticleDraft, ArticleSummary, Sentence


@dataclass(frozen=True)
class AddResult:
    article: Article
    created: bool  # False: the collection already held it (same id, URL or text)


@dataclass(frozen=True)
class LexicalHit:
    sentence_id: int
    bm25: float  # lower (more negative) is better: the score index.bm25 gives, negated


class ContextRow(NamedTuple):
    """A sentence of a candidate's paragraph, as ranking reads it (a tuple: hundreds a question)."""

    id: int
    article_id: str
    title: str  # the article's title
    paragraph: int
    ordinal: int
    terms: str  # the stored search terms: index.text.term_string of the sentence's text
    embedding: np.ndarray  # float32 unit vector
    sentence: Sentence
    candidate: bool  # one of the sentences asked for, not only of their paragraphs


def context_rows(
    rows: Iterable[Sequence[Any]], wanted: Iterable[int], vector: Callable[[Any], np.ndarray]
) -> list[ContextRow]:
    """ContextRows from a backend's rows in the order (id, article id, title, paragraph, ordinal, terms,
    stored embedding, start, end, text); `vector` turns the stored embedding into a float32 array."""
    asked = set(wanted)
    return [
        ContextRow(
            sid,
            article_id,
            title,
            paragraph,
            ordinal,
            terms,
            vector(embedding),
            # Trusted rows, hundreds a question: built without validation.
            Sentence.model_construct(
                id=sid,
                article_id=article_id,
                ordinal=ordinal,
                paragraph=paragraph,
                start=start,
                end=end,
                text=text,
            ),
            sid in asked,
        )
        for sid, article_id, title, paragraph, ordinal, terms, embedding, start, end, text in rows
    ]


class Storage(Protocol):
    # Writing
    def add_many(self, collection: str, drafts: Iterable[ArticleDraft]) -> Iterator[AddResult]: ...

    def resolve(self, collection: str, ref: str) -> ArticleSummary: ...

    def delete(self, collection: str, ref: str) -> ArticleSummary: ...

    def move_collection(self, old: str, new: str) -> int: ...

    # Reading
    def list_articles(self, collection: str) -> list[ArticleSummary]: ...

    def articles(self, collection: str, article_ids: list[str]) -> dict[str, Article]: ...

    def sentences(self, collection: str, ids: list[int]) -> dict[int, Sentence]: ...

    def neighbours(self, collection: str, sentence: Sentence, radius: int = 1) -> list[Sentence]: ...

    # Retrieval
    def sentence_count(self, collection: str) -> int: ...

    def document_frequencies(self, collection: str, terms: list[str]) -> dict[str, int]: ...

    def dense_search(self, collection: str, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]: ...

    def lexical_search(self, collection: str, terms: list[str], k: int) -> list[LexicalHit]: ...

    def candidate_context(self, collection: str, ids: Sequence[int]) -> list[ContextRow]: ...

    def close(self) -> None: ...
