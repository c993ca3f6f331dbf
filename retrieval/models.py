"""What a question produces: an answer of quoted sentences with citations, or a refusal."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Citation(BaseModel):
    """A verbatim quote: `text` is exactly the article's text between `start` and `end`."""

    model_config = ConfigDict(frozen=True)

    article_id: str
    title: str
    url: str | None
    start: int
    end: int
    text: str
    score: float  # how likely this quote answers the question, 0..1
    ordinal: int = 0  # position of the (first) sentence in the article, 0-based
    sentence_count: int = 0  # sentences in the article, to show "sentence 3 of 12"
    published: date | None = None
    sentence_ids: tuple[int, ...] = ()


# Why an answer is what it is: quoted, or refused because nothing answered, there is nothing to search,
# or nothing was asked.
Reason = Literal["answered", "no_match", "empty_collection", "empty_question"]


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)

    question: str
    answered: bool
    reason: Reason
    answer: str
    citations: list[Citation]
    confidence: float  # 0..1: the calibrated probability that the first quote answers the question
    # On a refusal that came close: the best sentence, shown as a lead to check, never as the answer.
    closest: Citation | None = None
    reader: str | None = None  # the reading model that decided, None when answered without one

    def to_json_dict(self) -> dict[str, object]:
        """The `verbatim ask --json` object (a stable interface other tools read)."""
        return {
            "question": self.question,
            "answered": self.answered,
            "reason": self.reason,
            "answer": self.answer,
            "confidence": round(self.confidence, 4),
            "citations": [_citation_json(c) for c in self.citations],
            "closest": _citation_json(self.closest) if self.closest else None,
            "reader": self.reader,
        }


def _citation_json(c: Citation) -> dict[str, object]:
    return {
        "article_id": c.article_id,
        "title": c.title,
        "url": c.url,
        "start": c.start,
        "end": c.end,
        "text": c.text,
        "score": round(c.score, 4),
    }
