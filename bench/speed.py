"""Speed and scale: bulk ingest, answer latency, vector search at 10k / 100k / 1M sentences, cold start.

    python -m bench.speed            # the full report (about 25 minutes on 2 cores)
    python -m bench.speed --quick    # smaller sizes and no 1M collection (a few minutes)
    python -m bench.speed --skip-ingest    # all but the ingest section

Prints each figure beside its target and never asserts: timings depend on the machine. Data: the SQuAD
articles and questions in ../shared/eval. The answer latency runs on a private copy of the SQuAD
collection that bench/quality.py keeps in bench/.cache/quality (or, when that is missing, on the one
the ingest section builds), so the cache itself is never written.

What each section measures:
  ingest      model.encode throughput on the SQuAD sentences (the ceiling: a second pass at the
              configured batch size, 64; and batch 128) against Library.add_many of the same articles
              into a fresh data dir (segmenting, embedding, SQLite + BM25 postings, FAISS, saving), and how
              many texts the embedder was asked to embed (each sentence once).
  latency     Answerer.ask in process, one question after another: the real path (the question is
              embedded), the same questions again with the query-embedding cache warm, and the query
              encode alone.
  scaling     VectorIndex.build at 10k / 100k / 1M vectors (flat up to FLAT_LIMIT, HNSW beyond): build,
              save and load time, file size, memory, one-query search latency and recall@10 against
              exact search. The vectors are "embedding-like": a real SQuAD sentence vector plus a share
              of another and noise. Uniformly random unit vectors have no neighbourhoods at all, which
              no text collection looks like; HNSW's recall on them is printed too, as the floor. The
              queries are the real embeddings of SQuAD questions. Then the whole ask path at about
              100k and 1M sentences: copies of the SQuAD articles whose vectors are the real ones plus
              noise (HNSW at 1M, as the library picks by size).
  cold start  `verbatim --help`; `verbatim ask` from process start to exit with the answer printed;
              the peak RSS of a `verbatim ask -` process answering questions over the SQuAD collection.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
from verbatim.bot.answering import Answerer
from verbatim.bot.engine import Engine
from verbatim.bot.settings import Settings
from verbatim.index.embedder import SentenceTransformerEmbedder
from verbatim.index.library import DB_NAME, Library
from verbatim.index.models import ArticleDraft
from verbatim.index.reader import Reader
from verbatim.index.segment import split_sentences
from verbatim.index.store import Store
from verbatim.index.vectors import FLAT_LIMIT, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, VectorIndex

from bench.common import CACHE, EVAL, ROOT, Timer, machine, read_jsonl

SQUAD = EVAL / "squad-v1.1-dev"
COLLECTION = "squad"
T = TypeVar("T")


# -- helpers --------------------------------------------------------------------------------------


def percentiles(seconds: Sequence[float]) -> str:
    ms = np.asarray(seconds) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   p99 {p99:6.1f} ms   mean {ms.mean():6.1f} ms"


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def each(fn: Callable[[T], object], items: Sequence[T]) -> list[float]:
    """Wall seconds of fn(item) for each item, one after another."""
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return times


def rss_mib() -> float:
    """Resident memory of this process now (not its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def unit(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def squad_articles(limit: int | None = None) -> list[dict]:
    articles = list(read_jsonl(SQUAD / "articles.jsonl"))
    return articles[:limit] if limit else articles


def squad_questions(n: int, offset: int = 0) -> list[str]:
    """`n` distinct SQuAD questions spread over all the articles."""
    everything = [" ".join(q["question"].split()) for q in read_jsonl(SQUAD / "questions.jsonl")]
    step = max(len(everything) // n, 1)
    return list(dict.fromkeys(everything[offset::step]))[:n]


class CountingEmbedder:
    """Passes through to an embedder and counts the texts it is asked to embed."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls = 0
        self.texts: Counter[str] = Counter()

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts.update(texts)
        return self.inner.embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


# -- ingest ---------------------------------------------------------------------------------------


def ingest(settings: Settings, workdir: Path, quick: bool) -> Path:
    articles = squad_articles(12 if quick else None)
    texts = [a["text"][s.start : s.end] for a in articles for s in split_sentences(a["text"])]
    print(f"\n## Bulk ingest: {len(articles)} SQuAD articles, {len(texts):,} sentences")
    embedder = SentenceTransformerEmbedder(
        settings.model, batch_size=settings.embed_batch_size, torch_threads=settings.torch_threads
    )
    model = embedder.model
    batch = settings.embed_batch_size

    def raw(size: int, label: str) -> float:
        with Timer() as t:
            model.encode(texts, batch_size=size, normalize_embeddings=True, show_progress_bar=False)
        rate = len(texts) / t.seconds
        print(f"model.encode, batch {size:<4} {label:<22} {rate:6.1f} sentences/s ({t.seconds:.1f} s)")
        return rate

    # A first pass over a set of texts is the slowest (kernels for each new batch shape are prepared):
    # the library is compared with the second pass, over the same texts at the same batch size.
    raw(batch, "(first pass)")
    steady = raw(batch, "(second pass)")
    counting = CountingEmbedder(embedder)
    data_dir = workdir / "ingest"
    library = Library(data_dir, counting)  # type: ignore[arg-type]  # an Embedder by its methods
    drafts = (ArticleDraft(id=a["id"], title=a["title"], text=a["text"], url=a.get("url")) for a in articles)
    with Timer() as t:
        created = sum(r.created for r in library.add_many(COLLECTION, drafts))
    stored = library.sentence_count(COLLECTION)
    library.close()
    rate = stored / t.seconds
    print(
        f"Library.add_many, batch {batch:<4} {'(after those)':<22} {rate:6.1f} sentences/s"
        f" ({t.seconds:.1f} s: {created} articles, {stored:,} sentences stored)"
    )
    other = 128 if batch != 128 else 64
    raw(other, "(its first pass)")
    ratio = rate / steady
    print(f"ingest / raw encode at batch {batch}: {ratio:.1%} (target >= 90%: {verdict(ratio >= 0.9)})")
    asked = sum(counting.texts.values())
    print(
        f"the embedder was asked for {asked:,} texts in {counting.calls} calls for {stored:,} stored"
        f" sentences: {'each sentence embedded once' if asked == stored else 'NOT one embedding a sentence'}"
        f" ({len(counting.texts):,} distinct texts; the articles repeat {len(texts) - len(set(texts))})"
    )
    return data_dir


# -- answer latency -------------------------------------------------------------------------------


def has_collection(data_dir: Path, collection: str) -> bool:
    if not (data_dir / DB_NAME).exists():
        return False
    store = Store(data_dir / DB_NAME)
    try:
        return store.sentence_count(collection) > 0
    finally:
        store.close()


def squad_data_dir(workdir: Path, ingested: Path | None) -> Path:
    """A private copy of the whole SQuAD collection to answer from."""
    cached = CACHE / "quality"
    if has_collection(cached, COLLECTION):
        target = workdir / "squad"
        shutil.copytree(cached, target)
        return target
    if ingested is not None:
        return ingested
    print("(no bench/.cache/quality: indexing all the SQuAD articles for the latency figures)")
    target = workdir / "squad"
    library = Library(target, SentenceTransformerEmbedder(Settings().model, batch_size=128))
    drafts = (ArticleDraft(id=a["id"], title=a["title"], text=a["text"]) for a in squad_articles())
    for _ in library.add_many(COLLECTION, drafts):
        pass
    library.close()
    return target


def latency(settings: Settings, data_dir: Path, n_questions: int) -> tuple[Engine, list[str]]:
    engine = Engine(settings.model_copy(update={"data_dir": data_dir}))
    library = engine.storage
    embedder = engine.embedder
    assert isinstance(library, Library) and isinstance(embedder, SentenceTransformerEmbedder)
    questions = squad_questions(n_questions)
    print(
        f"\n## Answer latency: {len(questions)} SQuAD questions over"
        f" {library.sentence_count(COLLECTION):,} sentences, in process, one after another"
    )
    with Timer() as t:
        engine.warm_up()
        library.vector_kind(COLLECTION)  # loads the vector index
    print(f"warm-up (load both networks and the vector index): {t.seconds:.1f} s")
    each(lambda q: engine.ask(COLLECTION, q), squad_questions(20, offset=7))  # settle caches

    timed = TimedReader(engine.reader) if engine.reader is not None else None
    engine.answerer.reader = timed
    reading: list[float] = []

    def ask(q: str) -> None:
        if timed is not None:
            timed.seconds = 0.0
        engine.ask(COLLECTION, q)
        reading.append(timed.seconds if timed is not None else 0.0)

    cold = each(ask, questions)
    cold_reading = list(reading)
    warm = each(lambda q: engine.ask(COLLECTION, q), questions)

    def encode_one(q: str) -> None:
        embedder.forget_queries()
        embedder.embed_query(q)

    encode = each(encode_one, questions)
    p50, p95 = np.percentile(np.asarray(cold) * 1000, [50, 95])
    print(f"ask, question embedded (real path)   {percentiles(cold)}")
    print(f"ask, query embedding cached          {percentiles(warm)}")
    print(f"query encode only                    {percentiles(encode)}")
    if timed is not None:
        pairs = timed.pairs / (len(questions) * 2)  # the cold and the warm pass
        print(f"reader only ({pairs:.1f} pairs a question)  {percentiles(cold_reading)}")
        networks = np.asarray(encode) + np.asarray(cold_reading)
        ratio = float(np.sum(cold) / np.sum(networks))
        print(f"whole answer / its two networks alone: {ratio:.2f} (target <= 1.5: {verdict(ratio <= 1.5)})")
    print(f"real path: p50 {p50:.1f} ms; p95 {p95:.1f} ms (target <= 100 ms: {verdict(p95 <= 100)})")
    engine.answerer.reader = engine.reader
    return engine, questions


class TimedReader:
    """The engine's reader, timed: seconds spent reading since last reset, and pairs read in all."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.name = reader.name
        self.seconds = 0.0
        self.pairs = 0

    def score(self, question: str, passages: Sequence[tuple[str, str]]) -> np.ndarray:
        start = time.perf_counter()
        scores = self.reader.score(question, passages)
        self.seconds += time.perf_counter() - start
        self.pairs += len(passages)
        return scores


# -- scaling --------------------------------------------------------------------------------------


def embedding_like(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` unit vectors where real sentence embeddings lie: a real vector, a share (up to 0.6) of a
    second one, and isotropic noise of norm 0.35 (about the distance between paraphrases)."""
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        first = base[rng.integers(0, len(base), m)]
        second = base[rng.integers(0, len(base), m)]
        share = rng.uniform(0.0, 0.6, (m, 1)).astype(np.float32)
        noise = rng.standard_normal((m, base.shape[1]), dtype=np.float32) * (0.35 / np.sqrt(base.shape[1]))
        out[start : start + m] = unit(first + share * second + noise)
    return out


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    import faiss

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    return [set(map(int, row)) for row in truth]


def recall_at_10(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray) -> float:
    truth = exact_top10(vectors, queries)
    found = [{i for i, _ in index.search(q, 10)} for q in queries]
    return float(np.mean([len(f & t) / 10 for f, t in zip(found, truth, strict=True)]))


def scaling(base: np.ndarray, queries: np.ndarray, sizes: Sequence[int], workdir: Path) -> None:
    print(
        f"\n## Vector search at scale: {base.shape[1]} dimensions, flat up to {FLAT_LIMIT:,} vectors, then"
        f" HNSW (M={HNSW_M}, efConstruction={HNSW_EF_CONSTRUCTION}, efSearch={HNSW_EF_SEARCH});"
        f" {len(queries)} real question vectors, one query at a time, k=30 as ask uses"
    )
    print(
        f"{'vectors':>10} {'kind':>5} {'build s':>8} {'save s':>7} {'load s':>7} {'file MiB':>9}"
        f" {'RSS +MiB':>9} {'p50 ms':>7} {'p95 ms':>7} {'recall@10':>10}"
    )
    rng = np.random.default_rng(7)
    for n in sizes:
        vectors = embedding_like(base, n, rng)
        before = rss_mib()
        with Timer() as build:
            index = VectorIndex.build("bench", vectors.shape[1], 1, np.arange(n, dtype=np.int64), vectors)
        grown = rss_mib() - before
        path = workdir / f"scale-{n}"
        with Timer() as save:
            index.save(path)
        size = path.with_suffix(".faiss").stat().st_size / 2**20
        del index
        with Timer() as load:
            loaded = VectorIndex.load(path, "bench", 1)
        assert loaded is not None
        path.with_suffix(".faiss").unlink()
        loaded.search(queries[0], 30)
        times = each(partial(loaded.search, k=30), list(queries))
        p50, p95 = np.percentile(np.asarray(times) * 1000, [50, 95])
        exact = loaded.kind == "flat"
        recall = 1.0 if exact else recall_at_10(loaded, vectors, queries)
        print(
            f"{n:>10,} {loaded.kind:>5} {build.seconds:>8.1f} {save.seconds:>7.1f} {load.seconds:>7.1f}"
            f" {size:>9.0f} {grown:>9.0f} {p50:>7.2f} {p95:>7.2f} {recall:>10.3f}"
            + ("  (exact search)" if exact else f"  (target >= 0.98: {verdict(recall >= 0.98)})")
        )
        del loaded, vectors


def hnsw_at(vectors: np.ndarray, queries: np.ndarray, label: str) -> None:
    """The HNSW index that index/vectors.py builds beyond FLAT_LIMIT, here over `vectors` of any size."""
    from verbatim.index.vectors import _new_index

    faiss_index, kind = _new_index(vectors.shape[1], FLAT_LIMIT + 1)
    with Timer() as build:
        faiss_index.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
    index = VectorIndex("bench", vectors.shape[1], 1, faiss_index, kind)
    times = each(lambda q: index.search(q, 30), list(queries))
    p50, p95 = np.percentile(np.asarray(times) * 1000, [50, 95])
    print(
        f"{kind} over {len(vectors):,} {label}: build {build.seconds:.1f} s, search p50 {p50:.2f} ms"
        f" p95 {p95:.2f} ms, recall@10 {recall_at_10(index, vectors, queries):.3f}"
    )


def ask_at_scale(source: Engine, questions: list[str], copies: int, workdir: Path) -> None:
    """The whole ask path over the SQuAD articles and `copies` copies of them (each copy's text ends in
    one more line, so it is a new article; its vectors are the real ones plus noise)."""
    source_library = source.storage
    assert isinstance(source_library, Library)
    store = source_library.store
    dim = int(store.get_meta("dim") or 384)
    ids, vectors = store.embeddings(COLLECTION, dim)
    row_of = {int(i): n for n, i in enumerate(ids)}
    embedder = source.embedder
    library = Library(workdir / f"scaled-{copies}", embedder)
    rng = np.random.default_rng(3)
    articles = [
        a
        for a in source_library.articles(
            COLLECTION, [s.id for s in source_library.list_articles(COLLECTION)]
        ).values()
    ]

    def copied() -> Iterator[tuple[ArticleDraft, np.ndarray]]:
        for copy in range(copies + 1):
            for article in articles:
                rows = [row_of[s.id] for s in store.article_sentences(COLLECTION, article.id)]
                text = f"{article.text}\n\nCopy {copy}." if copy else article.text
                own = vectors[rows]
                extra = rng.standard_normal((len(split_sentences(text)) - len(own), dim), dtype=np.float32)
                vec = np.vstack([own, extra])
                if copy:
                    vec = vec + rng.standard_normal(vec.shape, dtype=np.float32) * (0.25 / np.sqrt(dim))
                draft_id = f"{article.id}~{copy}" if copy else article.id
                yield ArticleDraft(id=draft_id, title=article.title, text=text), unit(vec)

    with Timer() as t:
        library.import_embedded(COLLECTION, copied())
    total = library.sentence_count(COLLECTION)
    print(
        f"\n## Ask at scale: {total:,} sentences ({copies + 1} copies of the SQuAD articles, noisy vectors,"
        f" {library.vector_kind(COLLECTION)} index; built in {t.seconds:.0f} s)"
    )
    answerer = Answerer(library, embedder, reader=source.reader)
    each(lambda q: answerer.ask(COLLECTION, q), squad_questions(10, offset=11))
    if isinstance(embedder, SentenceTransformerEmbedder):
        embedder.forget_queries()  # the questions were embedded before: make them new again
    cold = each(lambda q: answerer.ask(COLLECTION, q), questions)
    warm = each(lambda q: answerer.ask(COLLECTION, q), questions)
    print(f"ask, question embedded (real path)   {percentiles(cold)}")
    print(f"ask, query embedding cached          {percentiles(warm)}")
    if total >= 1_000_000:
        p95 = float(np.percentile(np.asarray(cold) * 1000, 95))
        print(f"real path at a million sentences: p95 {p95:.1f} ms (target <= 150 ms: {verdict(p95 <= 150)})")
    library.close()
    shutil.rmtree(workdir / f"scaled-{copies}")  # gigabytes at a million sentences


# -- cold start -----------------------------------------------------------------------------------


def verbatim_command() -> list[str]:
    script = Path(sys.executable).parent / "verbatim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "verbatim.bot.cli"]


# Runs a command and reports its peak RSS. The benchmark cannot read a child's ru_maxrss itself: a child
# started from a big process inherits that process's RSS as its starting peak (vfork, then exec), so a
# small launcher starts it instead.
PEAK_RSS_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
print(f"peak-rss-kib {usage.ru_maxrss}", file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(args: list[str], env: dict[str, str], stdin: bytes = b"") -> tuple[float, str, str]:
    """Wall seconds, standard output and standard error of one child process."""
    start = time.perf_counter()
    proc = subprocess.run(args, input=stdin, capture_output=True, cwd=ROOT, env=env, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{args} exited {proc.returncode}: {proc.stderr.decode()[-800:]}")
    return seconds, proc.stdout.decode(), proc.stderr.decode()


def cold_start(data_dir: Path, questions: list[str]) -> None:
    print("\n## Cold start (subprocesses)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERBATIM_")}
    env["VERBATIM_DATA_DIR"] = str(data_dir)
    cmd = verbatim_command()
    helps = [run_child([*cmd, "--help"], env)[0] for _ in range(5)]
    print(
        f"verbatim --help: best of 5 {min(helps) * 1000:.0f} ms,"
        f" median {statistics.median(helps) * 1000:.0f} ms (target < 0.5 s: {verdict(min(helps) < 0.5)})"
    )
    first = [run_child([*cmd, "-c", COLLECTION, "ask", questions[0]], env) for _ in range(3)]
    answer = first[0][1].strip().splitlines()[0] if first[0][1].strip() else "(nothing printed)"
    print(
        f"verbatim ask, process start to exit with the answer: best of 3 {min(r[0] for r in first):.2f} s,"
        f" median {statistics.median(r[0] for r in first):.2f} s (“{questions[0]}” -> {answer[:50]}…)"
    )
    stdin = "".join(q + "\n" for q in questions).encode()
    launcher = [sys.executable, "-c", PEAK_RSS_LAUNCHER]
    seconds, out, err = run_child([*launcher, *cmd, "-c", COLLECTION, "ask", "--json", "-"], env, stdin)
    peak = int(err.split("peak-rss-kib")[-1]) / 1024
    answered = sum('"answered": true' in line for line in out.splitlines())
    print(
        f"verbatim ask - with {len(questions)} questions ({answered} answered, {seconds:.1f} s in all):"
        f" peak RSS {peak:.0f} MiB (target < 1 GB: {verdict(peak * 2**20 < 1e9)})"
    )


def bot_ready(data_dir: Path) -> None:
    """`verbatim serve` against the test suite's fake Bot API server on 127.0.0.1: from process start
    to a user's question answered from the seed article (model loaded, index read, reply sent)."""
    from tests.fake_telegram import FakeTelegram

    user = 42
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERBATIM_")}
    env["VERBATIM_DATA_DIR"] = str(data_dir)
    cmd = verbatim_command()
    run_child([*cmd, "-c", f"tg:{user}", "add", str(EVAL / "seed" / "article.txt")], env)
    times = []
    for _ in range(3):
        with FakeTelegram() as server:
            server.add_user(user, "Ada")
            env.update(
                VERBATIM_TELEGRAM_TOKEN=server.token,
                VERBATIM_TELEGRAM_BASE_URL=server.base_url,
                VERBATIM_TELEGRAM_BASE_FILE_URL=server.base_file_url,
            )
            start = time.perf_counter()
            proc = subprocess.Popen([*cmd, "serve"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
            try:
                server.user_says(user, user, "why was the delegation cancelled?")
                [answer] = server.wait_for_bot_messages(user, timeout=60)
                times.append(time.perf_counter() - start)
            finally:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=60)
        if "veto" not in (answer.text or ""):
            raise RuntimeError(f"unexpected answer: {answer.text!r}")
    print(
        f"verbatim serve, process start to the first question answered: best of 3 {min(times):.2f} s,"
        f" median {statistics.median(times):.2f} s (target < 10 s: {verdict(min(times) < 10)})"
    )


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, no 1M collection")
    parser.add_argument(
        "--skip-ingest", action="store_true", help="no ingest section (to rerun the latency figures)"
    )
    args = parser.parse_args()
    quick: bool = args.quick

    import torch

    settings = Settings()
    print(f"# Verbatim speed ({'quick' if quick else 'full'} run)")
    print(f"machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory(prefix="verbatim-speed-") as tmp, Timer() as total:
        workdir = Path(tmp)
        ingested = None if args.skip_ingest else ingest(settings, workdir, quick)
        data_dir = squad_data_dir(workdir, ingested)
        engine, questions = latency(settings, data_dir, 200 if quick else 500)

        assert isinstance(engine.storage, Library)
        store = engine.storage.store
        _, base = store.embeddings(COLLECTION, int(store.get_meta("dim") or 384))
        queries = np.stack([engine.embedder.embed_query(q) for q in questions])
        scaling(base, queries, (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000), workdir)
        rng = np.random.default_rng(11)
        if quick:  # no HNSW in the table: show one at 100k
            hnsw_at(embedding_like(base, 100_000, rng), queries, "embedding-like vectors")
        n_random = 50_000  # slow to build: random points make HNSW's graph work hardest
        random_vectors = unit(rng.standard_normal((n_random, base.shape[1]), dtype=np.float32))
        random_queries = unit(rng.standard_normal((200, base.shape[1]), dtype=np.float32))
        hnsw_at(random_vectors, random_queries, "uniformly random unit vectors (the floor)")
        del random_vectors

        for copies in (2,) if quick else (9, 99):
            ask_at_scale(engine, questions[: 100 if quick else 200], copies, workdir)
        engine.close()
        cold_start(data_dir, questions[:100])
        bot_ready(data_dir)
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ntotal {total.seconds / 60:.1f} min (this benchmark process peaked at {own:.0f} MiB RSS)")


if __name__ == "__main__":
    main()
