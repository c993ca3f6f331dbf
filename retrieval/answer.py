"""Compose a grounded answer from ranked sentences, or refuse. Pure logic over stored articles."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from index.models import Article
from retrieval import weights
from retrieval.models import Answer, Citation
from retrieval.ranking import Scored

log = logging.getLogger(__name__)

# A second or third sentence is quoted only when the ranker finds it nearly as likely as the best one.
SUPPORT_RATIO = 0.5


def refusal(question: str, confidence: float = 0.0, closest: Citation | None = None) -> Answer:
    return Answer(
        question=question, answered=False, answer="", citations=[], confidence=confidence, closest=closest
    )


def is_verbatim(citation: Citation, article: Article) -> bool:
    return article.text[citation.start : citation.end] == citation.text and bool(citation.text.strip())


def compose_answer(
    question: str,
    ranked: Sequence[Scored],
    articles: Mapping[str, Article],
    *,
    confidence: float,
    max_citations: int = 3,
    min_confidence: float | None = None,
) -> Answer:
    """Quote the best sentence, and up to two more that are nearly as likely, if `confidence` allows."""
    # Read at call time, not bound as a default, so refitted weights take effect when reloaded.
    threshold = weights.MIN_CONFIDENCE if min_confidence is None else min_confidence
    if not ranked:
        return refusal(question, confidence)
    if confidence < threshold:
        # Close, but not enough to answer: the best sentence is offered as a lead to check. Off-topic
        # questions stay below MIN_LEAD_CONFIDENCE (999 in 1,000 of those `bench/quality.py` tunes on).
        near = confidence >= min(weights.MIN_LEAD_CONFIDENCE, threshold)
        return refusal(question, confidence, _citation(ranked[0], articles) if near else None)
    top = ranked[0]
    chosen = [top]
    for item in ranked[1:]:
        if len(chosen) >= max_citations:
            break
        close_enough = item.confidence >= top.confidence * SUPPORT_RATIO
        if close_enough and all(item.context.sentence.text != c.context.sentence.text for c in chosen):
            chosen.append(item)
    citations = [c for c in (_citation(item, articles) for item in chosen) if c is not None]
    citations = merge_adjacent(citations, articles)
    if not citations:
        return refusal(question, confidence)
    return Answer(
        question=question,
        answered=True,
        answer=" … ".join(c.text for c in citations),
        citations=citations,
        confidence=confidence,
    )


def _citation(item: Scored, articles: Mapping[str, Article]) -> Citation | None:
    sentence = item.context.sentence
    article = articles.get(sentence.article_id)
    if article is None:
        return None
    citation = Citation(
        article_id=article.id,
        title=article.title,
        url=article.url,
        start=sentence.start,
        end=sentence.end,
        text=sentence.text,
        score=item.confidence,
        ordinal=sentence.ordinal,
        sentence_count=article.sentence_count,
        published=article.published,
        sentence_ids=(sentence.id,),
    )
    # The promise of the product: never quote what the article does not say, word for word.
    if not is_verbatim(citation, article):
        log.error("dropping non-verbatim citation of sentence %s in %s", sentence.id, article.id)
        return None
    return citation


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
