"""Question in, answer out: embed, retrieve (dense + lexical), gather context, rank, compose.

The glue over a Library; the decisions live in the pure modules (features, ranking, answer).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from index.library import Library
from index.text import content_terms, fts_query
from retrieval.answer import compose_answer, refusal
from retrieval.features import CandidateContext, QuestionInfo, question_info
from retrieval.models import Answer
from retrieval.answerability import answerability
from retrieval.ranking import rank

DENSE_CANDIDATES = 30
LEXICAL_CANDIDATES = 30
MAX_QUESTION_CHARS = 1000


class Answerer:
    def __init__(self, library: Library, *, max_citations: int = 3) -> None:
        self.library = library
        self.max_citations = max_citations

    def ask(self, collection: str, question: str) -> Answer:
        question = " ".join(question.split())[:MAX_QUESTION_CHARS]
        if not question:
            return refusal(question)
        q, contexts = self.candidates(collection, question)
        if not contexts:
            return refusal(question)
        ranked = rank(q, contexts)
        articles = self.library.articles(collection, sorted({s.context.sentence.article_id for s in ranked[:10]}))
        confidence = answerability(ranked, len(q.terms))
        return compose_answer(
            question, ranked, articles, confidence=confidence, max_citations=self.max_citations
        )

    def candidates(self, collection: str, question: str) -> tuple[QuestionInfo, list[CandidateContext]]:
        lib = self.library
        store = lib.store
        q_terms = question_info(question, {}, 1).terms
        q = question_info(
            question, store.document_frequencies(collection, list(q_terms)), store.sentence_count(collection)
        )
        vector = lib.embed_query(question)
        dense_hits = lib.dense_search(collection, vector, DENSE_CANDIDATES)
        lexical_hits = lib.lexical_search(collection, fts_query(question), LEXICAL_CANDIDATES)
        dense_rank = {i: n for n, (i, _) in enumerate(dense_hits)}
        bm25 = {h.sentence_id: h.bm25 for h in lexical_hits}
        bm25_rank = {h.sentence_id: n for n, h in enumerate(lexical_hits)}
        sentences = lib.sentences(collection, sorted(dense_rank.keys() | bm25.keys()))
        if not sentences:
            return q, []

        # Every sentence of the candidates' paragraphs, with its vector: the context features.
        keys = sorted({(s.article_id, s.paragraph) for s in sentences.values()})
        paragraph_rows = store.paragraph_sentences(collection, keys, int(vector.shape[-1]))
        by_paragraph: dict[tuple[str, int], list[int]] = defaultdict(list)
        cosine: dict[int, float] = {}
        sentence_terms: dict[int, frozenset[str]] = {}
        at: dict[tuple[str, int, int], int] = {}  # (article, paragraph, ordinal) -> sentence id
        paragraph_terms: dict[tuple[str, int], set[str]] = defaultdict(set)
        if paragraph_rows:
            scores = np.stack([v for _, v in paragraph_rows]) @ vector
            for (sentence, _), score in zip(paragraph_rows, scores, strict=True):
                key = (sentence.article_id, sentence.paragraph)
                by_paragraph[key].append(sentence.id)
                cosine[sentence.id] = float(score)
                sentence_terms[sentence.id] = frozenset(content_terms(sentence.text))
                paragraph_terms[key].update(sentence_terms[sentence.id])
                at[(sentence.article_id, sentence.paragraph, sentence.ordinal)] = sentence.id
        titles = {a.id: a.title for a in lib.articles(collection, sorted({k[0] for k in keys})).values()}
        nothing: frozenset[str] = frozenset()

        contexts = []
        for sid, sentence in sentences.items():
            key = (sentence.article_id, sentence.paragraph)
            prev_id = at.get((*key, sentence.ordinal - 1))
            next_id = at.get((*key, sentence.ordinal + 1))
            members = by_paragraph[key]
            contexts.append(
                CandidateContext(
                    sentence=sentence,
                    title=titles.get(sentence.article_id, ""),
                    dense=cosine.get(sid, 0.0),
                    dense_rank=dense_rank.get(sid),
                    bm25=bm25.get(sid),
                    bm25_rank=bm25_rank.get(sid),
                    prev_dense=cosine[prev_id] if prev_id is not None else 0.0,
                    next_dense=cosine[next_id] if next_id is not None else 0.0,
                    paragraph_dense=sum(cosine[m] for m in members) / len(members) if members else 0.0,
                    context_terms=frozenset(paragraph_terms[key]),
                    prev_terms=sentence_terms[prev_id] if prev_id is not None else nothing,
                    next_terms=sentence_terms[next_id] if next_id is not None else nothing,
                )
            )
        return q, contexts

