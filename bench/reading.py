"""The reader's stage over cached retrieval pools: readings kept on disk, the production reading path
replayed per question, the fit of the reading stage in `retrieval/weights.json`, and the figures it
reports.

Used by bench/quality.py (SQuAD, SQuAD 2.0, off-topic, seed) and bench/news.py (the 2024 tuning
period); not run on its own.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from verbatim.bot.answering import read_passages
from verbatim.index.models import Sentence
from verbatim.index.reader import Reader
from verbatim.retrieval.answer import Passage
from verbatim.retrieval.ranking import Scored
from verbatim.retrieval.reading import ReadingModel, confidence, rerank

from bench.common import CACHE
from bench.quality import Pool, _scored, answer_probability, by_model, fit_monotone_logistic, logits

# Passage-level hit: does this quote (its sentences) answer the pool's question?
Hit = Callable[[Pool, Sequence[Sentence]], bool]


class CachedReader:
    """A reader whose readings are kept on disk, so each (question, passage) is read once across runs."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.name = reader.name
        # Keyed on the reader's name, which names its exact weights (the bundled one's carries their
        # digest), so one reader's readings are never replayed as another's.
        digest = hashlib.sha256(reader.name.encode()).hexdigest()[:12]
        self.path = CACHE / f"readings-{digest}.pickle"
        self.cache: dict[tuple[str, str, str], float] = {}
        if self.path.exists():
            with self.path.open("rb") as handle:
                self.cache = pickle.load(handle)
        self.new = 0

    def score(self, question: str, passages: Sequence[tuple[str, str]]) -> np.ndarray:
        missing = [p for p in dict.fromkeys(passages) if (question, *p) not in self.cache]
        if missing:
            for p, value in zip(missing, self.reader.score(question, missing).tolist(), strict=True):
                self.cache[(question, *p)] = float(value)
            self.new += len(missing)
            if self.new >= 5000:
                self.save()
        return np.array([self.cache[(question, *p)] for p in passages], dtype=np.float32)

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            pickle.dump(self.cache, handle)
        tmp.replace(self.path)
        self.new = 0


def ranked(pool: Pool) -> list[Scored]:
    scores = logits(pool)
    return [_scored(pool, i, scores) for i in by_model(pool)]


@dataclass
class Outcome:
    """What the production path does with one question."""

    answered: bool
    right: bool  # answered, and the first quote holds the answer
    confidence: float
    top1: bool  # the reranked best sentence holds the answer (ranking, whatever the decision)
    top3: bool
    joined: bool
    quotes: int  # passages quoted when answered


def replay(pool: Pool, reader: Reader, model: ReadingModel, hit: Hit) -> Outcome:
    if not pool.contexts:
        return Outcome(False, False, 0.0, False, False, False, 0)
    items = ranked(pool)
    passages, best = read_passages(reader, model, pool.question.text, items, 3)
    conf = confidence(best, answer_probability(pool), model)
    order = rerank_order(pool, items, reader, model)
    answered = conf >= model.min_confidence
    first: Passage = passages[0]
    return Outcome(
        answered=answered,
        right=answered and hit(pool, first.sentences),
        confidence=conf,
        top1=hit(pool, [order[0].context.sentence]),
        top3=any(hit(pool, [s.context.sentence]) for s in order[:3]),
        joined=len(first.sentences) > 1,
        quotes=len(passages),
    )


def rerank_order(pool: Pool, items: list[Scored], reader: Reader, model: ReadingModel) -> list[Scored]:
    """The production order: the read candidates by the reader, then the rest by the ranker."""
    top = items[: model.read_top]
    readings = reader.score(pool.question.text, [(s.context.title, s.context.sentence.text) for s in top])
    return [r.item for r in rerank(top, readings.tolist(), model)] + items[model.read_top :]


def sentence_hit(pool: Pool, sentences: Sequence[Sentence]) -> bool:
    """For pools whose `hits` flag each candidate: the quote holds a candidate flagged as a hit."""
    flagged = {c.sentence.id for c, h in zip(pool.contexts, pool.hits, strict=True) if h}
    return any(s.id in flagged for s in sentences)


@dataclass
class TuningSet:
    name: str
    pools: list[Pool]
    answerable: bool
    share: float  # of the answer model's fit
    hit: Hit = sentence_hit


def fit(sets: list[TuningSet], reader: Reader, answer_rate: float) -> ReadingModel:
    """rank_mix for top-1 over the answerable sets, then the answer model and its thresholds."""
    model = ReadingModel()
    answerable = [s for s in sets if s.answerable]

    def top1_rate(candidate: ReadingModel) -> float:
        """Over every answerable tuning question, not a mean of the sets' rates: each set counting the
        same let 2 of the 29 plain news questions outvote a point of SQuAD's 5,000 where it was flat."""
        hits, total = 0, 0
        for s in answerable:
            pools = [p for p in s.pools if p.contexts]
            hits += sum(
                s.hit(p, [rerank_order(p, ranked(p), reader, candidate)[0].context.sentence]) for p in pools
            )
            total += len(pools)
        return hits / total

    # How many candidates to read, and how much of the ranker's score to keep beside the reading: the
    # best top-1, with the fewest candidates read that come within a point of it (each costs time:
    # reading 16 rather than 8 took the 6-layer reader past p95 100 ms at 10k sentences).
    grid = {
        (n, m): top1_rate(replace(model, read_top=n, rank_mix=m))
        for n in (16, 12, 8)
        for m in (0.0, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 1.6, 2.4)
    }
    best = max(grid.values())
    read_top = min(n for (n, _), v in grid.items() if v >= best - 0.01)
    rank_mix = max((m for (n, m) in grid if n == read_top), key=lambda m: grid[(read_top, m)])
    for n in (8, 12, 16):
        print(
            f"read_top {n:>2}, top-1 by rank_mix: "
            + ", ".join(f"{m}: {grid[(n, m)]:.3f}" for (k, m) in grid if k == n)
        )
    print(f"-> read_top {read_top}, rank_mix {rank_mix}")
    model = replace(model, read_top=read_top, rank_mix=rank_mix)

    rows, labels, weights, tags, rights = [], [], [], [], []
    for s in sets:
        pools = [p for p in s.pools if p.contexts]
        for p in pools:
            passages, best = read_passages(reader, model, p.question.text, ranked(p), 3)
            c = min(max(answer_probability(p), 1e-6), 1 - 1e-6)
            rows.append([best, math.log(c / (1 - c))])
            labels.append(1.0 if s.answerable else 0.0)
            weights.append(s.share / len(pools))
            tags.append(s.name)
            rights.append(s.hit(p, passages[0].sentences))
    x, y, w = np.asarray(rows), np.asarray(labels), np.asarray(weights)
    coef, bias = fit_monotone_logistic(x, y, w, [1, 1])
    model = replace(model, reader_weight=float(coef[0]), ranker_weight=float(coef[1]), bias=float(bias))
    z = 1 / (1 + np.exp(-(x @ coef + bias)))
    tag_array, right = np.asarray(tags), np.asarray(rights)

    # The threshold. Its ceiling answers `answer_rate` of the first answerable set (SQuAD: questions
    # without candidates count as refused). Below it, the one that does best on answering and refusing
    # alike: an answerable question counts when its first quote is right, any other when it is refused.
    first = answerable[0]
    ceiling = float(np.sort(z[tag_array == first.name])[::-1][int(len(first.pools) * answer_rate)])

    def success(t: float) -> float:
        """Half for answering right, half for refusing, each the mean over its sets."""
        rates: dict[bool, list[float]] = {True: [], False: []}
        for s in sets:
            mine = tag_array == s.name
            ok = (z[mine] >= t) & right[mine] if s.answerable else z[mine] < t
            rates[s.answerable].append(ok.sum() / len(s.pools))
        return float(np.mean(rates[True]) + np.mean(rates[False])) / 2

    candidates = [t for t in np.unique(np.round(z, 4)) if t <= ceiling] or [ceiling]
    threshold = max(candidates, key=success)
    # A refusal shows the closest passage from where only 1 in 1,000 off-topic questions reaches.
    off = np.sort(z[tag_array == "off-topic"])
    lead = min(float(off[int(len(off) * 0.999)]), threshold)
    model = replace(model, min_confidence=float(threshold), min_lead_confidence=lead)
    print(
        f"answer model: reading x {coef[0]:.3f}, ranker logit x {coef[1]:.3f}, bias {bias:.3f};"
        f" threshold {threshold:.3f} (ceiling {ceiling:.3f}; success {success(threshold):.3f}"
        f" against {success(ceiling):.3f} at the ceiling), lead {lead:.3f}"
    )
    for s in sets:
        mine = tag_array == s.name
        answered = (z[mine] >= threshold).sum() / len(s.pools)
        first_right = (right[mine] & (z[mine] >= threshold)).sum() / len(s.pools)
        print(f"  tuning set {s.name}: answered {answered:.3f}, first quote right {first_right:.3f}")
    return model


def summary(outcomes: Sequence[Outcome]) -> dict[str, float]:
    n = max(len(outcomes), 1)
    return {
        "answered": sum(o.answered for o in outcomes) / n,
        "right": sum(o.right for o in outcomes) / n,
        "top1": sum(o.top1 for o in outcomes) / n,
        "top3": sum(o.top3 for o in outcomes) / n,
        "joined": sum(o.joined for o in outcomes) / n,
        "quotes": sum(o.quotes for o in outcomes if o.answered) / max(sum(o.answered for o in outcomes), 1),
    }


def outcomes(pools: Sequence[Pool], reader: Reader, model: ReadingModel, hit: Hit) -> list[Outcome]:
    return [replay(p, reader, model, hit) for p in pools]


def format_row(name: str, values: dict[str, Any]) -> str:
    return f"{name:<36}" + "".join(
        f"{values[k]:>10.3f}" for k in ("top1", "top3", "answered", "right", "joined", "quotes")
    )
