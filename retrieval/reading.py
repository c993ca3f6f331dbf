"""What the reader adds to an answer, as pure functions over its scores: a new order for the ranker's top
candidates, the confidence that the best one answers, and whether a neighbouring sentence belongs in the
quote.

The reader (index/reader.py) reads the question with each of the ranker's `read_top` best sentences;
its logit, plus a little of the ranker's score, orders them. Whether to answer is a logistic model over
the best reading and the ranker-only confidence; `bench/quality.py --tune` fits it on the tuning halves
of SQuAD, SQuAD 2.0 and the 2024 news questions, and writes it into `weights.json`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from verbatim.retrieval import weights
from verbatim.retrieval.ranking import Scored


@dataclass(frozen=True)
class ReadingModel:
    read_top: int = 8  # candidates the reader reads
    rank_mix: float = 0.3  # weight of the ranker's score (relative to its best) beside the reader's logit
    reader_weight: float = 1.0  # the answer model: logit = w_r * reading + w_c * logit(ranker conf) + b
    ranker_weight: float = 0.3
    bias: float = 0.0
    min_confidence: float = 0.5  # answer from here
    min_lead_confidence: float = 0.3  # below min_confidence, show the closest passage from here
    join_margin: float = 1.0  # quote a neighbour too when the joined passage reads this much better
    support_margin: float = 1.5  # a further quote must read within this of the best


def fitted_model() -> ReadingModel:
    """The reading stage fitted into weights.json (the defaults above for any field it lacks)."""
    known = ReadingModel.__dataclass_fields__
    return ReadingModel(**{k: v for k, v in weights.fitted().reading.items() if k in known})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Join:
    """The best sentence read together with a neighbour: which side, the neighbour's text, the reading."""

    side: str  # "prev" or "next"
    neighbour: str
    reading: float


@dataclass(frozen=True)
class Read:
    """A candidate the reader read: its ranker entry, its reading, and the two combined."""

    item: Scored
    reading: float
    combined: float


def rerank(ranked: Sequence[Scored], readings: Sequence[float], model: ReadingModel) -> list[Read]:
    """The read candidates, best first by reading plus a share of the ranker's score."""
    if not ranked:
        return []
    best = ranked[0].score
    reads = [
        Read(item, float(r), float(r) + model.rank_mix * (item.score - best))
        for item, r in zip(ranked, readings, strict=False)
    ]
    return sorted(reads, key=lambda r: (-r.combined, r.item.sentence_id))


def confidence(reading: float, ranker_confidence: float, model: ReadingModel) -> float:
    """Probability that the passage read as `reading` answers the question."""
    p = min(max(ranker_confidence, 1e-6), 1 - 1e-6)
    logit = model.reader_weight * reading + model.ranker_weight * math.log(p / (1 - p)) + model.bias
    return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))


def choose_join(
    question: str, sentence: str, single: float, joined: Sequence[Join], model: ReadingModel
) -> str | None:
    """Which neighbour ("prev" or "next") to quote with the best sentence: the one whose joined passage
    reads clearly better than the sentence alone, else one that holds the name the question asks for
    while the sentence names nobody new, as long as the two together read no worse."""
    if not joined:
        return None
    best = max(joined, key=lambda j: j.reading)
    if best.reading >= single + model.join_margin:
        return best.side
    return next(
        (j.side for j in joined if j.reading >= single and name_next_door(question, sentence, j.neighbour)),
        None,
    )


# Questions that ask for a name: "who", "which show", "what is the name of".
_ASKS_NAME = re.compile(r"\b(who|whom|whose|which|what (is|was) the name)\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]+")
# Capitalised for other reasons than being a name: sentence openers, calendar words.
_NOT_NAMES = frozenset(
    """The A An It Its He She His Her They Their This That These Those There Here In On At For But And
    As If When While After Before According Mr Mrs Ms Dr Monday Tuesday Wednesday Thursday Friday
    Saturday Sunday January February March April May June July August September October November
    December""".split()
)


def _new_names(question: str, text: str) -> set[str]:
    asked = question.lower()
    return {w for w in _CAPITALISED.findall(text) if w not in _NOT_NAMES and w.lower() not in asked}


def name_next_door(question: str, sentence: str, neighbour: str) -> bool:
    """A question asking for a name, a best sentence that names nobody new ("the wildly popular drama
    is green lit…"), and a neighbour that does: the answer sits next door."""
    return (
        _ASKS_NAME.search(question) is not None
        and not _new_names(question, sentence)
        and bool(_new_names(question, neighbour))
    )


def supporting(reads: Sequence[Read], top_reading: float, model: ReadingModel, limit: int) -> list[Read]:
    """Further candidates worth quoting beside the best: ones that read nearly as well, and as answers."""
    return [r for r in reads[1:] if r.reading > 0 and r.reading >= top_reading - model.support_margin][
        : max(limit - 1, 0)
    ]
