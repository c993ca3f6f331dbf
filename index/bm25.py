"""BM25 over one collection's sentences, the same formula in every backend.

Each backend keeps a postings table, (collection, term, sentence_id) -> (tf, len), and per-collection
statistics: its sentence count, its total of terms (for the mean length) and each term's document
frequency, all committed with the article that changes them. The idf is computed here from those
statistics and passed to the backend's query, which sums `score_sql` per sentence. So one chat's text
never changes another chat's ranking, and SQLite and PostgreSQL rank alike.

The constants and the idf are FTS5's `bm25()` (k1 1.2, b 0.75, idf floored at 1e-6): on a database of
one collection the scores are the ones FTS5 gave, which the ranker's weights were fitted on.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6


def idf(sentences: int, containing: int) -> float:
    value = math.log((sentences - containing + 0.5) / (containing + 0.5))
    return value if value > 0 else MIN_IDF


def postings(terms: str) -> tuple[Counter[str], int]:
    """A sentence's stored terms (`index.text.term_string`) as term frequencies and its length."""
    tokens = terms.split()
    return Counter(tokens), len(tokens)


@dataclass(frozen=True)
class Query:
    """The terms that occur in the collection, with their idf, and the collection's mean length."""

    terms: list[str]
    idfs: list[float]
    mean_length: float


def query(terms: Sequence[str], df: Mapping[str, int], sentences: int, term_total: int) -> Query | None:
    """None when no term occurs in the collection (nothing to search)."""
    present = [t for t in dict.fromkeys(terms) if df.get(t, 0) > 0]
    if not present or sentences <= 0:
        return None
    return Query(present, [idf(sentences, df[t]) for t in present], max(term_total, 1) / sentences)


def score_sql(mean_length: str) -> str:
    """The summed score, given postings `p` (tf, len), query terms `q` (idf) and the mean length's
    placeholder. Higher is better; backends return it negated, as FTS5 does."""
    return f"SUM(q.idf * p.tf * {K1 + 1} / (p.tf + {K1} * ({1 - B} + {B} * p.len / {mean_length})))"
