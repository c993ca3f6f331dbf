"""Features of a (question, candidate sentence) pair for the learned ranker. Pure functions.

Each feature is something a careful reader would check: does the sentence mean the same (dense), share
the rare words (idf overlap) and their order (bigrams), sit in a paragraph about the question (context),
hold the kind of thing asked for (a date for "when", a number for "how many", a name for "who"), and
lack or contradict nothing the question says (a name, a number, a negation, a word turned to its opposite)?
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import pairwise

from verbatim.index.models import Sentence
from verbatim.index.text import content_terms, stem, term_string, words
from verbatim.retrieval.contrast import antonym_clash, is_negated, negation_mismatch, opposable

FEATURE_NAMES = (
    "dense",
    "dense_gap",
    "dense_rank",
    "bm25_rel",
    "bm25_rank",
    "idf_overlap",
    "idf_missing",
    "max_missing_idf",
    "bigram",
    "context_idf_overlap",
    "title_idf_overlap",
    "prev_dense",
    "next_dense",
    "prev_idf_overlap",
    "next_idf_overlap",
    "window_idf_overlap",
    "anaphor",
    "anaphor_prev_overlap",
    "paragraph_dense",
    "novel_terms",
    "length",
    "cue_time",
    "cue_number",
    "cue_name",
    "cue_reason",
    "missing_max",
    "window_missing_max",
    "window_missing_count",
    "number_missing",
    "numbers_present",
    "name_missing",
    "negation_mismatch",
    "antonym_clash",
    "answer_slot",
)

_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
_MONTH = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Monday|Tuesday|Wednesday|Thursday|Friday|"
    r"Saturday|Sunday|century|centuries|decade|BC|AD)\b"
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|trillion|dozen|half|percent)\b",
    re.IGNORECASE,
)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+")
# A sentence that leans on the one before ("It was first proved in 1962") answers questions whose
# words sit in that previous sentence.
_ANAPHOR = re.compile(
    r"^[\"“'(]*(It|Its|This|These|That|Those|They|Their|Them|He|She|His|Her|Such|Both|The latter|The former|"
    r"There|Here|Most|Some|Many|Each|All|Another|Other|However|Also|In addition|Thus|Therefore)\b"
)
# Words that frame a question rather than name what it is about ("what type of", "how is it described",
# "what happened"): the answering sentence seldom repeats them, so their absence is no sign of a wrong one.
_FRAMING = frozenset(
    stem(w)
    for w in """type types kind kinds sort name named names call called calls known term terms termed describe
    described description mean means meaning happen happened happens example examples refer refers referred
    consider considered think thought say said says use used uses make made take took taken get got go went
    come came occur occurred result results cause caused causes reason reasons way ways year years time times
    date number numbers amount percentage long locate located location place places according approximately
    approximate else""".split()
)
_QUESTION_NUMBER = re.compile(r"\d(?:[\d,.]*\d)?")
_REASON = re.compile(
    r"\b(because|due to|owing to|in order to|so that|in protest|as a result|in response|reason|since|"
    r"after|caused|led to|thanks to|amid)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class QuestionInfo:
    text: str
    terms: tuple[str, ...]
    idf: Mapping[str, float]
    kind: str  # time | number | name | reason | other
    words: frozenset[str]
    bigrams: frozenset[tuple[str, str]]

    @cached_property  # read by every overlap feature of every candidate
    def total_idf(self) -> float:
        return sum(self.idf.values()) or 1.0

    @cached_property
    def top_idf(self) -> float:
        return max(self.idf.values(), default=0.0) or 1.0

    @cached_property
    def required_idf(self) -> Mapping[str, float]:
        """The idf of the terms an answering sentence (or its paragraph) should contain: no framing words."""
        return {t: w for t, w in self.idf.items() if t not in _FRAMING}

    @cached_property
    def negated(self) -> bool:
        return is_negated(self.words)

    @cached_property
    def opposable(self) -> frozenset[str]:
        return opposable(self.words)

    @cached_property
    def numbers(self) -> tuple[str, ...]:
        return tuple(_QUESTION_NUMBER.findall(self.text))

    @cached_property
    def names(self) -> tuple[frozenset[str], ...]:
        """The terms of each capitalised word after the first: names the answer must be about."""
        found = (frozenset(content_terms(m.group(0))) for m in _CAPITALISED.finditer(self.text))
        return tuple(terms for terms in found if terms)


@dataclass(frozen=True)
class CandidateContext:
    sentence: Sentence
    title: str
    dense: float
    dense_rank: int | None
    bm25: float | None
    bm25_rank: int | None
    prev_dense: float  # the previous / next sentence of the same paragraph (0 when none)
    next_dense: float
    paragraph_dense: float
    context_terms: frozenset[str]  # the terms of the sentence's paragraph
    prev_terms: frozenset[str]
    next_terms: frozenset[str]
    # term_string(sentence.text).split() when the caller has it (the store keeps it); else computed.
    stems: tuple[str, ...] | None = None
    # The previous / next sentence of the same paragraph, which a quote may need beside this one.
    prev: Sentence | None = None
    next: Sentence | None = None


def question_kind(question: str) -> str:
    q = question.lower()
    if re.search(
        r"\bhow (many|much|long|far|old|large|big|tall|high)\b|\bwhat (percentage|number|amount)\b", q
    ):
        return "number"
    if re.search(
        r"\bwhen\b|\bwhat (year|date|day|month|time|century|decade|period)\b|\bwhich (year|century)\b", q
    ):
        return "time"
    if re.search(
        r"\bwho(m|se)?\b|\bwhat (is the name|was the name)\b|\bwhere\b|\bwhich (city|country|team|company)\b",
        q,
    ):
        return "name"
    if re.search(r"\bwhy\b|\bwhat (caused|led|was the reason)\b|\breason\b", q):
        return "reason"
    return "other"


def idf_weights(terms: Sequence[str], df: Mapping[str, int], n_sentences: int) -> dict[str, float]:
    """BM25's idf: rare words weigh more; a word absent from the collection weighs most."""
    n = max(n_sentences, 1)
    return {t: math.log(1.0 + (n - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5)) for t in terms}


def question_info(question: str, df: Mapping[str, int], n_sentences: int) -> QuestionInfo:
    terms = tuple(content_terms(question))
    stems = term_string(question).split()
    return QuestionInfo(
        text=question,
        terms=terms,
        idf=idf_weights(terms, df, n_sentences),
        kind=question_kind(question),
        words=frozenset(words(question)),
        bigrams=frozenset(pairwise(stems)),
    )


def _weighted_overlap(q: QuestionInfo, present: frozenset[str] | set[str]) -> float:
    return sum(w for t, w in q.idf.items() if t in present) / q.total_idf


def _overlap_either(q: QuestionInfo, first: AbstractSet[str], second: AbstractSet[str]) -> float:
    """`_weighted_overlap(q, first | second)` without building the union."""
    return sum(w for t, w in q.idf.items() if t in first or t in second) / q.total_idf


def _overlap_window(q: QuestionInfo, c: CandidateContext, sentence_terms: set[str]) -> float:
    """`_weighted_overlap(q, c.prev_terms | c.next_terms | sentence_terms)` without building the union."""
    return (
        sum(w for t, w in q.idf.items() if t in c.prev_terms or t in c.next_terms or t in sentence_terms)
        / q.total_idf
    )


@lru_cache(maxsize=4096)
def _title_terms(title: str) -> frozenset[str]:
    return frozenset(content_terms(title))


def _answer_slot(q: QuestionInfo, text: str) -> bool:
    """The sentence holds something of the kind asked for that the question does not already say."""
    lowered = q.text.lower()
    if q.kind == "time":
        found = [m.group(0) for m in _YEAR.finditer(text)] + [m.group(0) for m in _MONTH.finditer(text)]
    elif q.kind == "number":
        found = [m.group(0) for m in _NUMBER.finditer(text)]
    elif q.kind == "name":
        found = [m.group(0) for m in _CAPITALISED.finditer(text)]
    else:
        return True
    return any(x.lower() not in lowered for x in found)


def _contrast_features(
    q: QuestionInfo, c: CandidateContext, text: str, sentence_terms: set[str]
) -> list[float]:
    """What the sentence lacks or contradicts: the signs of a close match that is not an answer."""
    title = _title_terms(c.title)

    def in_window(term: str) -> bool:
        return term in sentence_terms or term in c.prev_terms or term in c.next_terms or term in title

    missing = [w for t, w in q.required_idf.items() if t not in sentence_terms]
    window_missing = [w for t, w in q.required_idf.items() if not in_window(t)]
    numbers_missing = sum(n not in text for n in q.numbers)
    # Most questions have no negation and no word with an opposite: then the sentence's words are not needed.
    negation = clash = False
    if q.negated or q.opposable:
        sentence_words = frozenset(words(text))
        negation = negation_mismatch(q.words, sentence_words)
        clash = antonym_clash(q.opposable, sentence_words)
    return [
        max(missing, default=0.0) / q.top_idf,
        max(window_missing, default=0.0) / q.top_idf,
        float(len(window_missing)),
        float(numbers_missing > 0),
        float(bool(q.numbers) and numbers_missing == 0),
        float(any(not all(map(in_window, name)) for name in q.names)),
        float(negation),
        float(clash),
        float(_answer_slot(q, text)),
    ]


def features(q: QuestionInfo, c: CandidateContext, best_dense: float, best_bm25: float) -> list[float]:
    text = c.sentence.text
    stems = c.stems if c.stems is not None else term_string(text).split()
    sentence_terms = set(stems)
    overlap = _weighted_overlap(q, sentence_terms)
    context_overlap = _overlap_either(q, c.context_terms, sentence_terms)
    novel = [t for t in sentence_terms if t not in q.idf]
    prev_overlap = _weighted_overlap(q, c.prev_terms)
    anaphor = float(bool(_ANAPHOR.match(text)))
    context = c.context_terms  # with sentence_terms: what the paragraph covers (not built as a union)
    missing = max(
        (w for t, w in q.required_idf.items() if t not in context and t not in sentence_terms), default=0.0
    )
    missing_idf = missing / q.top_idf
    if q.bigrams:
        bigrams = set(pairwise(stems))
        bigram = len(q.bigrams & bigrams) / len(q.bigrams)
    else:
        bigram = 0.0
    return [
        c.dense,
        c.dense - best_dense,
        1.0 / (1 + c.dense_rank) if c.dense_rank is not None else 0.0,
        c.bm25 / best_bm25 if c.bm25 is not None and best_bm25 < 0 else 0.0,
        1.0 / (1 + c.bm25_rank) if c.bm25_rank is not None else 0.0,
        overlap,
        1.0 - context_overlap,
        missing_idf,
        bigram,
        context_overlap,
        _weighted_overlap(q, _title_terms(c.title)),
        c.prev_dense,
        c.next_dense,
        prev_overlap,
        _weighted_overlap(q, c.next_terms),
        _overlap_window(q, c, sentence_terms),
        anaphor,
        anaphor * prev_overlap,
        c.paragraph_dense,
        len(novel) / max(len(sentence_terms), 1),
        math.log1p(len(stems)),
        float(q.kind == "time" and bool(_YEAR.search(text) or _MONTH.search(text))),
        float(q.kind == "number" and bool(_NUMBER.search(text))),
        float(q.kind == "name" and _answer_slot(q, text)),
        float(q.kind == "reason" and bool(_REASON.search(text))),
        *_contrast_features(q, c, text, sentence_terms),
    ]
