"""Kill -9 at every write step of an add, a delete and a vector index rebuild, and the same writes on a
disk that fills up: afterwards nothing is half done. Articles, sentences, BM25 postings and term
statistics agree; the vector index rebuilds to match SQLite; no temporary file is left; a failed write
was one line.

Each write runs in `python -m tests.cli_fake` (the real command line on a hashing embedder, the reader
off: no model loads), killed at an `index.faults` crash point or held to a file size by RLIMIT_FSIZE.
The checks then open the data directory in this process.
"""

from __future__ import annotations

import ast
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from verbatim.index.faults import CRASH_POINTS
from verbatim.index.library import DB_NAME, Library
from verbatim.index.models import ArticleDraft
from verbatim.index.vectors import VectorIndex

from tests.conftest import ROOT, verbatim_env
from tests.fakes import BRIDGE, ORCHESTRA, HashingEmbedder
from tests.test_bm25 import check_bm25_tables

TRAM = "Tram line opens\nThe new tram line to the airport opened on Friday. Trams run every six minutes."
FERRY = (
    "Night ferry returns\n"
    "The night ferry to the islands sails again from Thursday. "
    "It leaves the harbour at midnight and arrives at six in the morning.\n"
    "Tickets cost twelve euros."
)
# A collection big enough that its vector file (256 bytes a sentence) outgrows a small file-size limit.
LEDGER = "Council ledger\n" + "\n".join(
    f"Item {n} of the ledger. Committee {n} met on day {n} about budget line {n}." for n in range(300)
)

FAULT_POINTS = {
    "add": (
        "add:before-commit",
        "add:after-commit",
        "vectors:before-rename",
        "vectors:before-manifest",
        "vectors:manifest-before-rename",
    ),
    # A new process holds no index when it deletes: the vectors are rebuilt from SQLite and saved.
    "delete": (
        "delete:before-commit",
        "delete:after-commit",
        "rebuild:before-save",
        "vectors:before-rename",
        "vectors:before-manifest",
        "vectors:manifest-before-rename",
    ),
    "rebuild": (
        "rebuild:before-save",
        "vectors:before-rename",
        "vectors:before-manifest",
        "vectors:manifest-before-rename",
    ),
}
# Points before which the change is not yet in SQLite: a kill there leaves the state before it.
BEFORE_THE_CHANGE = {"add:before-commit", "delete:before-commit", "meta:after-model"}
TITLES_BEFORE = {"default": ["Harbour bridge closes for repairs", "Orchestra names new conductor"]}
TITLES_AFTER = {
    "add": [*TITLES_BEFORE["default"], "Night ferry returns"],
    "delete": ["Orchestra names new conductor"],
    "rebuild": TITLES_BEFORE["default"],
}
# Sets RLIMIT_FSIZE, then runs the command line: writes past the limit fail with EFBIG (SIGXFSZ is
# ignored, as a full disk's writes fail with ENOSPC). Set in the child itself, not in a preexec_fn:
# forking with a preexec_fn is unsafe while other threads of the test process run.
_LIMITED_CLI = (
    "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
    " limit = int(sys.argv.pop(1)); resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit));"
    " from tests.cli_fake import main; main()"
)


def draft(text: str) -> ArticleDraft:
    return ArticleDraft(text=text, title=text.split("\n", 1)[0])


def run_cli(
    data: Path,
    *args: str,
    stdin: str | None = None,
    crash_at: str | None = None,
    file_limit: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """`verbatim ARGS` on the stand-in embedder, killed at `crash_at` or held to `file_limit` bytes a file."""
    extra = {"VERBATIM_CRASH_AT": crash_at} if crash_at else {}
    prefix = ["-c", _LIMITED_CLI, str(file_limit)] if file_limit is not None else ["-m", "tests.cli_fake"]
    return subprocess.run(
        [sys.executable, *prefix, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=verbatim_env(data, OMP_NUM_THREADS="1", **extra),
        timeout=120,
    )


def seed(data: Path, *, ledger: bool = False) -> None:
    """Two articles in `default` and one in `other`, which no operation here touches (it must come out
    whole all the same); `ledger`: a big one in `default` too."""
    lib = Library(data, HashingEmbedder())
    try:
        for text in (BRIDGE, ORCHESTRA):
            lib.add("default", draft(text))
        lib.add("other", draft(TRAM))
        if ledger:
            lib.add("default", draft(LEDGER))
    finally:
        lib.close()


def start(op: str, data: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    """The operation `op` as a user runs it, with `kw` for `run_cli`."""
    if op == "add":
        return run_cli(data, "add", "-", stdin=FERRY, **kw)  # type: ignore[arg-type]
    if op == "delete":
        return run_cli(data, "delete", "1", **kw)  # type: ignore[arg-type]
    # A lost vector file: the next question rebuilds it from the embeddings in SQLite.
    lib = Library(data, HashingEmbedder())
    lib._vector_path("default").with_suffix(".faiss").unlink()
    lib.close()
    return run_cli(data, "ask", "How often will the ferries run?", **kw)  # type: ignore[arg-type]


def redo(op: str, data: Path) -> None:
    """The interrupted operation again, to completion (a user trying once more); a rebuild was redone
    by the checks' opening the collection."""
    lib = Library(data, HashingEmbedder())
    try:
        if op == "add":
            lib.add("default", draft(FERRY))
        elif op == "delete" and "Harbour bridge closes for repairs" in titles(lib, "default"):
            lib.delete("default", "1")
    finally:
        lib.close()


def titles(lib: Library, collection: str) -> list[str]:
    return [a.title for a in lib.list_articles(collection)]


# -- what "whole" means --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    titles: dict[str, list[str]]  # collection -> its articles' titles, in the order added
    sentence_ids: dict[str, set[int]]
    generations: dict[str, int]


def check_sqlite(db: Path) -> Stored:
    """SQLite agrees with itself: every article has all its sentences and nothing else does, and the BM25
    postings and statistics are exactly the stored terms' (`check_bm25_tables`)."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        articles = conn.execute(
            "SELECT seq, collection, title, sentence_count FROM articles ORDER BY seq"
        ).fetchall()
        stored = Stored({}, {}, dict(conn.execute("SELECT name, generation FROM collections").fetchall()))
        for seq, collection, title, count in articles:
            rows = conn.execute(
                "SELECT id, collection, ordinal FROM sentences WHERE article_seq = ? ORDER BY ordinal", (seq,)
            ).fetchall()
            assert [r[2] for r in rows] == list(range(count)), f"{title}: sentences missing or extra"
            assert {r[1] for r in rows} == {collection}
            stored.titles.setdefault(collection, []).append(title)
            stored.sentence_ids.setdefault(collection, set()).update(r[0] for r in rows)
            assert stored.generations.get(collection, 0) >= 1
        orphans = conn.execute(
            "SELECT COUNT(*) FROM sentences WHERE article_seq NOT IN (SELECT seq FROM articles)"
        ).fetchone()[0]
        assert orphans == 0
        check_bm25_tables(conn)
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if articles:
            assert meta.get("model") == HashingEmbedder().name and meta.get("dim") == "64"
        return stored
    finally:
        conn.close()


def check_whole(data: Path) -> Stored:
    """SQLite consistent; opened again, each collection's vectors are exactly its sentences and are saved
    at its generation; no temporary file is left, nor a journal."""
    stored = check_sqlite(data / DB_NAME)
    embedder = HashingEmbedder()
    lib = Library(data, embedder)
    try:
        query = embedder.embed_query("harbour ferries")
        for collection, ids in stored.sentence_ids.items():
            found = {i for i, _ in lib.dense_search(collection, query, 10_000)}
            assert found == ids, f"{collection}: vectors and sentences differ"
        paths = {c: lib._vector_path(c) for c in stored.sentence_ids}
    finally:
        lib.close()
    for collection, base in paths.items():
        generation = stored.generations[collection]
        assert VectorIndex.load(base, embedder.name, generation) is not None, f"{collection} not saved"
    leftovers = [p.name for p in data.rglob("*") if p.suffix == ".tmp" or "-journal" in p.name]
    assert leftovers == [], leftovers
    assert not (data / f"{DB_NAME}-wal").exists()  # checkpointed and removed on a clean close
    return stored


# -- kill -9 at every write step -----------------------------------------------------------------------


CASES = [(op, point) for op, points in FAULT_POINTS.items() for point in points]


@pytest.mark.parametrize(("op", "point"), CASES, ids=[f"{op}-{point}" for op, point in CASES])
def test_a_kill_at_any_write_step_leaves_nothing_half_done(tmp_path: Path, op: str, point: str) -> None:
    data = tmp_path / "data"
    seed(data)
    killed = start(op, data, crash_at=point)
    assert killed.returncode == -9, f"{point} was not reached: {killed.stderr}"
    stored = check_whole(data)
    expected = TITLES_BEFORE["default"] if point in BEFORE_THE_CHANGE else TITLES_AFTER[op]
    assert stored.titles == {"default": expected, "other": ["Tram line opens"]}
    redo(op, data)
    assert check_whole(data).titles["default"] == TITLES_AFTER[op]


def test_a_kill_between_recording_the_model_and_its_dimension(tmp_path: Path) -> None:
    data = tmp_path / "data"
    killed = run_cli(data, "add", "-", stdin=FERRY, crash_at="meta:after-model")
    assert killed.returncode == -9
    assert check_whole(data).titles == {}
    added = run_cli(data, "add", "-", stdin=FERRY)
    assert added.returncode == 0, added.stderr
    assert check_whole(data).titles == {"default": ["Night ferry returns"]}


def test_every_crash_point_is_in_the_code_and_tested() -> None:
    """A point renamed in the code but not here would make its test pass without killing anything (the
    tests above check the kill happened; this catches a point nobody tests)."""
    called: set[str] = set()
    for path in (ROOT / "index").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called.update(_point_names(node))
    tested = {p for points in FAULT_POINTS.values() for p in points} | {"meta:after-model"}
    assert called == set(CRASH_POINTS) == tested


def _point_names(node: ast.AST) -> list[str]:
    """Names a node gives crash points: `crash_point("name")`, and `_atomic_write`'s `crash_at` (its
    default, and each value passed for it)."""
    values: list[ast.expr] = []
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "crash_point":
        values = node.args[:1]
    elif isinstance(node, ast.FunctionDef) and node.name == "_atomic_write":
        values = list(node.args.defaults)
    elif isinstance(node, ast.keyword) and node.arg == "crash_at":
        values = [node.value]
    # A name passed on (`crash_point(crash_at)`) is counted where its value is written.
    return [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]


# -- a disk that fills up ------------------------------------------------------------------------------

# (operation, bytes a file may reach, what happens). The ledger makes the database about 400 KB and the
# vector file 160 KB. At 16 KB SQLite fails at its first write (its shared memory file alone is 32 KB).
# At 100 KB a small add commits in SQLite (a rebuild changes nothing there) but the vector file cannot
# be written, while adding or deleting hundreds of sentences outgrows the write-ahead log.
DISK_FULL = [
    ("add", 16_000, "refused"),
    ("add", 100_000, "warned"),
    ("add-ledger", 100_000, "refused"),
    ("delete", 16_000, "refused"),
    ("delete-ledger", 100_000, "refused"),
    ("rebuild", 16_000, "refused"),
    ("rebuild", 100_000, "warned"),
]


@pytest.mark.parametrize(("op", "limit", "outcome"), DISK_FULL, ids=[f"{o}-{n}" for o, n, _ in DISK_FULL])
def test_a_full_disk_leaves_the_data_whole_and_says_so_in_one_line(
    tmp_path: Path, op: str, limit: int, outcome: str
) -> None:
    data = tmp_path / "data"
    seed(data, ledger=True)
    before = check_sqlite(data / DB_NAME).titles
    if op == "add-ledger":  # hundreds of new sentences: more than the log may hold
        result = run_cli(data, "add", "-", stdin=LEDGER.replace("Council", "Harbour"), file_limit=limit)
    elif op == "delete-ledger":
        result = run_cli(data, "delete", "3", file_limit=limit)
    else:
        result = start(op, data, file_limit=limit)
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    stored = check_whole(data)
    if outcome == "refused":  # SQLite could not write: nothing changed, and the error says why
        assert result.returncode == 1 and lines[0].startswith("Error: "), result.stderr
        assert "Cannot read or write" in lines[0] or "is full" in lines[0]
        assert stored.titles == before
    else:  # SQLite wrote, the vector file could not be: a warning, and the next run rebuilds it
        assert result.returncode == 0 and "could not save the vector index" in lines[0], result.stderr
        expected = [*before["default"], "Night ferry returns"] if op == "add" else before["default"]
        assert stored.titles["default"] == expected
    assert stored.titles["other"] == ["Tram line opens"]
