"""The reader's training pairs: for how people ask (bench/people_pairs.py), what they ask of what; and the
answer sentences with their answer erased (bench/train_reader.py)."""

from __future__ import annotations

import random

from verbatim.index.text import content_terms

from bench.people_pairs import described, person_pairs, short_pairs, shortened, speaker
from bench.train_reader import Doc, erased


def test_speakers_and_descriptions_are_found_by_name_not_by_a_sentence_opening() -> None:
    assert speaker("Earlier, spokesperson Matthew Miller said it was unverified.") == "Matthew Miller"
    assert speaker("The council said nothing.") is None
    assert described("Lloyd Austin is an American general.") == ("Lloyd Austin", "is")
    assert described("They met Randy Jackson, the last original judge, on Sunday.") == ("Randy Jackson", "is")
    assert described("However, the bars improved.") is None
    assert described("It is served by the New Haven Register, a daily paper, and others.") is None


def doc(sentences: list[str]) -> Doc:
    text = " ".join(sentences)
    spans, at = [], 0
    for s in sentences:
        spans.append((at, at + len(s), 0))
        at += len(s) + 1
    return Doc("Talks", text, spans, [frozenset()] * len(spans), [], {}, [], [])


def test_a_speech_question_is_right_for_its_speaker_and_wrong_for_another() -> None:
    article = doc(
        [
            "Spokesperson John Kirby said the US was disappointed.",
            "Kirby joined the council in 2022.",
            "Secretary Matthew Miller told reporters the trip was off.",
        ]
    )
    pairs = person_pairs(article, random.Random(0), limit=8)
    # Asked by full name or surname alike.
    label = {(p.question.lower().replace("john ", ""), p.passage): p.label for p in pairs}
    said = "Spokesperson John Kirby said the US was disappointed."
    assert any(q.startswith("what did kirby") and s == said and y == 1.0 for (q, s), y in label.items())
    assert label.get(("what did miller say?", said)) == 0.0
    assert all(y == 0.0 for (q, s), y in label.items() if s == "Kirby joined the council in 2022.")


def test_a_question_is_cut_short_only_where_what_is_left_still_asks_something() -> None:
    assert (
        shortened("What did the Pope say about the state of the church in 1990?") == "What did the Pope say?"
    )
    assert shortened("Who led the army of Genghis Khan in 1220?") == "Who led the army of Genghis Khan?"
    assert shortened("What is in the box?") is None  # nothing left to ask: "What is?"
    assert shortened("Why?") is None


def test_a_short_question_never_takes_as_wrong_a_sentence_that_holds_every_word_it_kept() -> None:
    sentences = [
        "The Pope said the church was in good health.",
        "The Pope visited Poland in 1990.",
        "The Pope and the bishops say mass each Sunday.",
        "The church was built in 1200.",
    ]
    article = doc(sentences)
    terms = [frozenset(content_terms(s)) for s in sentences]
    article = Doc(
        article.title, article.text, article.spans, terms, [], {t: 1.0 for ts in terms for t in ts}, [], []
    )
    question = {
        "article_id": "a",
        "question": "What did the Pope say about the state of the church in 1990?",
        "answers": ["the church was in good health"],
        "paragraph": 0,
    }
    pairs = short_pairs({"a": article}, [question], random.Random(0))
    assert (pairs[0].question, pairs[0].passage, pairs[0].label) == (
        "What did the Pope say?",
        sentences[0],
        1.0,
    )
    negatives = {p.passage for p in pairs if p.label == 0.0}
    assert negatives and sentences[2] not in negatives  # "the Pope ... say": it may answer too


def test_an_erased_answer_leaves_the_rest_of_its_sentence_and_a_stand_in_of_its_kind() -> None:
    rng = random.Random(0)
    sentence = "In 1950 Truman announced Walter Bedell Smith as the new Director of the CIA."
    who = "Who was appointed Director of the CIA in 1950?"
    assert erased(sentence, "Walter Bedell Smith", who, rng) == (
        "In 1950 Truman announced someone as the new Director of the CIA."
    )
    assert erased(sentence, "1950", "When was Smith appointed?", rng) == (
        "In that year Truman announced Walter Bedell Smith as the new Director of the CIA."
    )
    assert (
        erased("Three groups focus on policy, collection and support.", "Three", "How many groups?", rng)
        == "Some groups focus on policy, collection and support."
    )
    # Nothing to erase when the answer is missing, repeated, or most of the sentence.
    assert erased(sentence, "Eisenhower", who, rng) is None
    assert erased("the CIA and the CIA were merged into one agency today", "the CIA", who, rng) is None
    assert erased("Walter Bedell Smith was named.", "Walter Bedell Smith", who, rng) is None
