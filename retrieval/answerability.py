"""Does the best sentence really answer the question, or only resemble it? A second, question-level model.

SQuAD 2.0's unanswerable questions are written to match a paragraph's words while asking something it
does not say; what gives them away is a rare question word, name or number missing from the passage, a
negation or an antonym the sentence does not share, or a mediocre best match. Pure function over the
ranked list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from verbatim.retrieval import weights
from verbatim.retrieval.features import FEATURE_NAMES
from verbatim.retrieval.ranking import Scored

# The ranker features this model reads, and the sign its weight must keep: more evidence
# may never lower the confidence, a missing or contradicted word never raise it. Without the signs the
# fit learns SQuAD 2.0's writing artefact (unanswerable questions copy the passage's words) and refuses
# questions a sentence matches word for word, the opposite of what a user expects. Only features whose
# scale does not depend on the collection's size: the same model must judge a chat with one article and
# a library with thousands (ranks, softmax shares and score gaps do not qualify).
_SENTENCE_SIGNS: dict[str, int] = {
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
}
# Each read twice: for the top sentence, and at its best over the top few (the answer is often the
# second or third sentence, which the first only resembles). Nothing about the question's length: fitted
# on SQuAD, whose questions reuse the article's words, more question words meant more confidence, and
# short plain questions ("what did Kirby say?") lost it for being short.
BEST_OF = 3
ANSWER_FEATURE_SIGNS: dict[str, int] = {
    **{f"top_{name}": sign for name, sign in _SENTENCE_SIGNS.items()},
    **{f"best_{name}": sign for name, sign in _SENTENCE_SIGNS.items()},
}
ANSWER_FEATURE_NAMES = tuple(ANSWER_FEATURE_SIGNS)
_COLUMNS = [(FEATURE_NAMES.index(name), sign) for name, sign in _SENTENCE_SIGNS.items()]


def answer_features(ranked: Sequence[Scored]) -> list[float]:
    top = ranked[0].features
    best = [
        (max if sign > 0 else min)(item.features[column] for item in ranked[:BEST_OF])
        for column, sign in _COLUMNS
    ]
    return [*(top[column] for column, _ in _COLUMNS), *best]


def answerability(ranked: Sequence[Scored], fitted: weights.Fitted | None = None) -> float:
    """Probability that the top-ranked sentence answers the question (0 when nothing was found)."""
    if not ranked:
        return 0.0
    fitted = fitted or weights.fitted()
    values = answer_features(ranked)
    logit = fitted.answer_bias + sum(
        fitted.answer.get(n, 0.0) * v for n, v in zip(ANSWER_FEATURE_NAMES, values, strict=True)
    )
    return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))
