"""Failures from hard use: oversized articles, a killed save, unusable data directories, lost duplicates,
list numbers taken for ids, odd encodings and JSONL fields, swapped vector files. None loads a model: the
library runs on tests/fakes.py's HashingEmbedder and the command line on tests/cli_fake.py."""

from __future__ import annotations

import codecs
import fcntl
import http.server
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
import verbatim.bot.cli
from typer.testing import CliRunner, Result
from verbatim.bot.cli import app
from verbatim.bot.engine import Engine
from verbatim.bot.telegram.serve import NOT_THE_BOT_API
from verbatim.index.adding import Limits
from verbatim.index.errors import (
    CollectionFullError,
    DuplicateIdError,
    InputError,
    NotFoundError,
    StorageError,
)
from verbatim.index.ingest import decode_bytes, draft_from_bytes, drafts_from_jsonl
from verbatim.index.library import Library
from verbatim.index.models import ArticleDraft
from verbatim.index.segment import split_sentences
from verbatim.index.vectors import VectorIndex, leftovers

from tests import cli_fake
from tests.conftest import ROOT, VERBATIM, verbatim_env
from tests.fakes import BRIDGE, ORCHESTRA, HashingEmbedder

CLI_FAKE = [VERBATIM[0], "-m", "tests.cli_fake"]


def draft(text: str, **kw: object) -> ArticleDraft:
    return ArticleDraft(text=text, title=text.split("\n", 1)[0], **kw)  # type: ignore[arg-type]


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Library]:
    library = Library(tmp_path / "data", HashingEmbedder())
    yield library
    library.close()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """`verbatim ARGS` in this process, on the stand-in embedder, against tmp_path/data."""
    for name in list(os.environ):
        if name.startswith("VERBATIM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("VERBATIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(verbatim.bot.cli, "_engine", cli_fake.engine)
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Result:
        result = runner.invoke(app, list(args), input=stdin)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a traceback the user would have seen
        return result

    return invoke


def one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def jsonl(path: Path, *objects: dict[str, object]) -> str:
    path.write_text("".join(json.dumps(o) + "\n" for o in objects))
    return str(path)


def run_fake_cli(
    data_dir: Path, *args: str, prefix: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *CLI_FAKE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=verbatim_env(data_dir, OMP_NUM_THREADS="1", **env),
        timeout=120,
    )


# -- 1. bounded work per article and per collection ----------------------------------------------------


def test_an_article_of_100000_short_lines_is_refused_before_any_embedding(lib: Library) -> None:
    text = "\n".join(f"w{i}" for i in range(100_000))  # 689 KB: under the character limit
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"more than 5,000 sentences.*VERBATIM_MAX_ARTICLE_SENTENCES"):
        lib.add("c", ArticleDraft(text=text))
    assert time.perf_counter() - start < 5  # it ran for over ten minutes
    assert cast(HashingEmbedder, lib.embedder).batches == []
    assert lib.list_articles("c") == [] and lib.sentence_count("c") == 0


def test_splitting_stops_one_sentence_past_the_limit() -> None:
    text = "\n".join(f"Line {i} says something." for i in range(100))
    everything = split_sentences(text)
    assert len(everything) == 100
    assert split_sentences(text, limit=10) == everything[:11]
    assert split_sentences(text, limit=100) == everything
    many = "Yes. " * 200_000  # a million characters of boundaries: linear, and cut short by the limit
    start = time.perf_counter()
    assert len(split_sentences(many, limit=5_000)) == 5_001
    assert time.perf_counter() - start < 2


def test_a_long_text_without_punctuation_is_cut_into_bounded_sentences(tmp_path: Path) -> None:
    text = " ".join(f"word{i % 97}" for i in range(40_000))[:200_000]
    lib = Library(tmp_path / "d", HashingEmbedder())
    try:
        result = lib.add("c", ArticleDraft(text=text))
        assert result.created and result.article.sentence_count <= 210
        assert max(len(s) for s in cast(HashingEmbedder, lib.embedder).batches[0]) <= 1000
    finally:
        lib.close()
    small = Library(tmp_path / "small", HashingEmbedder(), limits=Limits(max_article_sentences=100))
    try:
        with pytest.raises(InputError, match="more than 100 sentences"):
            small.add("c", ArticleDraft(text=text))
    finally:
        small.close()


def test_a_jsonl_line_with_too_many_sentences_is_refused_and_the_rest_added(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    path = jsonl(
        tmp_path / "in.jsonl",
        {"title": "Bridge", "text": BRIDGE},
        {"title": "Lines", "text": "\n".join(f"w{i}" for i in range(6_000))},
        {"title": "Orchestra", "text": ORCHESTRA},
    )
    result = cli("add", "--jsonl", path)
    assert result.exit_code == 1
    assert f"Error: {path} line 2: The article has more than 5,000 sentences" in result.stderr
    assert "Added 2 articles" in result.stdout and "1 failed" in result.stdout
    assert [a.title for a in cli_fake.engine(tmp_path / "data").list_articles("default")] == [
        "Bridge",
        "Orchestra",
    ]


def test_a_full_collection_refuses_more(tmp_path: Path) -> None:
    lib = Library(tmp_path / "d", HashingEmbedder(), limits=Limits(max_collection_sentences=5))
    try:
        assert lib.add("c", ArticleDraft(text="One. Two. Three.")).created
        with pytest.raises(
            CollectionFullError, match=r"holds 3 sentences.*limit of 5.*VERBATIM_MAX_COLLECTION_SENTENCES"
        ):
            lib.add("c", ArticleDraft(text="Four. Five. Six."))
        added = []
        with pytest.raises(CollectionFullError):
            for result in lib.add_many("c", [ArticleDraft(text="Seven. Eight."), ArticleDraft(text="Nine.")]):
                added.append(result)
        assert [r.created for r in added] == [True]  # what fitted went in, and was reported
        assert lib.sentence_count("c") == 5
        assert lib.add("other", ArticleDraft(text="Four. Five. Six.")).created  # a cap per collection
    finally:
        lib.close()


# -- 2. leftovers of a killed save ---------------------------------------------------------------------


def test_leftover_temporary_vector_files_are_removed_on_next_open(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    lib = Library(tmp_path / "d", embedder)
    lib.add("c", draft(BRIDGE))
    base = lib._vector_path("c")
    lib.close()
    faiss_tmp = base.parent / f"{base.name}.faissq8z1k2.tmp"
    json_tmp = base.parent / f"{base.name}.jsonw0x9.tmp"
    faiss_tmp.write_bytes(b"\0" * 40_000)
    json_tmp.write_text("{")
    other = base.parent / "another-collection.faissab12.tmp"  # not this collection's: left alone
    other.write_bytes(b"\0")

    # While another process holds the index's lock (busy with it), its temporary files are kept.
    fd = os.open(base.with_suffix(".lock"), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        assert VectorIndex.load(base, embedder.name, 1) is not None
        assert faiss_tmp.exists()
    finally:
        os.close(fd)

    lib = Library(tmp_path / "d", embedder)
    try:
        hits = lib.dense_search("c", embedder.embed_query("ferries every ten minutes"), 1)
        assert "Ferries" in lib.sentences("c", [hits[0][0]])[hits[0][0]].text
        assert leftovers(base) == [] and not faiss_tmp.exists() and not json_tmp.exists()
        assert other.exists()
    finally:
        lib.close()


def test_a_kill_while_writing_the_vectors_leaves_nothing_behind_after_the_next_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    article = tmp_path / "bridge.txt"
    article.write_text(BRIDGE)
    killed = run_fake_cli(data, "add", str(article), VERBATIM_CRASH_AT="vectors:before-rename")
    assert killed.returncode == -9
    assert list((data / "vectors").glob("*.faiss*.tmp"))  # what the kill left
    asked = run_fake_cli(data, "ask", "How long will the bridge repairs take?")
    assert asked.returncode == 0, asked.stderr
    assert not list((data / "vectors").glob("*.tmp"))
    listed = run_fake_cli(data, "list")
    assert "Harbour bridge closes for repairs" in listed.stdout  # committed before the kill


# -- 3. one-line errors ------------------------------------------------------------------------------


def test_a_data_dir_that_is_a_file_is_one_line(cli: Callable[..., Result], tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a directory")
    one_line_error(cli("--data-dir", str(a_file), "list"), "is a file, not a directory")
    one_line_error(cli("--data-dir", str(a_file / "sub"), "ask", "anything?"), "part of that path is a file")
    with pytest.raises(StorageError, match="is a file"):
        Library(a_file, HashingEmbedder())


@pytest.mark.parametrize("damage", ["not-sqlite", "malformed"])
def test_a_damaged_database_is_one_line(cli: Callable[..., Result], tmp_path: Path, damage: str) -> None:
    db = tmp_path / "data" / "verbatim.sqlite3"
    if damage == "not-sqlite":
        db.parent.mkdir()
        db.write_bytes(b"this is not a database at all\n" * 200)
    else:
        lib = Library(tmp_path / "data", HashingEmbedder())
        for n in range(30):
            lib.add("default", ArticleDraft(text=f"Report {n}. The committee number {n} met on day {n}."))
        lib.close()
        raw = bytearray(db.read_bytes())
        raw[4096:] = b"\xa5" * (len(raw) - 4096)  # every page but the first
        db.write_bytes(bytes(raw))
    for args in (["list"], ["ask", "When did committee 3 meet?"], ["add", "-"]):
        line = one_line_error(
            cli(*args, stdin="A note. It says little."), "is damaged or is not a Verbatim database"
        )
        assert "malformed" in line or "not a database" in line


def _read_only_runner() -> tuple[str, ...] | None:
    """How to run a command that the file permissions bind: as it is for a user, without the power to
    override them for root."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return (setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--")


def _set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~bits)


def test_a_read_only_data_dir_can_be_listed_and_asked(tmp_path: Path) -> None:
    prefix = _read_only_runner()
    if prefix is None:
        pytest.skip("running as root without setpriv: permissions cannot bind")
    data = tmp_path / "data"
    lib = Library(data, HashingEmbedder())
    lib.add("default", draft(BRIDGE))
    lib.close()
    _set_writable(data, False)
    try:
        listed = run_fake_cli(data, "list", prefix=prefix)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.startswith("1. Harbour bridge closes for repairs")
        asked = run_fake_cli(data, "ask", "--json", "How often will the ferries run?", prefix=prefix)
        assert asked.returncode == 0, asked.stderr
        assert json.loads(asked.stdout)["question"] == "How often will the ferries run?"
        note = tmp_path / "note.txt"
        note.write_text(ORCHESTRA)
        added = run_fake_cli(data, "add", str(note), prefix=prefix)
        assert added.returncode == 1 and "Traceback" not in added.stderr
        assert "is read-only" in added.stderr
        deleted = run_fake_cli(data, "delete", "1", prefix=prefix)
        assert deleted.returncode == 1 and "is read-only" in deleted.stderr
        assert "Traceback" not in deleted.stderr
    finally:
        _set_writable(data, True)
    assert sorted(p.name for p in data.iterdir()) == ["vectors", "verbatim.sqlite3"]  # nothing written


def test_read_only_opening_reads_and_refuses_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, in this process: the directory taken as read-only (as the test above finds it)."""
    embedder = HashingEmbedder()
    lib = Library(tmp_path / "d", embedder)
    lib.add("c", draft(BRIDGE))
    lib.close()
    for path in (tmp_path / "d" / "vectors").iterdir():
        path.unlink()  # so the vectors have to be rebuilt, in memory only
    monkeypatch.setattr("verbatim.index.store._may_write", lambda path: False)
    lib = Library(tmp_path / "d", embedder)
    try:
        assert lib.read_only
        hits = lib.dense_search("c", embedder.embed_query("ferries every ten minutes"), 1)
        assert "Ferries" in lib.sentences("c", [hits[0][0]])[hits[0][0]].text
        assert list((tmp_path / "d" / "vectors").iterdir()) == []
        with pytest.raises(StorageError, match="read-only"):
            lib.add("c", draft(ORCHESTRA))
        with pytest.raises(StorageError, match="read-only"):
            lib.delete("c", "1")
        assert len(lib.list_articles("c")) == 1
    finally:
        lib.close()


def _filling_up(data_dir: Path | None) -> Engine:
    """The engine, on a database allowed only a few more pages: SQLite's own "database or disk is full"."""
    engine = cli_fake.engine(data_dir)
    conn = cast(Library, engine.storage).store._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 12}")
    return engine


def test_a_full_disk_during_a_bulk_import_stops_with_a_summary(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("add", "-", stdin="A first note. It makes the database.")
    monkeypatch.setattr(verbatim.bot.cli, "_engine", _filling_up)
    articles: list[dict[str, object]] = [
        {
            "id": f"r{n}",
            "title": f"Report {n}",
            "text": f"Report {n}. " + f"Committee {n} met on day {n}. " * 8,
        }
        for n in range(200)
    ]
    path = jsonl(tmp_path / "many.jsonl", *articles)
    result = cli("add", "--jsonl", path)
    assert result.exit_code == 1
    [error] = result.stderr.strip().splitlines()
    assert error.startswith(f"Error: {path} line ") and "is full (database or disk is full)" in error
    [summary] = result.stdout.strip().splitlines()
    added = int(summary.split()[1])
    assert 0 < added < 200
    assert summary == f"Added {added} articles ({added * 9} sentences); stopped with {200 - added} not added."
    stored = cli_fake.engine(tmp_path / "data").list_articles("default")
    assert [a.id for a in stored[1:]] == [f"r{n}" for n in range(added)]  # the summary is the truth


class _NotTheBotApi(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_serve_against_a_server_that_answers_html_is_one_line(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotTheBotApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}/bot"
    try:
        result = subprocess.run(
            [*VERBATIM, "serve"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=verbatim_env(
                tmp_path / "data",
                VERBATIM_TELEGRAM_TOKEN="123456789:" + "A" * 35,
                VERBATIM_TELEGRAM_BASE_URL=base_url,
                VERBATIM_TELEGRAM_BASE_FILE_URL=base_url,
            ),
            timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [NOT_THE_BOT_API.format(url=base_url)]


# -- 4. duplicates are never a different article ---------------------------------------------------


def test_one_id_for_two_texts_in_a_jsonl_file_names_the_line(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    path = jsonl(
        tmp_path / "in.jsonl",
        {"id": "a1", "title": "Bridge", "text": BRIDGE},
        {"id": "a1", "title": "Orchestra", "text": ORCHESTRA},
        {"id": "a1", "title": "Bridge again", "text": BRIDGE},  # the same article again: fine
    )
    result = cli("add", "--jsonl", path)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {path} line 2: the id 'a1' is already line 1's, for a different text. Give each article"
        " its own id."
    ]
    assert result.stdout.strip() == "Added 1 article (4 sentences); 1 already there; 1 failed."


def test_an_id_the_collection_gives_another_text_names_the_line(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    assert cli("add", "--jsonl", jsonl(tmp_path / "one.jsonl", {"id": "a1", "text": BRIDGE})).exit_code == 0
    path = jsonl(tmp_path / "two.jsonl", {"id": "a1", "text": ORCHESTRA}, {"id": "b2", "text": ORCHESTRA})
    result = cli("add", "--jsonl", path)
    assert result.exit_code == 1
    assert f"Error: {path} line 1: The id 'a1' is already given to another article" in result.stderr
    assert result.stdout.strip() == "Added 1 article (4 sentences); 1 failed."
    listed = cli("list", "--json").stdout.splitlines()
    assert [(json.loads(x)["id"], json.loads(x)["title"]) for x in listed] == [
        ("a1", "Harbour bridge closes for repairs"),
        ("b2", "Orchestra names new conductor"),
    ]


def test_one_id_for_two_texts_in_one_batch_is_refused(lib: Library) -> None:
    added = []
    with pytest.raises(DuplicateIdError, match="'x'"):
        for result in lib.add_many("c", [draft(BRIDGE, id="x"), draft(ORCHESTRA, id="x")]):
            added.append(result)
    assert [r.article.title for r in added] == ["Harbour bridge closes for repairs"]
    with pytest.raises(DuplicateIdError):
        lib.add("c", draft(ORCHESTRA, id="x"))
    assert [a.title for a in lib.list_articles("c")] == ["Harbour bridge closes for repairs"]


def test_two_stories_behind_one_generic_url_are_both_kept(lib: Library) -> None:
    url = "https://news.example.com/"
    bridge = lib.add("c", draft(BRIDGE, url=url))
    orchestra = lib.add("c", draft(ORCHESTRA, url=url))
    assert bridge.created and orchestra.created
    updated = BRIDGE + "\nUpdate: the council said on Tuesday that the ferries will also run at night."
    again = lib.add("c", draft(updated, url=url))  # the same page fetched again after an edit
    assert not again.created and again.article.id == bridge.article.id
    assert len(lib.list_articles("c")) == 2


# -- 5. list numbers and ids -------------------------------------------------------------------------


def test_a_number_is_always_a_list_number_and_ids_say_id(lib: Library) -> None:
    lib.add("c", draft(BRIDGE, id="alpha"))
    lib.add("c", draft(ORCHESTRA, id="1"))
    lib.add("c", draft("Tram line opens\nThe new tram line opened on Friday.", id="7"))
    assert lib.resolve("c", "1").id == "alpha"  # list number 1, though an article's id is "1"
    assert lib.resolve("c", "#2").id == "1"
    assert lib.resolve("c", "id:1").id == "1"
    assert lib.resolve("c", " ID: 7 ").id == "7"
    assert lib.resolve("c", "alpha").id == "alpha"  # not all digits: an id without the prefix
    with pytest.raises(NotFoundError, match=r"no article number 7; the collection holds 3\. .*write id:7"):
        lib.resolve("c", "7")
    with pytest.raises(NotFoundError, match="no article number 0"):
        lib.resolve("c", "0")
    with pytest.raises(NotFoundError, match="No article with the id '9'"):
        lib.resolve("c", "id:9")
    assert lib.delete("c", "1").id == "alpha"
    assert [a.id for a in lib.list_articles("c")] == ["1", "7"]


def test_delete_on_the_command_line_says_which_it_deleted(cli: Callable[..., Result], tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "in.jsonl",
        {"id": "alpha", "text": BRIDGE},
        {"id": "1", "text": ORCHESTRA},
        {"id": "7", "text": "Tram line opens\nThe new tram line opened on Friday."},
    )
    assert cli("add", "--jsonl", path).exit_code == 0
    assert cli("delete", "1").stdout == (
        "Deleted article 1 of the list: “Harbour bridge closes for repairs” [id alpha]\n"
    )
    assert cli("delete", "id:7").stdout == "Deleted article 2 of the list: “Tram line opens” [id 7]\n"
    one_line_error(cli("delete", "3"), "There is no article number 3; the collection holds 1.")
    assert [a.id for a in cli_fake.engine(tmp_path / "data").list_articles("default")] == ["1"]


# -- 6. encodings, names and JSONL fields ----------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "Café society thrives.\nIt is busy.".encode("utf-16"),
        codecs.BOM_UTF16_BE + "Café society thrives.\nIt is busy.".encode("utf-16-be"),
        codecs.BOM_UTF16_LE + "Café society thrives.\nIt is busy.".encode("utf-16-le"),
        "Café society thrives.\nIt is busy.".encode("utf-32"),
        codecs.BOM_UTF32_BE + "Café society thrives.\nIt is busy.".encode("utf-32-be"),
        "Café society thrives.\nIt is busy.".encode("utf-8-sig"),
    ],
    ids=["utf-16", "utf-16-be", "utf-16-le", "utf-32", "utf-32-be", "utf-8-sig"],
)
def test_text_with_a_byte_order_mark_is_decoded(data: bytes) -> None:
    assert decode_bytes(data, "note.txt") == "Café society thrives.\nIt is busy."
    assert draft_from_bytes(data, "note.txt", max_chars=1000).title == "Café society thrives."


def test_broken_utf16_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="not valid UTF-16"):
        decode_bytes(codecs.BOM_UTF16_LE + "abc".encode("utf-16-le") + b"\x00\xd8", "note.txt")
    with pytest.raises(InputError, match="binary"):
        decode_bytes(b"ab\x00\x00cd", "blob.txt")  # no mark: still binary


def test_a_utf16_file_is_added_from_the_command_line(cli: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "windows.txt"
    path.write_bytes(BRIDGE.encode("utf-16"))
    result = cli("add", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Added “Harbour bridge closes for repairs” (4 sentences).")


@pytest.mark.parametrize("args", [["--collection", "", "list"], ["list", "-c", "  "], ["add", "-c", "", "-"]])
def test_an_empty_collection_name_is_refused(cli: Callable[..., Result], args: list[str]) -> None:
    one_line_error(cli(*args, stdin="A note. It says little."), "The collection name is empty.")


def test_jsonl_ids_and_fields_of_the_wrong_type_name_the_line() -> None:
    lines = [
        json.dumps({"id": {"a": 1}, "text": BRIDGE}),
        json.dumps({"id": ["a"], "text": BRIDGE}),
        json.dumps({"id": True, "text": BRIDGE}),
        json.dumps({"id": 1.5, "text": BRIDGE}),
        json.dumps({"id": 42, "text": BRIDGE}),
        json.dumps({"id": " k-9 ", "text": BRIDGE}),
        json.dumps({"id": None, "title": {"x": 1}, "text": BRIDGE}),
        json.dumps({"url": 7, "text": BRIDGE}),
    ]
    items = list(drafts_from_jsonl(lines, max_chars=100_000, name="in.jsonl"))
    errors = [str(i.error) if i.error else None for i in items]
    assert errors[:4] == [
        "in.jsonl line 1: `id` must be a string or a whole number, not an object.",
        "in.jsonl line 2: `id` must be a string or a whole number, not a list.",
        "in.jsonl line 3: `id` must be a string or a whole number, not true or false.",
        "in.jsonl line 4: `id` must be a string or a whole number, not a decimal number.",
    ]
    assert [i.draft.id for i in items[4:6] if i.draft] == ["42", "k-9"]
    assert errors[6] == "in.jsonl line 7: `title` must be a string, not an object."
    assert errors[7] == "in.jsonl line 8: `url` must be a string, not a number."


# -- 7. vector files are checked against a checksum ------------------------------------------------


def _two_collections(tmp_path: Path, embedder: HashingEmbedder) -> tuple[Path, Path]:
    lib = Library(tmp_path / "d", embedder)
    lib.add("a", draft(BRIDGE))
    lib.add("b", draft(ORCHESTRA))  # the same number of sentences: files of the same size
    paths = lib._vector_path("a"), lib._vector_path("b")
    lib.close()
    return paths


def test_a_swapped_vector_file_is_rebuilt(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    a, b = _two_collections(tmp_path, embedder)
    assert a.with_suffix(".faiss").stat().st_size == b.with_suffix(".faiss").stat().st_size
    assert "sha256" in json.loads(a.with_suffix(".json").read_text())
    shutil.copyfile(b.with_suffix(".faiss"), a.with_suffix(".faiss"))  # b's vectors under a's name
    assert VectorIndex.load(a, embedder.name, 1) is None
    lib = Library(tmp_path / "d", embedder)
    try:
        hits = lib.dense_search("a", embedder.embed_query("ferries every ten minutes"), 4)
        assert len(hits) == 4 and set(lib.sentences("a", [i for i, _ in hits])) == {i for i, _ in hits}
        assert len(embedder.batches) == 3  # two articles and the query: nothing embedded again
    finally:
        lib.close()
    assert VectorIndex.load(a, embedder.name, 1) is not None  # saved again, with its own checksum


def test_a_corrupted_vector_file_of_the_right_size_is_rebuilt(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    a, _ = _two_collections(tmp_path, embedder)
    faiss_file = a.with_suffix(".faiss")
    raw = bytearray(faiss_file.read_bytes())
    raw[-200:-100] = bytes(100)  # some vectors zeroed: FAISS still reads the file
    faiss_file.write_bytes(bytes(raw))
    assert VectorIndex.load(a, embedder.name, 1) is None
    lib = Library(tmp_path / "d", embedder)
    try:
        assert lib.dense_search("a", embedder.embed_query("ferries every ten minutes"), 1)
    finally:
        lib.close()
    assert faiss_file.read_bytes() != bytes(raw)


def test_a_manifest_from_before_checksums_is_still_read(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    a, _ = _two_collections(tmp_path, embedder)
    manifest = json.loads(a.with_suffix(".json").read_text())
    del manifest["sha256"]
    manifest["format"] = 1
    a.with_suffix(".json").write_text(json.dumps(manifest))
    assert VectorIndex.load(a, embedder.name, 1) is not None


def test_sqlite_errors_a_user_can_act_on_are_storage_errors(lib: Library) -> None:
    store = lib.store
    assert isinstance(store._describe(sqlite3.OperationalError("database or disk is full")), StorageError)
    assert isinstance(
        store._describe(sqlite3.DatabaseError("database disk image is malformed")), StorageError
    )
    assert store._describe(sqlite3.IntegrityError("UNIQUE constraint failed: articles.id")) is None
