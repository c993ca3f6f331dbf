"""The `verbatim` command line, run as a real subprocess (separate processes share only the data dir)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEED_ARTICLE, VERBATIM, verbatim_env

pytestmark = pytest.mark.slow  # subprocesses that load the real model


def run(
    data_dir: Path, *args: str, stdin: str | bytes | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    proc = subprocess.run(
        [*VERBATIM, *args],
        input=data,
        capture_output=True,
        cwd=ROOT,
        env=verbatim_env(data_dir, **env),
        timeout=180,
    )
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def ask_json(data_dir: Path, question: str, *extra: str, **env: str) -> dict:
    result = run(data_dir, "ask", "--json", question, *extra, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def ask_json_lines(data_dir: Path, *questions: str) -> list[dict]:
    """Several questions in one process (`ask --json -` reads them from stdin), an answer a line."""
    result = run(data_dir, "ask", "--json", "-", stdin="".join(f"{q}\n" for q in questions))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("seeded")
    result = run(data_dir, "add", str(SEED_ARTICLE))
    assert result.returncode == 0, result.stderr
    assert "Added" in result.stdout and "23 sentences" in result.stdout
    return data_dir


def test_seed_question_answered_in_a_new_process(seeded: Path) -> None:
    answer = ask_json(seeded, "why was the delegation cancelled?")
    assert answer["answered"] is True
    top = answer["citations"][0]
    assert "refused to veto" in top["text"] or "failure to veto" in top["text"]
    article = SEED_ARTICLE.read_text()
    for citation in answer["citations"]:
        assert article[citation["start"] : citation["end"]] == citation["text"]
        assert set(citation) == {"article_id", "title", "url", "start", "end", "text", "score"}
    assert top["title"] == "Netanyahu sending delegation to White House for talks on Rafah attack"


def test_readable_answer_and_refusal(seeded: Path) -> None:
    text = run(seeded, "ask", "Who is the White House press secretary?").stdout
    assert "Karine Jean-Pierre" in text and "[1] Netanyahu sending delegation" in text
    refusal = ask_json(seeded, "Who won the 2022 football World Cup?")
    assert refusal["answered"] is False and refusal["citations"] == []
    assert refusal["closest"] is None  # nothing in the article comes close to a football question


def test_ask_json_reads_questions_from_stdin(seeded: Path) -> None:
    result = run(
        seeded,
        "ask",
        "--json",
        "-",
        stdin="Who is Gallant meeting in Washington?\n\nWhat did the senior Israeli official say?\n",
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["question"] for line in lines] == [
        "Who is Gallant meeting in Washington?",
        "What did the senior Israeli official say?",
    ]
    assert "Lloyd Austin" in lines[0]["citations"][0]["text"]


def test_adding_again_says_it_is_already_there(seeded: Path) -> None:
    result = run(seeded, "add", str(SEED_ARTICLE))
    assert result.returncode == 0 and "Already there" in result.stdout
    listing = run(seeded, "list").stdout.splitlines()
    assert len(listing) == 1 and listing[0].startswith("1. Netanyahu sending delegation")


def test_collections_from_the_command_line(tmp_path: Path) -> None:
    run(
        tmp_path,
        "--collection",
        "one",
        "add",
        "-",
        stdin="Alpha team wins\nThe alpha team won the cup in May.",
    )
    run(tmp_path, "add", "--collection", "two", "-", stdin="Beta lab opens\nThe beta lab opened in June.")
    assert "Alpha team wins" in run(tmp_path, "list", "-c", "one").stdout
    assert "Alpha" not in run(tmp_path, "list", "-c", "two").stdout
    assert "There are no articles here yet" in run(tmp_path, "list").stdout


def test_jsonl_bulk_add_reports_bad_lines_and_keeps_the_rest(tmp_path: Path) -> None:
    jsonl = tmp_path / "articles.jsonl"
    jsonl.write_text(
        json.dumps({"id": "a1", "title": "Rain", "text": "Heavy rain flooded the valley on Sunday."}) + "\n"
        "{not json}\n"
        + json.dumps({"title": "No text"})
        + "\n"
        + json.dumps({"title": "Snow", "text": "Snow closed the mountain pass.", "url": "https://e.com/snow"})
        + "\n"
    )
    result = run(tmp_path, "add", "--jsonl", str(jsonl))
    assert result.returncode == 1
    assert "line 2: not valid JSON" in result.stderr
    assert "line 3: `text` is missing" in result.stderr
    assert "Added 2 articles" in result.stdout and "2 failed" in result.stdout
    listing = run(tmp_path, "list", "--json").stdout.splitlines()
    assert json.loads(listing[0])["id"] == "a1"
    assert json.loads(listing[1])["url"] == "https://e.com/snow"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"  \n\n ", "is empty"),
        ("binary.txt", bytes(range(256)) * 10, "binary"),
        (
            "latin1.txt",
            "Caf\xe9 society thrives.".encode("latin-1"),
            "not valid UTF-8 (byte 0xe9 at offset 3)",
        ),
        ("photo.png", b"\x89PNG\r\n\x1a\n", "not .png"),
    ],
)
def test_bad_files_get_a_clear_error_and_change_nothing(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    good = tmp_path / "good.txt"
    good.write_text("Good news\nThe library reopened after repairs.")
    result = run(tmp_path / "data", "add", str(path), str(good))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "Good news" in run(tmp_path / "data", "list").stdout


def test_huge_text_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"All work and no play makes Jack a dull boy. " * 480_000)  # about 21 MB
    result = run(tmp_path / "data", "add", str(big))
    assert result.returncode == 1 and "too large" in result.stderr
    assert "no articles" in run(tmp_path / "data", "list").stdout


def test_delete_from_the_command_line(tmp_path: Path) -> None:
    run(tmp_path, "add", "-", stdin="Alpha team wins\nThe alpha team won the cup in May.")
    assert "Deleted article 1 of the list: “Alpha team wins” [id " in run(tmp_path, "delete", "1").stdout
    missing = run(tmp_path, "delete", "1")
    assert missing.returncode == 1 and "no article number 1" in missing.stderr


def test_other_model_is_refused_with_a_clear_message(seeded: Path) -> None:
    result = run(seeded, "ask", "anything?", VERBATIM_MODEL="some/other-model")
    assert result.returncode == 1
    assert "was indexed with the model 'sentence-transformers/all-MiniLM-L6-v2'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("point", ["add:before-commit", "add:after-commit"])
def test_a_crash_during_add_never_leaves_half_an_article(tmp_path: Path, point: str) -> None:
    data = tmp_path / "data"
    assert run(data, "add", "-", stdin="Alpha team wins\nThe alpha team won the cup in May.").returncode == 0
    crashed = run(data, "add", str(SEED_ARTICLE), VERBATIM_CRASH_AT=point)
    assert crashed.returncode == -9
    titles = run(data, "list").stdout
    answer, alpha = ask_json_lines(
        data, "Who is the White House press secretary?", "When did the alpha team win the cup?"
    )
    if point == "add:before-commit":
        assert "Netanyahu" not in titles and not answer["answered"]
    else:  # committed before the crash: the vectors are rebuilt from the stored embeddings
        assert "Netanyahu" in titles and "Karine Jean-Pierre" in answer["citations"][0]["text"]
    assert alpha["answered"]
    assert run(data, "add", str(SEED_ARTICLE)).returncode == 0


def test_help_is_instant_and_lists_commands(tmp_path: Path) -> None:
    result = run(tmp_path, "--help")
    for command in ("add", "list", "delete", "ask", "chat"):
        assert command in result.stdout


def test_adding_a_link_end_to_end(tmp_path: Path) -> None:
    from tests.sites import FakeSite
    from tests.test_extract import article_page

    with FakeSite() as site:
        url = site.route("/news/north-pier", body=article_page(canonical=site.url("/news/north-pier")))
        refused = run(tmp_path, "add", url)  # 127.0.0.1 is private: refused unless allowed
        assert refused.returncode == 1 and "private or local network address" in refused.stderr
        added = run(tmp_path, "add", url, VERBATIM_ALLOW_PRIVATE_URLS="1")
        assert added.returncode == 0, added.stderr
        missing = run(tmp_path, "add", site.url("/gone"), VERBATIM_ALLOW_PRIVATE_URLS="1")
        assert missing.returncode == 1 and "404" in missing.stderr
    listing = json.loads(run(tmp_path, "list", "--json").stdout.splitlines()[0])
    assert listing["url"] == url
    assert listing["published"] is not None


def test_a_missing_jsonl_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run(tmp_path, "add", "--jsonl", str(tmp_path / "nope.jsonl"))
    assert result.returncode == 1 and "Cannot read" in result.stderr and "Traceback" not in result.stderr


def test_the_same_commands_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    pg = {"VERBATIM_DATABASE_URL": postgres_url}
    added = run(tmp_path, "add", str(SEED_ARTICLE), **pg)
    assert added.returncode == 0 and "23 sentences" in added.stdout, added.stderr
    answer = ask_json(tmp_path, "why was the delegation cancelled?", **pg)
    assert "refused to veto" in answer["citations"][0]["text"]
    assert "1. Netanyahu sending delegation" in run(tmp_path, "list", **pg).stdout
    assert "Deleted article 1" in run(tmp_path, "delete", "1", **pg).stdout
    assert "no articles" in run(tmp_path, "list", **pg).stdout
    assert not (tmp_path / "verbatim.sqlite3").exists()  # nothing went to the data dir


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql://verbatim:pw@/verbatim?host={tmp_path}&connect_timeout=2"
    result = run(tmp_path / "data", "list", VERBATIM_DATABASE_URL=url)
    assert result.returncode == 1
    assert "Cannot reach the PostgreSQL database verbatim" in result.stderr
    assert "Traceback" not in result.stderr and ":pw@" not in result.stderr
