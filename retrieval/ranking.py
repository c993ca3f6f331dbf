"""Score candidate sentences for a question with a linear model over `features`. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from retrieval.features import FEATURE_NAMES, CandidateContext, QuestionInfo, features
from retrieval.weights import BIAS, WEIGHTS


@dataclass(frozen=True)
class LinearModel:
    weights: Mapping[str, float]
    bias: float

    @cached_property
    def _ordered(self) -> tuple[float, ...]:
        """The weights in FEATURE_NAMES order, looked up once rather than per candidate."""
        return tuple(self.weights.get(n, 0.0) for n in FEATURE_NAMES)

    def logit(self, values: Sequence[float]) -> float:
        return self.bias + sum(w * v for w, v in zip(self._ordered, values, strict=True))


DEFAULT_MODEL = LinearModel(WEIGHTS, BIAS)


@dataclass(frozen=True)
class Scored:
    context: CandidateContext
    score: float  # the model's score (higher is better; comparable within one question)
    confidence: float  # this sentence's share of the softmax over all candidates
    features: tuple[float, ...] = ()

    @property
    def sentence_id(self) -> int:
        return self.context.sentence.id


def feature_matrix(q: QuestionInfo, contexts: Sequence[CandidateContext]) -> list[list[float]]:
    best_dense = max((c.dense for c in contexts), default=0.0)
    best_bm25 = min((c.bm25 for c in contexts if c.bm25 is not None), default=0.0)
    return [features(q, c, best_dense, best_bm25) for c in contexts]


def rank(
    q: QuestionInfo, contexts: Sequence[CandidateContext], model: LinearModel = DEFAULT_MODEL
) -> list[Scored]:
    matrix = feature_matrix(q, contexts)
    scores = [model.logit(values) for values in matrix]
    top = max(scores, default=0.0)
    shares = [math.exp(s - top) for s in scores]
    total = sum(shares) or 1.0
    scored = [
        Scored(context, score, share / total, tuple(values))
        for context, score, share, values in zip(contexts, scores, shares, matrix, strict=True)
    ]
    scored.sort(key=lambda s: (-s.score, s.sentence_id))
    return scored
