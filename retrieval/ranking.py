"""Score candidate sentences for a question with a linear model over `features` and the pairwise
products of the main ones. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations

import numpy as np
from verbatim.retrieval import weights
from verbatim.retrieval.features import FEATURE_NAMES, CandidateContext, QuestionInfo, features

# Features whose meaning depends on another ("a close dense match counts for more when the rare words
# are there too"): the model also weighs the product of every pair of them. On the held-out SQuAD half
# the products add a point of top-1; all 34 features' products would fit the tuning half instead.
INTERACTING = (
    "dense",
    "dense_gap",
    "bm25_rel",
    "idf_overlap",
    "window_idf_overlap",
    "context_idf_overlap",
    "bigram",
    "title_idf_overlap",
    "paragraph_dense",
    "prev_dense",
    "next_dense",
    "anaphor",
    "missing_max",
    "answer_slot",
    "length",
    "novel_terms",
)
_PAIRS = np.array(
    [(FEATURE_NAMES.index(a), FEATURE_NAMES.index(b)) for a, b in combinations(INTERACTING, 2)]
).reshape(-1, 2)
MODEL_FEATURE_NAMES = FEATURE_NAMES + tuple(f"{a}*{b}" for a, b in combinations(INTERACTING, 2))


def expand(matrix: np.ndarray) -> np.ndarray:
    """Feature rows (n x FEATURE_NAMES) -> model inputs (n x MODEL_FEATURE_NAMES)."""
    return np.hstack([matrix, matrix[:, _PAIRS[:, 0]] * matrix[:, _PAIRS[:, 1]]])


@dataclass(frozen=True)
class LinearModel:
    weights: Mapping[str, float]
    bias: float

    @cached_property
    def _vector(self) -> np.ndarray:
        """The weights in MODEL_FEATURE_NAMES order, looked up once rather than per question."""
        return np.array([self.weights.get(n, 0.0) for n in MODEL_FEATURE_NAMES])

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        """One score per feature row."""
        return expand(matrix) @ self._vector + self.bias


_fitted_models: dict[int, LinearModel] = {}


def fitted_model() -> LinearModel:
    """The ranker fitted into weights.json (built once per version of the file)."""
    current = weights.fitted()
    model = _fitted_models.get(id(current))
    if model is None:
        _fitted_models.clear()
        model = _fitted_models[id(current)] = LinearModel(current.ranker, current.ranker_bias)
    return model


@dataclass(frozen=True)
class Scored:
    context: CandidateContext
    score: float  # the model's score (higher is better; comparable within one question)
    share: float  # this sentence's share of the softmax over all candidates (not a probability)
    features: tuple[float, ...] = ()

    @property
    def sentence_id(self) -> int:
        return self.context.sentence.id


def feature_matrix(q: QuestionInfo, contexts: Sequence[CandidateContext]) -> list[list[float]]:
    best_dense = max((c.dense for c in contexts), default=0.0)
    best_bm25 = min((c.bm25 for c in contexts if c.bm25 is not None), default=0.0)
    return [features(q, c, best_dense, best_bm25) for c in contexts]


def rank(
    q: QuestionInfo, contexts: Sequence[CandidateContext], model: LinearModel | None = None
) -> list[Scored]:
    model = model or fitted_model()
    matrix = feature_matrix(q, contexts)
    if not matrix:
        return []
    scores = model.scores(np.asarray(matrix, dtype=np.float64)).tolist()
    top = max(scores)
    shares = [math.exp(s - top) for s in scores]
    total = sum(shares) or 1.0
    scored = [
        Scored(context, score, share / total, tuple(values))
        for context, score, share, values in zip(contexts, scores, shares, matrix, strict=True)
    ]
    scored.sort(key=lambda s: (-s.score, s.sentence_id))
    return scored
