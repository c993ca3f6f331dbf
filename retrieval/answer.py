"""Compose a grounded answer from ranked sentences, or refuse. Pure logic over stored articles."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from verbatim.index.models import Article, Sentence
from verbatim.retrieval.models import Answer, Citation, Reason
from verbatim.retrieval.ranking import Scored

log = logging.getLogger(__name__)

# A second or third sentence is quoted only when the ranker finds it nearly as likely as the best one.
SUPPORT_RATIO = 0.5
# A sentence that ends in a colon is quoted with the list below it, within these bounds.
MAX_LIST_ITEMS = 8
MAX_LIST_ITEM_CHARS = 400
MAX_LIST_CHARS = 1500
MAX_PLAIN_ITEM_CHARS = 120  # an unmarked line is an item only when short; longer, it is the next paragraph
_LIST_MARKER = re.compile(r"(?:[-–—•*·▪●]|\d{1,2}[.)])\s")


def refusal(
    question: str,
    reason: Reason = "no_match",
    confidence: float = 0.0,
    closest: Citation | None = None,
    reader: str | None = None,
) -> Answer:
    return Answer(
        question=question,
        answered=False,
        reason=reason,
        answer="",
        citations=[],
        confidence=confidence,
        closest=closest,
        reader=reader,
    )


def is_verbatim(citation: Citation, article: Article) -> bool:
    return article.text[citation.start : citation.end] == citation.text and bool(citation.text.strip())


@dataclass(frozen=True)
class Passage:
    """What one quote cites: consecutive sentences of one paragraph, best-scored first in the list of
    passages an answer is composed from."""

    sentences: tuple[Sentence, ...]
    score: float  # how likely it is to answer, 0..1 (shown with the citation)


def by_share(ranked: Sequence[Scored], max_citations: int) -> list[Passage]:
    """The best sentence, and up to two more the ranker finds nearly as likely (no reader)."""
    if not ranked:
        return []
    top = ranked[0]
    chosen = [top]
    for item in ranked[1:]:
        if len(chosen) >= max_citations:
            break
        close_enough = item.share >= top.share * SUPPORT_RATIO
        if close_enough and all(item.context.sentence.text != c.context.sentence.text for c in chosen):
            chosen.append(item)
    return [Passage((item.context.sentence,), item.share) for item in chosen]


def compose_answer(
    question: str,
    passages: Sequence[Passage],
    articles: Mapping[str, Article],
    *,
    confidence: float,
    answer_from: float,
    lead_from: float,
    reader: str | None = None,
) -> Answer:
    """Quote the passages if `confidence` reaches `answer_from`; else refuse, showing the best passage
    as a lead to check when `confidence` reaches `lead_from`."""
    if not passages:
        return refusal(question, confidence=confidence, reader=reader)
    if confidence < answer_from:
        # Close, but not enough to answer: the best passage is offered as a lead to check. Off-topic
        # questions stay below the lead threshold (999 in 1,000 of those `bench/quality.py` tunes on).
        near = confidence >= min(lead_from, answer_from)
        closest = _citation(passages[0], articles) if near else None
        return refusal(question, confidence=confidence, closest=closest, reader=reader)
    citations = [c for c in (_citation(p, articles) for p in passages) if c is not None]
    citations = merge_adjacent(citations, articles)
    if not citations:
        return refusal(question, confidence=confidence, reader=reader)
    return Answer(
        question=question,
        answered=True,
        reason="answered",
        answer=" … ".join(c.text for c in citations),
        citations=citations,
        confidence=confidence,
        reader=reader,
    )


def _citation(passage: Passage, articles: Mapping[str, Article]) -> Citation | None:
    first, last = passage.sentences[0], passage.sentences[-1]
    article = articles.get(first.article_id)
    if article is None:
        return None
    end = list_end(article.text, last.end)
    citation = Citation(
        article_id=article.id,
        title=article.title,
        url=article.url,
        start=first.start,
        end=end,
        text=article.text[first.start : end] if end != last.end or len(passage.sentences) > 1 else first.text,
        score=passage.score,
        ordinal=first.ordinal,
        sentence_count=article.sentence_count,
        published=article.published,
        sentence_ids=tuple(s.id for s in passage.sentences),
    )
    # The promise of the product: never quote what the article does not say, word for word.
    if not is_verbatim(citation, article):
        log.error("dropping non-verbatim citation of sentence %s in %s", first.id, article.id)
        return None
    return citation


def list_end(text: str, end: int) -> int:
    """Where a quote ending at `end` should end: past the list it introduces when it ends in a colon
    (items on the lines below: bulleted or numbered, or short), else at `end`."""
    line_break = text.find("\n", end)
    if not text[:end].rstrip().endswith(":") or line_break < 0 or text[end:line_break].strip():
        return end
    new_end, items, blank_lines, pos = end, 0, 0, line_break + 1
    while pos < len(text) and items < MAX_LIST_ITEMS:
        line_break = text.find("\n", pos)
        line_end = len(text) if line_break < 0 else line_break
        line = text[pos:line_end].strip()
        if not line:
            blank_lines += 1
            if blank_lines > 1:
                break
        else:
            is_item = bool(_LIST_MARKER.match(line)) or len(line) <= MAX_PLAIN_ITEM_CHARS
            if not is_item or len(line) > MAX_LIST_ITEM_CHARS or line_end - end > MAX_LIST_CHARS:
                break
            items, blank_lines = items + 1, 0
            new_end = pos + len(text[pos:line_end].rstrip())
        if line_break < 0:
            break
        pos = line_break + 1
    return new_end


def merge_adjacent(citations: list[Citation], articles: Mapping[str, Article]) -> list[Citation]:
    """Neighbouring sentences of one paragraph become one quote, read in the article's order."""
    merged: list[Citation] = []
    for citation in citations:
        for n, other in enumerate(merged):
            if other.article_id != citation.article_id:
                continue
            first, second = sorted((other, citation), key=lambda c: c.ordinal)
            last_ordinal = first.ordinal + len(first.sentence_ids) - 1
            article = articles[citation.article_id]
            # Across a paragraph break the two stay separate quotes: one quote is one stretch of prose.
            if second.ordinal == last_ordinal + 1 and "\n" not in article.text[first.end : second.start]:
                merged[n] = first.model_copy(
                    update={
                        "end": second.end,
                        "text": article.text[first.start : second.end],
                        "score": max(first.score, second.score),
                        "sentence_ids": first.sentence_ids + second.sentence_ids,
                    }
                )
                break
        else:
            merged.append(citation)
    return merged
