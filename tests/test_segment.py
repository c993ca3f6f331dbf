from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from verbatim.index.segment import MAX_SENTENCE_CHARS, split_sentences


def texts(sample: str) -> list[str]:
    return [sample[s.start : s.end] for s in split_sentences(sample)]


def test_abbreviations_initials_and_decimals_do_not_split() -> None:
    sample = "Dr. Smith met the U.S. envoy on Jan. 5 at 3.5 p.m. in Washington. J. K. Rowling was not there."
    assert texts(sample) == [
        "Dr. Smith met the U.S. envoy on Jan. 5 at 3.5 p.m. in Washington.",
        "J. K. Rowling was not there.",
    ]


def test_acronym_at_sentence_end_splits_before_a_sentence_starter() -> None:
    assert texts("Prices rose 3.5% in the U.S. The next day, they fell.") == [
        "Prices rose 3.5% in the U.S.",
        "The next day, they fell.",
    ]


def test_quotes_stay_with_their_sentence() -> None:
    sample = 'She said the talks were "urgent." "Why?" he asked. “Bibi made a mistake.” Then they left.'
    assert texts(sample) == [
        'She said the talks were "urgent."',
        '"Why?" he asked.',
        "“Bibi made a mistake.”",
        "Then they left.",
    ]


def test_line_breaks_end_sentences_and_number_paragraphs() -> None:
    sample = "Headline without a full stop\nFirst paragraph. Still first.\n\n\nSecond paragraph"
    spans = split_sentences(sample)
    assert [sample[s.start : s.end] for s in spans] == [
        "Headline without a full stop",
        "First paragraph.",
        "Still first.",
        "Second paragraph",
    ]
    assert [s.paragraph for s in spans] == [0, 1, 1, 2]


def test_over_long_runs_are_cut_at_spaces() -> None:
    sample = " ".join(["word"] * 2000)
    spans = split_sentences(sample)
    assert len(spans) > 1
    assert all(s.end - s.start <= MAX_SENTENCE_CHARS for s in spans)
    assert all(sample[s.start : s.end].strip() == sample[s.start : s.end] for s in spans)


def test_no_sentences_in_whitespace_or_punctuation() -> None:
    assert split_sentences("   \n\n  ... !! \n") == []


_pieces = st.sampled_from(
    [
        " ",
        "\n",
        "\n\n",
        ".",
        "?",
        "!",
        "...",
        '"',
        "”",
        "U.S.",
        "Dr.",
        "3.5",
        "Jan.",
        "A.",
        "The",
        "word",
        "é",
        "中文",
        "\t",
        "\r\n",
        "(",
        ")",
        "'",
        "—",
        "p.m.",
        "etc.",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_pieces, st.text(max_size=12)), max_size=60).map("".join))
def test_spans_are_exact_ordered_trimmed_and_disjoint(sample: str) -> None:
    spans = split_sentences(sample)
    previous_end = 0
    for span in spans:
        piece = sample[span.start : span.end]
        assert 0 <= previous_end <= span.start < span.end <= len(sample)
        assert piece == piece.strip() and piece
        assert any(ch.isalnum() for ch in piece)
        previous_end = span.end
    # Every word character of the text lies in some sentence: nothing is silently dropped.
    covered: set[int] = set()
    for span in spans:
        covered.update(range(span.start, span.end))
    assert all(i in covered for i, ch in enumerate(sample) if ch.isalnum())
