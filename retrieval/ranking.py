"""Score candidate sentences for a question. Pure: candidates in, ranked candidates out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from index.models import Sentence
from retrieval.text import content_terms


@dataclass(frozen=True)
class Candidate:
    sentence: Sentence
    dense: float  # cosine similarity between question and sentence
    bm25: float | None = None  # FTS5 bm25 (more negative = better); None when not a lexical hit


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float
    confidence: float


@dataclass(frozen=True)
class RankerWeights:
    overlap: float = 0.25
    bm25: float = 0.10
    threshold: float = 0.50  # score at which confidence is 0.5
    steepness: float = 12.0


DEFAULT_WEIGHTS = RankerWeights()


def term_overlap(question_terms: Sequence[str], sentence_text: str) -> float:
    if not question_terms:
        return 0.0
    present = set(content_terms(sentence_text))
    return sum(1 for t in question_terms if t in present) / len(question_terms)


def rank(question: str, candidates: Sequence[Candidate], weights: RankerWeights = DEFAULT_WEIGHTS) -> list[Scored]:
    terms = content_terms(question)
    best_bm25 = min((c.bm25 for c in candidates if c.bm25 is not None), default=0.0)
    scored = []
    for candidate in candidates:
        bm25_rel = candidate.bm25 / best_bm25 if candidate.bm25 is not None and best_bm25 < 0 else 0.0
        score = (
            candidate.dense
            + weights.overlap * term_overlap(terms, candidate.sentence.text)
            + weights.bm25 * bm25_rel
        )
        confidence = 1.0 / (1.0 + math.exp(-weights.steepness * (score - weights.threshold)))
        scored.append(Scored(candidate, score, confidence))
    scored.sort(key=lambda s: (-s.score, s.candidate.sentence.id))
    return scored
