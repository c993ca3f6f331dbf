"""Data that the index stores: articles and their sentences, with exact character offsets."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class ArticleDraft(BaseModel):
    """An article before it is stored: what ingestion (text, file, URL, Telegram post) produces."""

    model_config = ConfigDict(frozen=True)

    text: str
    title: str = ""
    url: str | None = None
    id: str | None = Field(default=None, description="kept as the article id when given (JSONL `id`)")
    author: str | None = None
    published: date | None = None
    source: str = "text"  # text | file | url | telegram | jsonl


class ArticleSummary(BaseModel):
    """A stored article without its text: what a list shows. `id` is content-derived unless the
    importer supplied one."""

    model_config = ConfigDict(frozen=True)

    id: str
    collection: str
    title: str
    url: str | None = None
    author: str | None = None
    published: date | None = None
    source: str = "text"
    added_at: datetime
    sentence_count: int


class Article(ArticleSummary):
    """A stored article with its text."""

    text: str

    @classmethod
    def from_draft(
        cls, draft: ArticleDraft, *, id: str, collection: str, added_at: datetime, sentence_count: int
    ) -> Article:
        """The article a draft becomes once stored under `id` in `collection`."""
        return cls(
            id=id,
            collection=collection,
            title=draft.title,
            text=draft.text,
            url=draft.url,
            author=draft.author,
            published=draft.published,
            source=draft.source,
            added_at=added_at,
            sentence_count=sentence_count,
        )


class Span(BaseModel):
    """A sentence as character offsets into its article's text: `text[start:end]` is the sentence."""

    model_config = ConfigDict(frozen=True)

    start: int
    end: int
    paragraph: int = 0


class Sentence(BaseModel):
    """A stored sentence. `id` is the vector id in FAISS and the row id in SQLite."""

    model_config = ConfigDict(frozen=True)

    id: int
    article_id: str
    ordinal: int
    paragraph: int
    start: int
    end: int
    text: str
