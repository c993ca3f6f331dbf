"""Question in, answer out: embed, retrieve (dense + lexical), rank, compose. The glue over a Library."""

from __future__ import annotations

from index.library import Library
from retrieval.answer import compose_answer, refusal
from retrieval.models import Answer
from retrieval.ranking import Candidate, rank
from retrieval.text import fts_query

DENSE_CANDIDATES = 40
LEXICAL_CANDIDATES = 40
MAX_QUESTION_CHARS = 1000


class Answerer:
    def __init__(self, library: Library, *, max_citations: int = 3) -> None:
        self.library = library
        self.max_citations = max_citations

    def ask(self, collection: str, question: str) -> Answer:
        question = " ".join(question.split())[:MAX_QUESTION_CHARS]
        if not question:
            return refusal(question)
        vector = self.library.embed_query(question)
        dense = dict(self.library.dense_search(collection, vector, DENSE_CANDIDATES))
        lexical = {h.sentence_id: h.bm25 for h in self.library.lexical_search(
            collection, fts_query(question), LEXICAL_CANDIDATES)}
        sentences = self.library.sentences(collection, sorted(dense.keys() | lexical.keys()))
        if not sentences:
            return refusal(question)
        missing = [i for i in sentences if i not in dense]
        if missing:
            dense.update(self.library.dense_scores(collection, vector, missing))
        candidates = [Candidate(s, dense[i], lexical.get(i)) for i, s in sentences.items()]
        ranked = rank(question, candidates)
        articles = self.library.articles(collection, sorted({s.article_id for s in sentences.values()}))
        return compose_answer(question, ranked, articles, max_citations=self.max_citations)
