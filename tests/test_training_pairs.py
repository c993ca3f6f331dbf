"""The reader's speech and description training pairs (bench/people_pairs.py): what they ask, of what."""

from __future__ import annotations

import random

from bench.people_pairs import described, person_pairs, speaker
from bench.train_reader import Doc


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
