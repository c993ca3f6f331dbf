"""Split article text into sentences, keeping exact character offsets (`text[start:end] == sentence`).

A rule-based segmenter: it is exact by construction (it only ever chooses boundaries, never rewrites
text), needs no downloaded data, and runs at regex speed. See bench/segmentation.py for how it
compares with pysbd and blingfire on the SQuAD articles.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from verbatim.index.models import Span

# Titles and other abbreviations that are almost never the end of a sentence.
_NEVER_FINAL = frozenset(
    """mr mrs ms dr prof sr jr st mt ft gen col lt capt cmdr sgt cpl adm maj gov sen rep rev hon pres
    supt insp messrs mme mlle no nos nr vol vols pp fig figs art sec ch op cf vs v approx ca est dept
    univ assn bros jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e viz al""".split()
)
# Abbreviations that often do end a sentence ("... in the U.S. The next day"): split only when the
# next word is one that commonly starts a sentence.
_MAYBE_FINAL = frozenset(
    "etc inc ltd co corp llc plc jr sr a.m p.m u.s u.k u.n e.u d.c n.y l.a u.s.a".split()
)
_SENTENCE_STARTERS = frozenset(
    """the a an this that these those he she it they we i you his her its their our there here but and
    so yet however meanwhile in on at for after before when while as if although though since by
    with from to according during despite many some most all one two three mr mrs ms dr""".split()
)
_MONTHS = frozenset("jan feb mar apr jun jul aug sep sept oct nov dec".split())

# A candidate boundary: terminal punctuation, optional closing quotes/brackets, then whitespace.
_BOUNDARY = re.compile(r"([.!?…]+)([\"'”’»)\]]*)(\s+)")
_WORD_BEFORE = re.compile(r"([\w.'’-]*)$")
_PARAGRAPH = re.compile(r"[^\r\n]+")
_NEXT_WORD = re.compile(r"[\w'’]+")

MAX_SENTENCE_CHARS = 1000


def _is_boundary(text: str, match: re.Match[str], paragraph_end: int) -> bool:
    after = match.end()
    if after >= paragraph_end:
        return True
    nxt = text[after]
    if nxt.islower():
        return False  # "e.g. this", '"Why?" he asked.'
    punct = match.group(1)
    if punct != ".":
        return True  # ! ? ... and ellipses followed by a capital
    word_start = max(0, match.start() - 40)
    token = _WORD_BEFORE.search(text, word_start, match.start()).group(1).lstrip("'’-(\"")  # type: ignore[union-attr]
    lowered = token.lower().rstrip(".")
    if not token:
        return True
    if len(token) == 1 and token.isalpha() and token.isupper():
        return False  # an initial: "J. K. Rowling"
    next_word = _NEXT_WORD.match(text, after)  # at `after`: slicing would copy the rest of the text
    next_lower = next_word.group(0).lower() if next_word else ""
    if lowered in _MONTHS and nxt.isdigit():
        return False  # "Jan. 5"
    if lowered in _NEVER_FINAL:
        return False
    if lowered in _MAYBE_FINAL or re.fullmatch(r"(?:[a-z]\.)+[a-z]", lowered):
        return next_lower in _SENTENCE_STARTERS
    return True


def _split_long(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Cut an over-long run (a table row, a list with no full stops) at whitespace."""
    while end - start > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", start + MAX_SENTENCE_CHARS // 2, start + MAX_SENTENCE_CHARS)
        if cut == -1:
            cut = start + MAX_SENTENCE_CHARS
        yield start, cut
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        yield start, end


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str, *, limit: int | None = None) -> list[Span]:
    """Sentences of `text` as spans; every line break ends a sentence and may start a paragraph.

    With `limit`, splitting stops as soon as more than `limit` sentences are found and the first
    `limit + 1` come back: enough to refuse an over-long article without splitting all of it."""
    spans: list[Span] = []
    for paragraph_no, para in enumerate(_PARAGRAPH.finditer(text)):
        p_start, p_end = para.start(), para.end()
        cursor = p_start
        for match in _BOUNDARY.finditer(text, p_start, p_end):
            if _is_boundary(text, match, p_end):
                _emit(text, cursor, match.start(3), paragraph_no, spans)
                cursor = match.end()
                if limit is not None and len(spans) > limit:
                    return _renumber_paragraphs(spans[: limit + 1])
        _emit(text, cursor, p_end, paragraph_no, spans)
        if limit is not None and len(spans) > limit:
            return _renumber_paragraphs(spans[: limit + 1])
    return _renumber_paragraphs(spans)


def _emit(text: str, start: int, end: int, paragraph: int, out: list[Span]) -> None:
    start, end = _trimmed(text, start, end)
    if start >= end or not any(ch.isalnum() for ch in text[start:end]):
        return
    for s, e in _split_long(text, start, end):
        out.append(Span(start=s, end=e, paragraph=paragraph))


def _renumber_paragraphs(spans: list[Span]) -> list[Span]:
    """Paragraph numbers count only lines that hold a sentence, so blank lines do not leave gaps."""
    renumbered: list[Span] = []
    mapping: dict[int, int] = {}
    for span in spans:
        number = mapping.setdefault(span.paragraph, len(mapping))
        renumbered.append(span if number == span.paragraph else span.model_copy(update={"paragraph": number}))
    return renumbered
