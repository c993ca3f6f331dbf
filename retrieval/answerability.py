"""Does the best sentence really answer the question, or only resemble it? A second, question-level model.

SQuAD 2.0's unanswerable questions are written to match a paragraph's words while asking something it
does not say; what gives them away is a rare question word missing from the passage, a weak lead over the
runner-up, or a mediocre best match. Pure function over the ranked list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from retrieval.features import FEATURE_NAMES
from retrieval.ranking import Scored
from retrieval.weights import ANSWER_BIAS, ANSWER_WEIGHTS

# Only features whose scale does not depend on the collection's size: the same model must judge a
# chat with one article and a library with thousands (ranks, softmax shares and score gaps do not).
ANSWER_FEATURE_NAMES = (
    "top_dense",
    "top_idf_overlap",
    "top_max_missing_idf",
    "top_context_idf_overlap",
    "top_window_idf_overlap",
    "top_bigram",
    "question_terms",
)
_INDEX = {name: n for n, name in enumerate(FEATURE_NAMES)}


def answer_features(ranked: Sequence[Scored], question_terms: int) -> list[float]:
    f = ranked[0].features
    return [
        f[_INDEX["dense"]],
        f[_INDEX["idf_overlap"]],
        f[_INDEX["max_missing_idf"]],
        f[_INDEX["context_idf_overlap"]],
        f[_INDEX["window_idf_overlap"]],
        f[_INDEX["bigram"]],
        math.log1p(question_terms),
    ]


def answerability(ranked: Sequence[Scored], question_terms: int) -> float:
    """Probability that the top-ranked sentence answers the question (0 when nothing was found)."""
    if not ranked:
        return 0.0
    values = answer_features(ranked, question_terms)
    logit = ANSWER_BIAS + sum(
        ANSWER_WEIGHTS.get(n, 0.0) * v for n, v in zip(ANSWER_FEATURE_NAMES, values, strict=True)
    )
    return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))
