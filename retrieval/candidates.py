"""Candidates as ranking reads them: which question terms to search for, and each candidate sentence
with what its paragraph says around it. Pure functions over what storage returned."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
from verbatim.index.storage import ContextRow, LexicalHit
from verbatim.retrieval.features import CandidateContext

# BM25 scores every sentence that holds any of the searched terms, so a question's most common terms
# are left out of the lexical search once the rarer ones already match this many sentences. They add
# little to BM25's order and, in a collection of a million sentences, most of its time (a term in one
# sentence of fifty is 20,000 matches). On the SQuAD collection (10k sentences) no question comes near
# it: the most any question's terms match is 2,100 sentences.
LEXICAL_MATCH_BUDGET = 8_000

# Sentences that state nothing to quote as an answer: a question (an FAQ heading, or a quiz that prints
# the very question asked, which would come back word for word with full confidence) and a line that
# points at another article ("Read next: …"). They stay in their paragraph as context for the others.
_ENDS_ASKING = re.compile(r"\?[\s\"”’')\]]*$")
_QUOTATION = re.compile(r"[\"“”‘]")  # a question someone asked, quoted, is said in the article
_POINTER = re.compile(
    r"^\W*(?:read|also read|related|see also|more on|watch|listen|recommended|sign up|subscribe)\b"
    r"[^:.!?]{0,30}:",
    re.IGNORECASE,
)


def quotable(text: str) -> bool:
    """Whether a sentence can be quoted as an answer: not a question, not a pointer to more reading."""
    if _ENDS_ASKING.search(text) and not _QUOTATION.search(text):
        return False
    return _POINTER.match(text) is None


def lexical_terms(terms: list[str], df: Mapping[str, int], budget: int = LEXICAL_MATCH_BUDGET) -> list[str]:
    """The rarest terms whose sentence counts add up to at most `budget`, and always the rarest one."""
    chosen: list[str] = []
    total = 0
    for term in sorted(terms, key=lambda t: df.get(t, 0)):
        total += df.get(term, 0)
        if chosen and total > budget:
            break
        chosen.append(term)
    return chosen


def candidate_contexts(
    rows: Sequence[ContextRow],
    vector: np.ndarray,
    dense_hits: Sequence[tuple[int, float]],
    lexical_hits: Sequence[LexicalHit],
) -> list[CandidateContext]:
    """What ranking reads of each candidate, from the candidates' paragraphs (`rows`, in id order) and
    how each search found them."""
    if not rows:
        return []
    dense_rank = {i: n for n, (i, _) in enumerate(dense_hits)}
    bm25 = {h.sentence_id: h.bm25 for h in lexical_hits}
    bm25_rank = {h.sentence_id: n for n, h in enumerate(lexical_hits)}
    scores = np.stack([r.embedding for r in rows]) @ vector
    by_paragraph: dict[tuple[str, int], list[int]] = defaultdict(list)
    cosine: dict[int, float] = {}
    stems: dict[int, tuple[str, ...]] = {}
    sentence_terms: dict[int, frozenset[str]] = {}
    at: dict[tuple[str, int, int], int] = {}  # (article, paragraph, ordinal) -> sentence id
    paragraph_terms: dict[tuple[str, int], set[str]] = defaultdict(set)
    for row, score in zip(rows, scores, strict=True):
        key = (row.article_id, row.paragraph)
        by_paragraph[key].append(row.id)
        cosine[row.id] = float(score)
        # The stored terms are term_string(text), so this is the set content_terms(text) gives,
        # without tokenising and stemming hundreds of sentences a question.
        stems[row.id] = tuple(row.terms.split())
        sentence_terms[row.id] = frozenset(stems[row.id])
        paragraph_terms[key].update(sentence_terms[row.id])
        at[(row.article_id, row.paragraph, row.ordinal)] = row.id
    context_terms = {key: frozenset(terms) for key, terms in paragraph_terms.items()}
    nothing: frozenset[str] = frozenset()

    contexts = []
    by_id = {row.id: row.sentence for row in rows}
    for row in rows:
        if not row.candidate or not quotable(row.sentence.text):
            continue  # context only
        sentence = row.sentence
        sid = row.id
        key = (row.article_id, row.paragraph)
        prev_id = at.get((*key, row.ordinal - 1))
        next_id = at.get((*key, row.ordinal + 1))
        members = by_paragraph[key]
        contexts.append(
            CandidateContext(
                sentence=sentence,
                title=row.title,
                dense=cosine[sid],
                dense_rank=dense_rank.get(sid),
                bm25=bm25.get(sid),
                bm25_rank=bm25_rank.get(sid),
                prev_dense=cosine[prev_id] if prev_id is not None else 0.0,
                next_dense=cosine[next_id] if next_id is not None else 0.0,
                paragraph_dense=sum(cosine[m] for m in members) / len(members),
                context_terms=context_terms[key],
                prev_terms=sentence_terms[prev_id] if prev_id is not None else nothing,
                next_terms=sentence_terms[next_id] if next_id is not None else nothing,
                stems=stems[sid],
                prev=by_id[prev_id] if prev_id is not None else None,
                next=by_id[next_id] if next_id is not None else None,
            )
        )
    return contexts
