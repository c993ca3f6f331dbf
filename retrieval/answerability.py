"""Does the best sentence really answer the question, or only resemble it? A second, question-level model.

SQuAD 2.0's unanswerable questions are written to match a paragraph's words while asking something it
does not say; what gives them away is a rare question word, name or number missing from the passage, a
negation or an antonym the sentence does not share, or a mediocre best match. Pure function over the
ranked list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from retrieval.features import FEATURE_NAMES
from retrieval.ranking import Scored
from retrieval.weights import ANSWER_BIAS, ANSWER_WEIGHTS

# The top sentence's ranker features this model reads, and the sign its weight must keep: more evidence
# may never lower the confidence, a missing or contradicted word never raise it. Without the signs the
# fit learns SQuAD 2.0's writing artefact (unanswerable questions copy the passage's words) and refuses
# questions a sentence matches word for word, the opposite of what a user expects. Only features whose
# scale does not depend on the collection's size: the same model must judge a chat with one article and
# a library with thousands (ranks, softmax shares and score gaps do not qualify).
ANSWER_FEATURE_SIGNS: dict[str, int] = {
    "dense": 1,
    "idf_overlap": 1,
    "max_missing_idf": -1,
    "context_idf_overlap": 1,
    "window_idf_overlap": 1,
    "bigram": 1,
    "missing_max": -1,
    "window_missing_max": -1,
    "window_missing_count": -1,
    "number_missing": -1,
    "numbers_present": 1,
    "name_missing": -1,
    "negation_mismatch": -1,
    "antonym_clash": -1,
    "answer_slot": 1,
    "question_terms": 0,  # not a feature of the sentence: how much the question says
}
ANSWER_FEATURE_NAMES = tuple(ANSWER_FEATURE_SIGNS)
_INDEX = {name: n for n, name in enumerate(FEATURE_NAMES)}


def answer_features(ranked: Sequence[Scored], question_terms: int) -> list[float]:
    top = ranked[0].features
    return [
        math.log1p(question_terms) if name == "question_terms" else top[_INDEX[name]]
        for name in ANSWER_FEATURE_NAMES
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
