"""Question in, answer out: embed, retrieve (dense + lexical), gather context, rank, compose.

The glue over a Library; the decisions live in the pure modules (features, ranking, answer).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from index.library import Library
from index.models import Sentence
from index.reader import Reader
from index.text import content_terms, fts_query
from retrieval import reading, weights
from retrieval.answer import Passage, by_share, compose_answer, refusal
from retrieval.answerability import answerability
from retrieval.features import CandidateContext, QuestionInfo, question_info
from retrieval.models import Answer
from retrieval.ranking import Scored, rank

DENSE_CANDIDATES = 30
LEXICAL_CANDIDATES = 30
MAX_QUESTION_CHARS = 1000
# BM25 scores every sentence that holds any of the searched terms, so a question's most common terms
# are left out of the lexical search once the rarer ones already match this many sentences. They add
# little to BM25's order and, in a collection of a million sentences, most of its time (a term in one
# sentence of fifty is 20,000 matches). On the SQuAD collection (10k sentences) no question comes near
# it: the most any question's terms match is 2,100 sentences.
LEXICAL_MATCH_BUDGET = 8_000


def _probability(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))


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


class Answerer:
    def __init__(
        self,
        library: Library,
        *,
        max_citations: int = 3,
        reader: Reader | None = None,
        reading_model: reading.ReadingModel | None = None,
    ) -> None:
        self.library = library
        self.max_citations = max_citations
        self.reader = reader
        self.reading_model = reading_model or reading.default_model()

    def ask(self, collection: str, question: str) -> Answer:
        question = " ".join(question.split())[:MAX_QUESTION_CHARS]
        reader_name = self.reader.name if self.reader else None
        if not question:
            return refusal(question, reader=reader_name)
        q, contexts = self.candidates(collection, question)
        if not contexts:
            return refusal(question, reader=reader_name)
        ranked = rank(q, contexts)
        ranker_confidence = answerability(ranked, len(q.terms))
        if self.reader is None:
            passages = by_share(ranked, self.max_citations)
            confidence, answer_from, lead_from = (
                ranker_confidence,
                weights.MIN_CONFIDENCE,
                weights.MIN_LEAD_CONFIDENCE,
            )
        else:
            passages, best = read_passages(
                self.reader, self.reading_model, question, ranked, self.max_citations
            )
            confidence = reading.confidence(best, ranker_confidence, self.reading_model)
            answer_from = self.reading_model.min_confidence
            lead_from = self.reading_model.min_lead_confidence
        cited = sorted({s.article_id for p in passages for s in p.sentences})
        return compose_answer(
            question,
            passages,
            self.library.articles(collection, cited),
            confidence=confidence,
            answer_from=answer_from,
            lead_from=lead_from,
            reader=reader_name,
        )

    def candidates(self, collection: str, question: str) -> tuple[QuestionInfo, list[CandidateContext]]:
        lib = self.library
        q_terms = content_terms(question)
        df = lib.store.document_frequencies(collection, q_terms)
        q = question_info(question, df, lib.sentence_count(collection))
        vector = lib.embed_query(question)
        dense_hits = lib.dense_search(collection, vector, DENSE_CANDIDATES)
        lexical_hits = lib.lexical_search(
            collection, fts_query(lexical_terms(q_terms, df)), LEXICAL_CANDIDATES
        )
        dense_rank = {i: n for n, (i, _) in enumerate(dense_hits)}
        bm25 = {h.sentence_id: h.bm25 for h in lexical_hits}
        bm25_rank = {h.sentence_id: n for n, h in enumerate(lexical_hits)}
        # The candidates and every sentence of their paragraphs, with vectors: the context features.
        rows = lib.candidate_context(collection, sorted(dense_rank.keys() | bm25.keys()))
        if not rows:
            return q, []

        dim = int(vector.shape[-1])
        scores = np.stack([np.frombuffer(r.embedding, dtype=np.float32, count=dim) for r in rows]) @ vector
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
            if not row.candidate:
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
        return q, contexts


def read_passages(
    reader: Reader,
    model: reading.ReadingModel,
    question: str,
    ranked: list[Scored],
    max_citations: int,
) -> tuple[list[Passage], float]:
    """The reader reads the ranker's best candidates, then the best of them joined with each neighbour
    of its paragraph. Returns what to quote, best first, and the best passage's reading."""
    top = ranked[: model.read_top]
    readings = reader.score(question, [(s.context.title, s.context.sentence.text) for s in top])
    reads = reading.rerank(top, readings.tolist(), model)
    best = reads[0]
    context = best.item.context
    sentence = context.sentence
    pairs: list[tuple[str, tuple[Sentence, Sentence]]] = []
    if context.prev is not None:
        pairs.append(("prev", (context.prev, sentence)))
    if context.next is not None:
        pairs.append(("next", (sentence, context.next)))
    joined = reader.score(question, [(context.title, f"{a.text} {b.text}") for _, (a, b) in pairs])
    joined_readings = {side: float(r) for (side, _), r in zip(pairs, joined.tolist(), strict=True)}
    side = reading.choose_join(best.reading, list(joined_readings.items()), model)
    sentences: tuple[Sentence, ...] = (sentence,)
    score = best.reading
    if side is not None:
        sentences, score = dict(pairs)[side], joined_readings[side]
    passages = [Passage(sentences, _probability(score))]
    for other in reading.supporting(reads, score, model, max_citations):
        if all(other.item.context.sentence.text != s.text for p in passages for s in p.sentences):
            passages.append(Passage((other.item.context.sentence,), _probability(other.reading)))
    return passages, score
