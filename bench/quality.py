"""Answer quality on real data: SQuAD v1.1 dev (hit rates), SQuAD v2.0 unanswerable and off-topic
questions (refusals), and the seed article's questions.

    python bench/quality.py            # report, with the dense / BM25 / RRF baselines beside it
    python bench/quality.py --tune     # refit retrieval/weights.py on half of the articles, then report

The first run indexes the articles into bench/.cache (a few minutes on 2 cores); later runs reuse it.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import pickle
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, EVAL, Timer, machine, normalise, paragraph_ranges, read_jsonl
from bot.settings import Settings
from index.embedder import SentenceTransformerEmbedder
from index.library import Library
from index.models import ArticleDraft
from retrieval.features import FEATURE_NAMES, CandidateContext, QuestionInfo
from retrieval.pipeline import Answerer
from retrieval.ranking import feature_matrix

SQUAD = EVAL / "squad-v1.1-dev"
SQUAD2 = EVAL / "squad-v2.0-unanswerable"
SEED = EVAL / "seed"


@dataclass
class Question:
    id: str
    article_id: str
    text: str
    answers: list[str]
    paragraph: int | None


@dataclass
class Pool:
    """One question's retrieved candidates, kept so rankers can be compared and fitted offline."""

    question: Question
    info: QuestionInfo
    contexts: list[CandidateContext]
    hits: list[bool]  # strict hit per candidate
    x: Any = None  # feature matrix, computed once per run

    def __setstate__(self, state: dict[str, Any]) -> None:
        # The cache keeps what retrieval found, never features: they change whenever a feature does.
        self.__dict__.update(state, x=None)

    def matrix(self) -> Any:
        import numpy as np

        if self.x is None:
            self.x = np.asarray(feature_matrix(self.info, self.contexts), dtype=np.float64).reshape(
                len(self.contexts), len(FEATURE_NAMES)
            )
        return self.x


def load_collection(library: Library, name: str, path: Path) -> dict[str, str]:
    articles = list(read_jsonl(path))
    if not library.list_articles(name):
        with Timer() as t:
            drafts = (
                ArticleDraft(id=a["id"], title=a["title"], text=a["text"], url=a.get("url")) for a in articles
            )
            for _ in library.add_many(name, drafts):
                pass
        print(f"indexed {name}: {len(articles)} articles in {t.seconds:.0f} s")
    return {a["id"]: a["text"] for a in articles}


def questions(path: Path) -> list[Question]:
    return [
        Question(q["id"], q["article_id"], q["question"], q["answers"], q.get("paragraph"))
        for q in read_jsonl(path)
    ]


def strict_hits(q: Question, contexts: Sequence[CandidateContext], texts: dict[str, str]) -> list[bool]:
    if q.paragraph is None or q.article_id not in texts:
        return [False] * len(contexts)
    start, end = paragraph_ranges(texts[q.article_id])[q.paragraph]
    golds = [normalise(a) for a in q.answers if normalise(a)]
    return [
        c.sentence.article_id == q.article_id
        and start <= c.sentence.start
        and c.sentence.end <= end
        and any(g in normalise(c.sentence.text) for g in golds)
        for c in contexts
    ]


def gather(answerer: Answerer, collection: str, qs: list[Question], texts: dict[str, str]) -> list[Pool]:
    embedder = answerer.library.embedder
    if isinstance(embedder, SentenceTransformerEmbedder):
        embedder._query_cache_size = max(embedder._query_cache_size, len(qs) + 10)
        embedder.embed_queries([q.text for q in qs])
    pools = []
    for q in qs:
        info, contexts = answerer.candidates(collection, q.text)
        pools.append(Pool(q, info, contexts, strict_hits(q, contexts, texts)))
    return pools


Ranker = Callable[[Pool], list[int]]  # candidate indexes, best first


def logits(pool: Pool) -> Any:
    from retrieval import ranking

    return ranking.DEFAULT_MODEL.scores(pool.matrix())


def by_model(pool: Pool) -> list[int]:
    scores = logits(pool)
    return sorted(range(len(pool.contexts)), key=lambda i: (-scores[i], pool.contexts[i].sentence.id))


def by_dense(pool: Pool) -> list[int]:
    return sorted(range(len(pool.contexts)), key=lambda i: -pool.contexts[i].dense)


def by_bm25(pool: Pool) -> list[int]:
    ranked = [i for i in range(len(pool.contexts)) if pool.contexts[i].bm25_rank is not None]
    return sorted(ranked, key=lambda i: pool.contexts[i].bm25_rank or 0)


def by_rrf(pool: Pool) -> list[int]:
    def score(c: CandidateContext) -> float:
        return sum(1 / (60 + r) for r in (c.dense_rank, c.bm25_rank) if r is not None)

    return sorted(range(len(pool.contexts)), key=lambda i: -score(pool.contexts[i]))


def hit_rate(pools: list[Pool], ranker: Ranker, k: int) -> float:
    return sum(any(p.hits[i] for i in ranker(p)[:k]) for p in pools) / max(len(pools), 1)


def answer_probability(pool: Pool) -> float:
    """The production decision (ranker, then answerability model) over the cached features."""
    from retrieval.answerability import BEST_OF, answerability

    if not pool.contexts:
        return 0.0
    scores = logits(pool)
    order = by_model(pool)[:BEST_OF]
    return answerability([_scored(pool, i, scores) for i in order], len(pool.info.terms))


def split(pools: list[Pool], article_ids: list[str]) -> tuple[list[Pool], list[Pool]]:
    """Tuning half (even-numbered articles by id) and held-out half (odd-numbered)."""
    train_ids = set(sorted(article_ids)[::2])
    return [p for p in pools if p.question.article_id in train_ids], [
        p for p in pools if p.question.article_id not in train_ids
    ]


def fit_listwise(pools: list[Pool], l2: float = 1e-3) -> Any:
    """Weights maximising, per question, the softmax probability of the sentences that hold the answer.

    Listwise training targets what the product does (pick the best of the candidates); on held-out
    articles it beats a pointwise logistic regression by about 3 points of top-1.
    """
    import numpy as np
    from scipy.optimize import minimize

    from retrieval.ranking import expand

    groups = [
        (expand(p.matrix()), np.asarray(p.hits, dtype=bool)) for p in pools if p.contexts and any(p.hits)
    ]
    x_all = np.vstack([x for x, _ in groups])
    mean, scale = x_all.mean(0), x_all.std(0)
    scale[scale == 0] = 1.0
    x = (x_all - mean) / scale
    hits = np.concatenate([h for _, h in groups])
    bounds = np.cumsum([0] + [len(h) for _, h in groups])

    def loss(w: Any) -> tuple[float, Any]:
        scores = x @ w
        total, grad = 0.0, np.zeros_like(w)
        for a, b in itertools.pairwise(bounds):
            e = np.exp(scores[a:b] - scores[a:b].max())
            z, hit = e.sum(), hits[a:b]
            z_hit = e[hit].sum()
            total -= np.log(z_hit / z)
            grad += x[a:b].T @ (e / z - np.where(hit, e / z_hit, 0.0))
        return total / len(groups) + l2 * w @ w, grad / len(groups) + 2 * l2 * w

    w = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x
    return w / scale


def tune(train: list[Pool], unanswerable: list[Pool], off_topic: list[Pool]) -> None:
    import numpy as np

    from retrieval import weights as current
    from retrieval.answerability import ANSWER_FEATURE_NAMES, ANSWER_FEATURE_SIGNS, BEST_OF
    from retrieval.ranking import MODEL_FEATURE_NAMES

    pools = [p for p in train if p.contexts]
    ranker = dict(zip(MODEL_FEATURE_NAMES, map(float, fit_listwise(pools)), strict=True))
    b = 0.0
    write_weights(ranker, b, current.ANSWER_WEIGHTS, current.ANSWER_BIAS, 0.5, 0.5)
    reload_weights()
    print(f"ranker fitted on {len(pools)} questions ({sum(len(p.contexts) for p in pools)} candidates)")

    # Answerability: answerable SQuAD questions against SQuAD 2.0's unanswerable ones (tuning halves).
    from retrieval.answerability import answer_features

    def question_rows(group: list[Pool]) -> list[list[float]]:
        rows = []
        for pool in group:
            scores = logits(pool)
            order = by_model(pool)[:BEST_OF]
            ranked = [_scored(pool, i, scores) for i in order]
            rows.append(answer_features(ranked, len(pool.info.terms)))
        return rows

    # Half the weight on the answerable questions; the other half shared by the two kinds of question
    # to refuse, so the many easy off-topic ones do not drown the few hard unanswerable ones.
    groups = [(question_rows(pools), 1, 0.5)] + [
        (question_rows([p for p in group if p.contexts]), 0, 0.25) for group in (unanswerable, off_topic)
    ]
    xa = np.asarray([row for rows, _, _ in groups for row in rows])
    ya = np.concatenate([np.full(len(rows), label) for rows, label, _ in groups])
    shares = np.concatenate([np.full(len(rows), share / max(len(rows), 1)) for rows, _, share in groups])
    wa, ba = fit_monotone_logistic(xa, ya, shares, list(ANSWER_FEATURE_SIGNS.values()))
    answer_weights = dict(zip(ANSWER_FEATURE_NAMES, map(float, wa), strict=True))
    write_weights(ranker, b, answer_weights, ba, 0.5, 0.5)
    reload_weights()
    # Threshold: still answer ANSWER_RATE of the answerable questions of the tuning half.
    probabilities = sorted(answer_probability(p) for p in train)
    threshold = probabilities[int(len(probabilities) * (1 - ANSWER_RATE))]
    # A refusal may show the closest passage from where no more than 1 off-topic question in 1,000 would.
    off_topic_probabilities = sorted(answer_probability(p) for p in off_topic)
    lead = min(off_topic_probabilities[int(len(off_topic_probabilities) * 0.999)], threshold)
    write_weights(ranker, b, answer_weights, ba, threshold, lead)
    reload_weights()
    sizes = " + ".join(str(len(rows)) for rows, _, _ in groups)
    print(
        f"answerability fitted on {sizes} answerable + unanswerable + off-topic;"
        f" threshold {threshold:.3f}, closest passage shown from {lead:.3f}"
    )


def fit_monotone_logistic(x: Any, y: Any, sample_weight: Any, signs: Sequence[int]) -> tuple[Any, float]:
    """Weighted logistic regression whose weights keep the given signs (0 = free)."""
    import numpy as np
    from scipy.optimize import minimize

    mean, scale = x.mean(0), x.std(0)
    scale[scale == 0] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    weight = sample_weight / sample_weight.sum()

    def loss(w: Any) -> tuple[float, Any]:
        p = 1 / (1 + np.exp(-(z @ w)))
        eps = 1e-12
        value = (
            -np.sum(weight * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))) + 1e-4 * w[:-1] @ w[:-1]
        )
        grad = z.T @ (weight * (p - y))
        grad[:-1] += 2e-4 * w[:-1]
        return value, grad

    bounds = [(0, None) if s > 0 else (None, 0) if s < 0 else (None, None) for s in signs] + [(None, None)]
    w = minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds).x
    raw = w[:-1] / scale
    return raw, float(w[-1] - np.sum(raw * mean))


# Above the 0.90 target with a margin: the held-out half is answered a little less often than this half.
ANSWER_RATE = 0.92


def _scored(pool: Pool, i: int, scores: Any) -> Any:
    import numpy as np

    from retrieval.ranking import Scored

    shares = np.exp(scores - scores.max())
    return Scored(
        pool.contexts[i], float(scores[i]), float(shares[i] / shares.sum()), tuple(pool.matrix()[i])
    )


def reload_weights() -> None:
    import importlib

    import retrieval.answer
    import retrieval.answerability
    import retrieval.ranking
    import retrieval.weights

    for module in (retrieval.weights, retrieval.ranking, retrieval.answerability, retrieval.answer):
        importlib.reload(module)


def write_weights(
    weights: dict[str, float],
    bias: float,
    answer_weights: dict[str, float],
    answer_bias: float,
    threshold: float,
    lead: float,
) -> None:
    lines = [
        '"""Weights of the ranker and the answerability model, fitted by `bench/quality.py --tune` on half',
        "of the SQuAD articles (and half of the SQuAD 2.0 unanswerable questions' articles).",
        "",
        "Generated file: rerun the tuning instead of editing by hand.",
        '"""',
        "",
        "WEIGHTS: dict[str, float] = {",
        *[f'    "{name}": {value:.6f},' for name, value in weights.items()],
        "}",
        f"BIAS = {bias:.6f}",
        "ANSWER_WEIGHTS: dict[str, float] = {",
        *[f'    "{name}": {value:.6f},' for name, value in answer_weights.items()],
        "}",
        f"ANSWER_BIAS = {answer_bias:.6f}",
        "# Answer only when the answerability model's probability reaches this.",
        f"MIN_CONFIDENCE = {threshold:.6f}",
        "# Below it, a refusal still shows the closest passage (as a lead, not an answer) from this one.",
        f"MIN_LEAD_CONFIDENCE = {lead:.6f}",
        "",
    ]
    (Path(__file__).resolve().parents[1] / "retrieval" / "weights.py").write_text("\n".join(lines))


def refused(pools: list[Pool], threshold: float) -> float:
    return sum(answer_probability(p) < threshold for p in pools) / max(len(pools), 1)


class _PoolUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        # A cache written while this file ran as a script names its classes under __main__.
        return super().find_class("bench.quality" if module == "__main__" else module, name)


def cached_pools(
    answerer: Answerer, collection: str, qs: list[Question], texts: dict[str, str], tag: str
) -> list[Pool]:
    """Retrieval results are cached per index state; delete bench/.cache to start afresh."""

    path = CACHE / f"pools-{tag}-{len(qs)}.pickle"
    if path.exists() and path.stat().st_mtime > (CACHE / "quality" / "verbatim.sqlite3").stat().st_mtime:
        with path.open("rb") as handle:
            pools: list[Pool] = _PoolUnpickler(handle).load()
        return pools
    pools = gather(answerer, collection, qs, texts)
    with path.open("wb") as handle:
        pickle.dump([dataclasses.replace(p, x=None) for p in pools], handle)
    return pools


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tune", action="store_true", help="refit retrieval/weights.py first")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N SQuAD questions")
    args = parser.parse_args()

    settings = Settings()
    embedder = SentenceTransformerEmbedder(settings.model, batch_size=128)
    library = Library(CACHE / "quality", embedder)
    answerer = Answerer(library)
    squad_texts = load_collection(library, "squad", SQUAD / "articles.jsonl")
    squad2_texts = load_collection(library, "squad2", SQUAD2 / "articles.jsonl")
    seed_texts = load_collection(library, "seed", SEED / "articles.jsonl")
    if not library.list_articles(
        "seed-file"
    ):  # the seed as the quick start adds it: `verbatim add article.txt`
        from index.ingest import draft_from_file

        library.add("seed-file", draft_from_file(SEED / "article.txt", max_chars=settings.max_article_chars))

    squad_qs = questions(SQUAD / "questions.jsonl")
    if args.limit:
        squad_qs = squad_qs[: args.limit]
    unanswerable_qs = [q for q in questions(SQUAD2 / "questions.jsonl")]
    with Timer() as t:
        pools = cached_pools(answerer, "squad", squad_qs, squad_texts, "squad")
        unanswerable = cached_pools(answerer, "squad2", unanswerable_qs, squad2_texts, "squad2")
        off_topic = cached_pools(answerer, "seed", squad_qs, seed_texts, "offtopic")
    print(
        f"retrieved candidates for {len(pools) + len(unanswerable) + len(off_topic)} questions"
        f" in {t.seconds:.0f} s"
    )
    train, held_out = split(pools, list(squad_texts))
    unanswerable_train, unanswerable_held_out = split(unanswerable, list(squad2_texts))
    off_topic_train, _ = split(off_topic, list(squad_texts))
    if args.tune:
        tune(train, unanswerable_train, off_topic_train)
    from retrieval import weights

    threshold = weights.MIN_CONFIDENCE

    print(f"\nAnswer quality (strict hits; all-MiniLM-L6-v2; {machine()})")
    print(f"{'ranker':<28}{'top-1 all':>10}{'top-3 all':>10}{'top-1 held-out':>16}{'top-3 held-out':>16}")
    for name, ranker in (
        ("dense (FAISS) only", by_dense),
        ("BM25 (FTS5) only", by_bm25),
        ("dense + BM25, RRF", by_rrf),
        ("Verbatim ranker", by_model),
    ):
        print(
            f"{name:<28}{hit_rate(pools, ranker, 1):>10.3f}{hit_rate(pools, ranker, 3):>10.3f}"
            f"{hit_rate(held_out, ranker, 1):>16.3f}{hit_rate(held_out, ranker, 3):>16.3f}"
        )
    answered = 1 - refused(pools, threshold)
    answered_held = 1 - refused(held_out, threshold)
    print(f"\nthreshold {threshold:.3f}")
    print(f"answerable SQuAD questions answered:        {answered:.3f} (held-out {answered_held:.3f})")
    print(
        f"SQuAD 2.0 unanswerable refused:             {refused(unanswerable, threshold):.3f}"
        f" (held-out {refused(unanswerable_held_out, threshold):.3f})"
    )
    print(f"off-topic (SQuAD asked of the seed article): {refused(off_topic, threshold):.3f}")
    lead_report(pools, unanswerable, off_topic, threshold, weights.MIN_LEAD_CONFIDENCE)
    seed_report(answerer, "seed")
    seed_report(answerer, "seed-file")
    n = len(pools)
    print(f"\n{n} SQuAD questions over {library.store.sentence_count('squad')} sentences")


def lead_report(
    answerable: list[Pool], unanswerable: list[Pool], off_topic: list[Pool], threshold: float, lead: float
) -> None:
    """How often a refusal shows the closest passage, and how often that passage holds the answer."""

    def led(group: list[Pool]) -> list[Pool]:
        return [p for p in group if lead <= answer_probability(p) < threshold]

    refused_answerable = [p for p in answerable if answer_probability(p) < threshold]
    shown = [p for p in refused_answerable if answer_probability(p) >= lead]
    holding = sum(p.hits[by_model(p)[0]] for p in shown)
    print(f"\nclosest passage shown from confidence {lead:.3f}:")
    print(
        f"  refused answerable SQuAD questions: {len(shown)} of {len(refused_answerable)},"
        f" holding the answer in {holding}"
    )
    print(f"  SQuAD 2.0 unanswerable questions:   {len(led(unanswerable)) / len(unanswerable):.3f}")
    print(f"  off-topic questions:                {len(led(off_topic)) / len(off_topic):.4f}")


def seed_report(answerer: Answerer, collection: str) -> None:
    ok = 0
    seed_qs = list(read_jsonl(SEED / "questions.jsonl"))
    for q in seed_qs:
        answer = answerer.ask(collection, q["question"])
        if q["answerable"]:
            good = answer.answered and any(e in answer.citations[0].text for e in q["answers"])
        else:
            good = not answer.answered
        ok += good
        if not good:
            top = answer.citations[0].text[:80] if answer.citations else "(refused)"
            print(f"  seed miss: {q['question']} -> {top} ({answer.confidence:.2f})")
    print(f"seed article questions right ({collection}):  {ok}/{len(seed_qs)}")


if __name__ == "__main__":
    main()
