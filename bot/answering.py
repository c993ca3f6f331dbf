"""The answer path: question in, answer out. Embed the question, search storage (dense and lexical),
gather the candidates' paragraphs, rank, let the reader read the best, compose or refuse.

The I/O (storage, the two networks) is here; every decision is in the pure `retrieval` modules.
"""

from __future__ import annotations

import math

from verbatim.index.embedder import Embedder
from verbatim.index.models import Sentence
from verbatim.index.reader import Reader
from verbatim.index.storage import Storage
from verbatim.index.text import content_terms
from verbatim.retrieval import reading, weights
from verbatim.retrieval.answer import Passage, by_share, compose_answer, refusal
from verbatim.retrieval.answerability import answerability
from verbatim.retrieval.candidates import candidate_contexts, lexical_terms
from verbatim.retrieval.features import CandidateContext, QuestionInfo, question_info
from verbatim.retrieval.models import Answer
from verbatim.retrieval.ranking import Scored, rank

DENSE_CANDIDATES = 30
LEXICAL_CANDIDATES = 30
MAX_QUESTION_CHARS = 1000


class Answerer:
    def __init__(
        self,
        storage: Storage,
        embedder: Embedder,
        *,
        reader: Reader | None = None,
        max_citations: int = 3,
        reading_model: reading.ReadingModel | None = None,
    ) -> None:
        self.storage = storage
        self.embedder = embedder
        self.reader = reader
        self.max_citations = max_citations
        self._reading_model = reading_model  # None: the fitted one, read at each question

    @property
    def reading_model(self) -> reading.ReadingModel:
        return self._reading_model or reading.fitted_model()

    def ask(self, collection: str, question: str) -> Answer:
        question = " ".join(question.split())[:MAX_QUESTION_CHARS]
        reader_name = self.reader.name if self.reader else None
        if not question:
            return refusal(question, "empty_question", reader=reader_name)
        # An empty collection needs no model: answered at once, even while the model still loads.
        if self.storage.sentence_count(collection) == 0:
            return refusal(question, "empty_collection", reader=reader_name)
        q, contexts = self.candidates(collection, question)
        if not contexts:
            return refusal(question, "no_match", reader=reader_name)
        ranked = rank(q, contexts)
        ranker_confidence = answerability(ranked)
        if self.reader is None:
            fitted = weights.fitted()
            passages = by_share(ranked, self.max_citations)
            confidence, answer_from, lead_from = (
                ranker_confidence,
                fitted.min_confidence,
                fitted.min_lead_confidence,
            )
        else:
            model = self.reading_model
            passages, best = read_passages(self.reader, model, question, ranked, self.max_citations)
            confidence = reading.confidence(best, ranker_confidence, model)
            answer_from, lead_from = model.min_confidence, model.min_lead_confidence
        cited = sorted({s.article_id for p in passages for s in p.sentences})
        return compose_answer(
            question,
            passages,
            self.storage.articles(collection, cited),
            confidence=confidence,
            answer_from=answer_from,
            lead_from=lead_from,
            reader=reader_name,
        )

    def candidates(self, collection: str, question: str) -> tuple[QuestionInfo, list[CandidateContext]]:
        storage = self.storage
        q_terms = content_terms(question)
        df = storage.document_frequencies(collection, q_terms)
        q = question_info(question, df, storage.sentence_count(collection))
        vector = self.embedder.embed_query(question)
        dense_hits = storage.dense_search(collection, vector, DENSE_CANDIDATES)
        lexical_hits = storage.lexical_search(collection, lexical_terms(q_terms, df), LEXICAL_CANDIDATES)
        found = {i for i, _ in dense_hits} | {h.sentence_id for h in lexical_hits}
        # The candidates and every sentence of their paragraphs, with vectors: the context features.
        rows = storage.candidate_context(collection, sorted(found))
        return q, candidate_contexts(rows, vector, dense_hits, lexical_hits)


def _probability(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))


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
    joins = [
        reading.Join(side, (a if side == "prev" else b).text, float(r))
        for (side, (a, b)), r in zip(pairs, joined.tolist(), strict=True)
    ]
    side = reading.choose_join(question, sentence.text, best.reading, joins, model)
    sentences: tuple[Sentence, ...] = (sentence,)
    score = best.reading
    if side is not None:
        sentences = dict(pairs)[side]
        score = next(j.reading for j in joins if j.side == side)
    passages = [Passage(sentences, _probability(score))]
    for other in reading.supporting(reads, score, model, max_citations):
        if all(other.item.context.sentence.text != s.text for p in passages for s in p.sentences):
            passages.append(Passage((other.item.context.sentence,), _probability(other.reading)))
    return passages, score
