"""The bundled reader, judged by what it decides on real pairs (never by its weights), and the settings
that turn it off or replace it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from verbatim.bot.engine import Engine
from verbatim.bot.settings import Settings
from verbatim.bot.sources import TextSource
from verbatim.index.embedder import SentenceTransformerEmbedder
from verbatim.index.precision import Precision
from verbatim.index.reader import BundledReader, CrossEncoderReader, load_reader

pytestmark = pytest.mark.slow

SHOW = "Harbour Lights"
ARTICLE = (
    "Streaming round-up\n\n"
    f"“{SHOW}” is officially coming back. The network announced Sunday that the wildly popular drama "
    "is green lit for a second season. Filming starts in May in Lisbon.\n\n"
    "Elsewhere, the comedy Night Shift was cancelled after one season, and ratings for the quiz show "
    "Brainbox fell by a third."
)


def test_the_answering_sentence_reads_above_a_topical_one(reader: BundledReader) -> None:
    question = "Where will filming of the new season start?"
    answer, topical = reader.score(
        question,
        [
            ("Streaming round-up", "Filming starts in May in Lisbon."),
            ("Streaming round-up", "The comedy Night Shift was cancelled after one season."),
        ],
    )
    assert answer > topical
    assert answer > 0 > topical


def test_a_look_alike_question_reads_below_the_one_the_sentence_answers(reader: BundledReader) -> None:
    sentence = [("Town council", "The council voted on Tuesday to close the Elm Street library in 2027.")]
    [asked] = reader.score("Which library did the council vote to close?", sentence)
    [swapped] = reader.score("Which library did the council vote to expand?", sentence)
    [elsewhere] = reader.score("Which museum did the mayor of Leeds open?", sentence)
    assert asked > swapped and asked > elsewhere


def test_the_quote_takes_the_neighbour_that_names_the_subject(tmp_path: Path, engine: Engine) -> None:
    engine.add("c", TextSource(ARTICLE))
    answer = engine.ask("c", "Which wildly popular show was green lit for a second season?")
    assert answer.answered
    assert SHOW in answer.citations[0].text and "green lit" in answer.citations[0].text
    assert answer.reader is not None


def test_off_answers_without_a_reader(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, reader="off")  # type: ignore[call-arg]
    assert load_reader("off") is None
    engine = Engine(settings, embedder)
    try:
        engine.add("c", TextSource(ARTICLE))
        answer = engine.ask("c", "When does filming start?")
        assert answer.reader is None
        assert answer.answered and "May" in answer.citations[0].text
    finally:
        engine.close()


def test_any_local_cross_encoder_can_read(tmp_path: Path) -> None:
    """A sentence-transformers CrossEncoder saved to a folder (here: a fresh head on the bundled base,
    so the test needs no download) is loaded by path and scores every pair."""
    from sentence_transformers import CrossEncoder
    from verbatim.index.embedder import resolve_model_path

    CrossEncoder(resolve_model_path("all-MiniLM-L6-v2"), num_labels=1).save(str(tmp_path / "ce"))
    reader = load_reader(str(tmp_path / "ce"))
    assert isinstance(reader, CrossEncoderReader)
    scores = reader.score("When does filming start?", [("t", "Filming starts in May."), ("t", "No.")])
    assert scores.shape == (2,)


@pytest.fixture
def engine(tmp_path: Path, embedder: SentenceTransformerEmbedder, reader: BundledReader) -> Iterator[Engine]:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    engine = Engine(settings, embedder, reader)
    yield engine
    engine.close()


@pytest.mark.parametrize("precision", ["float32", "bfloat16", "int8"])
def test_every_precision_reads_the_answer_above_a_topical_sentence(precision: Precision) -> None:
    question = "Where will filming of the new season start?"
    pairs = [
        ("Streaming round-up", "Filming starts in May in Lisbon."),
        ("Streaming round-up", "The comedy Night Shift was cancelled after one season."),
    ]
    answer, topical = BundledReader(precision=precision).score(question, pairs)
    assert answer > 0 > topical


def test_bfloat16_reads_as_float32_does() -> None:
    question = "Which library did the council vote to close?"
    passages = [
        ("Town council", "The council voted on Tuesday to close the Elm Street library in 2027."),
        ("Town council", "The mayor opened a museum in Leeds."),
        ("Town council", "Libraries across the county cut their opening hours last year."),
    ]
    exact = BundledReader(precision="float32").score(question, passages)
    assert abs(BundledReader(precision="bfloat16").score(question, passages) - exact).max() < 0.1


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_reading_does_not_depend_on_what_is_read_beside_it(precision: Precision) -> None:
    question = "Which library did the council vote to close?"
    answer = ("Town council", "The council voted on Tuesday to close the Elm Street library in 2027.")
    longer = ("Town council", "Libraries across the county, " * 12 + "cut their opening hours last year.")
    reader = BundledReader(precision=precision)
    alone = reader.score(question, [answer])[0]
    assert abs(reader.score(question, [answer, longer])[0] - alone) < 0.05
