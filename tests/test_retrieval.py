"""Ranking, refusal and answer composition: the pure pieces, then the whole path on the seed article."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from verbatim.bot.answering import Answerer
from verbatim.bot.plain import render_answer
from verbatim.index.library import Library
from verbatim.index.models import Article, ArticleDraft, Sentence
from verbatim.index.text import words
from verbatim.retrieval import reading
from verbatim.retrieval.answer import by_share, compose_answer, list_end, merge_adjacent
from verbatim.retrieval.candidates import lexical_terms, quotable
from verbatim.retrieval.contrast import antonym_clash, negation_mismatch
from verbatim.retrieval.features import CandidateContext, question_info
from verbatim.retrieval.models import Citation
from verbatim.retrieval.ranking import Scored, rank

from tests.conftest import SHARED


def w(text: str) -> frozenset[str]:
    return frozenset(words(text))


def test_negation_only_in_the_question_is_a_mismatch() -> None:
    assert negation_mismatch(w("What wasn't Germany's central interest?"), w("Germany's interest was trade."))
    assert negation_mismatch(w("Who did not sign the treaty?"), w("France signed the treaty."))
    assert not negation_mismatch(w("Who did not sign?"), w("Britain refused to sign."))
    assert not negation_mismatch(w("Who signed the treaty?"), w("France did not sign it."))


def test_an_antonym_in_place_of_the_question_word_is_a_clash() -> None:
    assert antonym_clash(w("When did the price fall?"), w("In 1979 the price rose again."))
    assert antonym_clash(w("Who was the last king?"), w("He was the first king of Poland."))
    assert not antonym_clash(w("When did the price rise and fall?"), w("The price rose and fell."))
    assert not antonym_clash(w("When did the price rise?"), w("In 1979 the price rose again."))


def test_questions_and_pointers_to_other_articles_are_never_quoted_as_answers() -> None:
    assert not quotable("Why did the council close the bridge?")
    assert not quotable("Who is presenting at the awards? ")
    assert not quotable("Read next: Council and mayor on collision course over bridge")
    assert not quotable("READ MORE: Storm hits the coast")
    assert not quotable("Related coverage: what the closure means for commuters")
    # A question someone asked, quoted, is something the article reports; so is a plain statement.
    assert quotable('The mayor asked: "Why was nobody told?"')
    assert quotable("The watch cost $5, and readers asked why.")
    assert quotable("What? The council said it had no choice.")


def test_lexical_search_keeps_the_rarest_terms_within_the_match_budget() -> None:
    df = {"rafah": 40, "attack": 3_000, "said": 9_000, "new": 0}
    terms = ["said", "rafah", "attack", "new"]
    assert lexical_terms(terms, df, budget=8_000) == ["new", "rafah", "attack"]
    assert lexical_terms(terms, df, budget=100_000) == ["new", "rafah", "attack", "said"]
    assert lexical_terms(["said"], df, budget=10) == ["said"]  # never nothing to search for


ARTICLE = "The museum opened in 1990. It was first proposed in 1975.\n\nThe museum closed in 2020."


def _article() -> Article:
    return Article(
        id="a",
        collection="c",
        title="Museum",
        url="https://example.org/museum",
        text=ARTICLE,
        sentence_count=3,
        added_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _context(sid: int, start: int, end: int, ordinal: int, dense: float) -> CandidateContext:
    sentence = Sentence(
        id=sid, article_id="a", ordinal=ordinal, paragraph=0, start=start, end=end, text=ARTICLE[start:end]
    )
    return CandidateContext(
        sentence=sentence,
        title="Museum",
        dense=dense,
        dense_rank=sid,
        bm25=None,
        bm25_rank=None,
        prev_dense=0.0,
        next_dense=0.0,
        paragraph_dense=dense,
        context_terms=frozenset(),
        prev_terms=frozenset(),
        next_terms=frozenset(),
    )


def _ranked() -> list[Scored]:
    q = question_info("When did the museum open?", {"museum": 2, "open": 1}, 3)
    contexts = [_context(1, 0, 26, 0, 0.9), _context(2, 27, 57, 1, 0.85), _context(3, 59, 85, 2, 0.2)]
    return rank(q, contexts)


def test_the_sentence_that_answers_ranks_first() -> None:
    ranked = _ranked()
    assert ranked[0].context.sentence.text == "The museum opened in 1990."
    assert sum(s.share for s in ranked) == pytest.approx(1.0)


def test_refuses_below_the_threshold_and_quotes_above_it() -> None:
    ranked, articles = _ranked(), {"a": _article()}
    refused = compose_answer(
        "q", by_share(ranked, 3), articles, confidence=0.2, answer_from=0.5, lead_from=0.3
    )
    assert not refused.answered and refused.citations == []
    answer = compose_answer(
        "q", by_share(ranked, 3), articles, confidence=0.9, answer_from=0.5, lead_from=0.3
    )
    assert answer.answered and answer.confidence == 0.9
    for citation in answer.citations:
        assert ARTICLE[citation.start : citation.end] == citation.text


def test_a_refusal_that_came_close_offers_the_best_sentence_as_a_lead() -> None:
    ranked, articles = _ranked(), {"a": _article()}
    passages = by_share(ranked, 3)
    near = compose_answer("q", passages, articles, confidence=0.3, answer_from=0.9, lead_from=0.3)
    assert not near.answered and near.citations == [] and near.answer == ""
    assert near.closest is not None and near.closest.text == "The museum opened in 1990."
    assert ARTICLE[near.closest.start : near.closest.end] == near.closest.text
    far = compose_answer("q", passages, articles, confidence=0.15, answer_from=0.9, lead_from=0.3)
    assert not far.answered and far.closest is None
    assert "The museum opened in 1990." in render_answer(near)
    assert "The museum opened in 1990." not in render_answer(far)


def test_a_citation_that_is_not_verbatim_is_never_shown() -> None:
    article = _article().model_copy(update={"text": ARTICLE.replace("1990", "1991")})
    answer = compose_answer(
        "q", by_share(_ranked(), 3), {"a": article}, confidence=0.9, answer_from=0.5, lead_from=0.3
    )
    assert all("1990" not in c.text for c in answer.citations)
    assert all(article.text[c.start : c.end] == c.text for c in answer.citations)


def test_neighbouring_sentences_merge_into_one_quote_in_article_order() -> None:
    def cite(start: int, end: int, ordinal: int) -> Citation:
        return Citation(
            article_id="a",
            title="Museum",
            url=None,
            start=start,
            end=end,
            text=ARTICLE[start:end],
            score=0.5,
            ordinal=ordinal,
            sentence_count=3,
            sentence_ids=(ordinal + 1,),
        )

    merged = merge_adjacent([cite(27, 57, 1), cite(0, 26, 0), cite(59, 85, 2)], {"a": _article()})
    assert [c.text for c in merged] == [ARTICLE[0:57], ARTICLE[59:85]]
    assert sorted(merged[0].sentence_ids) == [1, 2]


def test_a_sentence_ending_in_a_colon_is_quoted_with_its_list() -> None:
    text = "Intro.\nThe winners were:\n- Alice\n- Bob\n\n" + "After that comes prose. " * 8
    assert text[: list_end(text, text.index(":") + 1)] == "Intro.\nThe winners were:\n- Alice\n- Bob"
    plain = "They named three:\nAlice Smith\nBob Jones\n" + "A long paragraph of prose. " * 8
    assert plain[: list_end(plain, plain.index(":") + 1)].endswith("Bob Jones")
    assert list_end("No list: here it goes on.", 8) == 8  # the colon's line goes on: not a list


def test_the_reader_reorders_the_ranker_and_a_neighbour_joins_only_when_it_reads_better() -> None:
    model = reading.ReadingModel(rank_mix=0.5, join_margin=1.0, support_margin=1.0)
    ranked = _ranked()
    reads = reading.rerank(ranked, [-2.0, 3.0, 0.5], model)
    assert reads[0].item is ranked[1]  # the reader's clear favourite wins over a small ranker lead

    def join(side: str, score: float) -> reading.Join:
        return reading.Join(side, "The board met on Monday.", score)

    q, best = "When did the museum open?", "The museum opened in 1990."
    assert reading.choose_join(q, best, 3.0, [join("prev", 3.5), join("next", 4.2)], model) == "next"
    assert reading.choose_join(q, best, 3.0, [join("prev", 3.5)], model) is None
    assert reading.supporting(reads, 3.0, model, limit=3) == []  # 0.5 does not read nearly as well
    low, high = reading.confidence(-3.0, 0.5, model), reading.confidence(3.0, 0.5, model)
    assert 0 < low < 0.5 < high < 1


def test_a_name_asked_for_that_sits_in_the_neighbour_joins_it() -> None:
    question = "Which wildly popular show was green lit for a second season?"
    before = "“Harbour Lights” is officially coming back."
    best = "The network announced Sunday that the wildly popular drama is green lit for a second season."
    assert reading.name_next_door(question, best, before)
    assert not reading.name_next_door("When was it green lit?", best, before)  # no name asked for
    assert not reading.name_next_door(question, f"Harbour Lights: {best}", before)  # named already


SEED = SHARED / "eval" / "seed"


@pytest.mark.slow
def test_every_seed_question_is_answered_from_its_evidence_or_refused(
    library: Library, answerer: Answerer
) -> None:
    """The issue's acceptance on the product's own article: the real model, FAISS and ranker."""
    for line in (SEED / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        library.add("seed", ArticleDraft(id=record["id"], title=record["title"], text=record["text"]))
    for q in [json.loads(line) for line in (SEED / "questions.jsonl").read_text().splitlines()]:
        answer = answerer.ask("seed", q["question"])
        if q["answerable"]:
            assert answer.answered, q["question"]
            assert any(e in answer.citations[0].text for e in q["answers"]), q["question"]
        else:
            assert not answer.answered, q["question"]


@pytest.mark.slow
def test_an_faq_heading_is_not_quoted_back_as_the_answer(library: Library, answerer: Answerer) -> None:
    """A question printed in the article (an FAQ heading, a quiz) matches the question word for word;
    the answer is the sentence that says why."""
    text = (
        "Why was the harbour bridge closed?\n\n"
        "The council closed the harbour bridge on Monday after inspectors found cracks in its piers.\n\n"
        "Read next: Why was the harbour bridge closed, and when will it reopen\n\n"
        "Repairs are expected to take six weeks."
    )
    library.add("faq", ArticleDraft(title="Harbour bridge closed", text=text))
    answer = answerer.ask("faq", "Why was the harbour bridge closed?")
    assert answer.citations
    assert "inspectors found cracks" in answer.citations[0].text
    assert not any(c.text.rstrip().endswith("?") or c.text.startswith("Read next") for c in answer.citations)
