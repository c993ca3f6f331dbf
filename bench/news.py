"""Answer quality on real news: weekly news-quiz questions (RealTime QA, 2023-2026) over the articles a
search engine returned for them (../shared/eval/news-qa-2023-2026).

    python -m bench.news            # index (first run only), then report every figure

Collections, one per period: the first half of 2024 (the tuning period `bench/quality.py --tune` reads),
2025 and 2026 (reported, never tuned on). Each holds the articles of that period's questions.
- hit: the first quote lies in one of the question's `article_ids`, holds a right choice and none of
  the wrong ones (SQuAD normalisation);
- other period: a period's questions asked of another period's articles; right = refused, or answered
  with a right choice and none of the wrong ones.
Indexing takes about 25 minutes on one core; later runs reuse bench/.cache/news.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from verbatim.bot.answering import Answerer
from verbatim.bot.settings import Settings
from verbatim.index.embedder import SentenceTransformerEmbedder
from verbatim.index.library import DB_NAME, Library
from verbatim.index.models import ArticleDraft
from verbatim.retrieval.features import CandidateContext
from verbatim.retrieval.models import Answer

from bench.common import CACHE, EVAL, ROOT, Timer, machine, normalise, read_jsonl
from bench.quality import (
    Pool,
    Question,
    article_hits,
    by_bm25,
    by_dense,
    by_model,
    cached_pools,
    in_article_with_answer,
    one_article_collection,
    one_article_library,
    one_article_pools,
)

NEWS = EVAL / "news-qa-2023-2026"
# Plain questions, as someone asks who has not read the article ("who is suing madonna?"), written for
# this project over nine articles of the tuning period, with the words that answer them: a tuning half
# (six articles) and a held-out half (three others). Each is asked of its article alone.
PLAIN = ROOT / "bench" / "data" / "plain-news-questions.jsonl"
PLAIN_LIBRARY = CACHE / "plain-news"
LIBRARY = CACHE / "news"
# name -> which questions (by their date) the collection serves
PERIODS: dict[str, Callable[[str], bool]] = {
    "news-2024a": lambda d: d.startswith("2024/0") and d[5:7] <= "06",
    "news-2025": lambda d: d.startswith("2025"),
    "news-2026": lambda d: d.startswith("2026"),
}
TUNING = "news-2024a"
REPORTED = ("news-2025", "news-2026")
# (questions of, asked of): periods that do not hold each other's answers
CROSS = {TUNING: ("news-2023", TUNING), "reported": ("news-2026", "news-2025")}


@dataclass
class NewsQuestion(Question):
    date: str = ""
    wrong: list[str] = field(default_factory=list)
    article_ids: list[str] = field(default_factory=list)


def news_questions(period: Callable[[str], bool]) -> list[NewsQuestion]:
    return [
        NewsQuestion(
            id=q["id"],
            article_id=q["article_id"],
            text=q["question"],
            answers=q["answers"],
            paragraph=None,
            date=q["date"],
            wrong=q["wrong"],
            article_ids=q["article_ids"],
        )
        for q in read_jsonl(NEWS / "questions.jsonl")
        if period(q["date"])
    ]


def questions_of(name: str) -> list[NewsQuestion]:
    if name == "news-2023":
        return news_questions(lambda d: d.startswith("2023"))
    return news_questions(PERIODS[name])


def holds_right_choice(q: NewsQuestion, text: str) -> bool:
    """A right choice and none of the wrong ones, in the SQuAD normalisation."""
    norm = normalise(text)
    right = any(normalise(a) and normalise(a) in norm for a in q.answers)
    return right and not any(normalise(w) and normalise(w) in norm for w in q.wrong)


def is_hit(q: NewsQuestion, article_id: str, text: str) -> bool:
    return article_id in q.article_ids and holds_right_choice(q, text)


def index_periods(library: Library) -> None:
    articles = {a["id"]: a for a in read_jsonl(NEWS / "articles.jsonl")}
    for name in PERIODS:
        if library.list_articles(name):
            continue
        wanted = sorted({i for q in questions_of(name) for i in [*q.article_ids, q.article_id]})
        drafts = (
            ArticleDraft(
                id=i, title=articles[i]["title"], text=articles[i]["text"], url=articles[i].get("url")
            )
            for i in wanted
            if i in articles and articles[i]["text"].strip()
        )
        with Timer() as t:
            for _ in library.add_many(name, drafts):
                pass
        print(f"indexed {name}: {len(wanted)} articles, {library.sentence_count(name)} sentences "
              f"in {t.seconds:.0f} s", flush=True)  # fmt: skip


def news_pools(answerer: Answerer, collection: str, qs: list[NewsQuestion], tag: str) -> list[Pool]:
    """Every question's retrieved candidates with a hit flag each, cached as bench/quality.py's are."""

    def hits(q: NewsQuestion, contexts: Sequence[CandidateContext]) -> list[bool]:
        return [is_hit(q, c.sentence.article_id, c.sentence.text) for c in contexts]

    return cached_pools(answerer, collection, qs, hits, f"news-{tag}", LIBRARY / DB_NAME)


def plain_questions(half: str, answerable: bool = True) -> list[Question]:
    """One half's plain questions: those their article answers, or (`answerable=False`) those it does
    not ("how tall is mauna loa?")."""
    return [
        Question(q["id"], q["article_id"], q["question"], q["answers"], None)
        for q in read_jsonl(PLAIN)
        if q["half"] == half and q.get("answerable", True) == answerable
    ]


def plain_library(embedder: SentenceTransformerEmbedder) -> Library:
    """Each article of the plain questions alone in a collection, as a chat that added one article
    holds it: how the product is used, and where a small collection's statistics tell little."""
    articles = {a["id"]: a for a in read_jsonl(NEWS / "articles.jsonl")}
    wanted = sorted({q["article_id"] for q in read_jsonl(PLAIN)})
    return one_article_library(PLAIN_LIBRARY, embedder, (articles[i] for i in wanted), "plain")


def plain_pools(library: Library, half: str, answerable: bool = True) -> list[Pool]:
    """The plain questions of one half, each asked of its article's own collection."""
    name = "plain" if answerable else "plain-unanswerable"
    return one_article_pools(library, plain_questions(half, answerable), article_hits, "plain", name)


def first_quote_right(q: NewsQuestion, answer: Answer) -> bool:
    return answer.answered and is_hit(q, answer.citations[0].article_id, answer.citations[0].text)


def cross_right(q: NewsQuestion, answer: Answer) -> bool:
    return not answer.answered or holds_right_choice(q, answer.citations[0].text)


def answers(answerer: Answerer, collection: str, qs: Sequence[NewsQuestion]) -> list[Answer]:
    return [answerer.ask(collection, q.text) for q in qs]


def open_library(settings: Settings) -> Library:
    return Library(LIBRARY, SentenceTransformerEmbedder(settings.model, batch_size=128))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index-only", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    library = open_library(settings)
    index_periods(library)
    if args.index_only:
        return
    from verbatim.index.reader import load_reader
    from verbatim.retrieval import reading

    from bench.reading import CachedReader, ranked, rerank_order, sentence_hit

    reader = load_reader(
        settings.reader, torch_threads=settings.torch_threads, precision=settings.reader_precision
    )
    cached = CachedReader(reader) if reader is not None else None
    answerer = Answerer(library, library.embedder, reader=cached)
    print(f"\nNews answer quality (reader: {settings.reader}; {machine()})")
    model = reading.fitted_model()
    read_top = f"top {model.read_top}"
    print(f"{'collection':<12}{'questions':>10}{'sentences':>10}{'dense':>8}{'BM25':>8}{'ranker':>8}"
          f"{read_top:>8}{'reader':>8}{'answered':>10}{'right':>8}{'exists':>8}")  # fmt: skip
    for name in PERIODS:
        qs = questions_of(name)
        pools = news_pools(answerer, name, qs, name)
        with Timer() as t:
            got = answers(answerer, name, qs)
        top1 = {
            label: sum(bool(p.contexts) and p.hits[ranker(p)[0]] for p in pools) / len(pools)
            for label, ranker in (("dense", by_dense), ("bm25", by_bm25), ("ranker", by_model))
        }
        exists = sum(any(p.hits) for p in pools) / len(pools)
        # What reading can reach: the ranker's candidates the reader reads hold a hit; and what it
        # picks: its best of them is a hit, whether or not the answer is then given.
        in_read = sum(any(p.hits[i] for i in by_model(p)[: model.read_top]) for p in pools) / len(pools)
        reader_top1 = (
            sum(
                bool(p.contexts)
                and sentence_hit(p, [rerank_order(p, ranked(p), cached, model)[0].context.sentence])
                for p in pools
            )
            / len(pools)
            if cached is not None
            else float("nan")
        )
        answered = sum(a.answered for a in got) / len(got)
        right = sum(first_quote_right(q, a) for q, a in zip(qs, got, strict=True)) / len(qs)
        print(f"{name:<12}{len(qs):>10}{library.sentence_count(name):>10}{top1['dense']:>8.3f}"
              f"{top1['bm25']:>8.3f}{top1['ranker']:>8.3f}{in_read:>8.3f}{reader_top1:>8.3f}"
              f"{answered:>10.3f}{right:>8.3f}{exists:>8.3f}"
              f"   ({1000 * t.seconds / len(qs):.0f} ms a question)", flush=True)  # fmt: skip
    for label, (asked, collection) in CROSS.items():
        qs = questions_of(asked)
        got = answers(answerer, collection, qs)
        right = sum(cross_right(q, a) for q, a in zip(qs, got, strict=True)) / len(qs)
        refused = sum(not a.answered for a in got) / len(got)
        print(f"other period ({label}): {asked} questions asked of {collection}: "
              f"right {right:.3f}, refused {refused:.3f} ({len(qs)} questions)")  # fmt: skip
    plain = plain_library(library.embedder)
    plain_answerer = Answerer(plain, plain.embedder, reader=cached)
    for half in ("tuning", "held-out"):
        qs = plain_questions(half)
        got = [plain_answerer.ask(one_article_collection("plain", q.article_id), q.text) for q in qs]
        answered = sum(a.answered for a in got) / len(got)
        right = sum(
            a.answered and in_article_with_answer(q, a.citations[0].article_id, a.citations[0].text)
            for q, a in zip(qs, got, strict=True)
        ) / len(qs)
        print(f"plain questions ({half} half, each asked of its own article): answered {answered:.3f}, "
              f"first quote right {right:.3f} ({len(qs)} questions)")  # fmt: skip
        qs = plain_questions(half, answerable=False)
        got = [plain_answerer.ask(one_article_collection("plain", q.article_id), q.text) for q in qs]
        refused = sum(not a.answered for a in got) / len(got)
        print(
            f"plain questions their article does not answer ({half} half): refused {refused:.3f}"
            f" ({len(qs)} questions)"
        )
    if cached is not None:
        cached.save()


if __name__ == "__main__":
    main()
