"""The `verbatim` command line. Heavy imports (torch, the model) happen inside commands, never at start."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from verbatim.index.errors import InputError, StorageError, VerbatimError

if TYPE_CHECKING:
    from verbatim.bot.engine import Engine
    from verbatim.bot.settings import Settings
    from verbatim.index.models import ArticleDraft, ArticleSummary
    from verbatim.index.storage import AddResult

app = typer.Typer(
    help="Answer questions over your news articles, quoting the exact sentences that say so.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataDir = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--data-dir", help="Where collections live (env VERBATIM_DATA_DIR).", show_default=False),
]
Collection = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--collection", "-c", help='Collection to use (default: "default").', show_default=False),
]
log = logging.getLogger("verbatim")


class _Globals:
    data_dir: Path | None = None
    collection: str | None = None


_globals = _Globals()


@app.callback()
def main(data_dir: DataDir = None, collection: Collection = None, verbose: bool = False) -> None:
    _globals.data_dir = data_dir
    _globals.collection = collection
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _settings(data_dir: Path | None) -> Settings:
    from pydantic import ValidationError
    from verbatim.bot.settings import Settings

    chosen = data_dir or _globals.data_dir
    try:
        return Settings(data_dir=chosen) if chosen else Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "VERBATIM_" + str(first["loc"][0]).upper() if first["loc"] else "a VERBATIM_ setting"
        raise VerbatimError(f"{name} is not valid: {first['msg']}.") from None


def _collection(collection: str | None) -> str:
    chosen = collection if collection is not None else _globals.collection
    if chosen is None:
        return "default"
    if not chosen.strip():
        raise VerbatimError(
            "The collection name is empty.", 'Give one with --collection NAME, or leave it out for "default".'
        )
    return chosen


def _engine(data_dir: Path | None) -> Engine:
    from verbatim.bot.engine import Engine

    return Engine(_settings(data_dir))


# What a command reports in one line rather than a traceback: our own errors, and the disk's.
_EXPECTED = (VerbatimError, sqlite3.Error, OSError)


def _as_error(exc: BaseException) -> VerbatimError:
    if isinstance(exc, VerbatimError):
        return exc
    if isinstance(exc, sqlite3.Error):
        return StorageError(f"The database failed: {exc}.")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return StorageError(f"{exc.strerror or exc}{where}.")
    return VerbatimError(str(exc))


def _fail(exc: BaseException) -> typer.Exit:
    typer.echo(f"Error: {_as_error(exc)}", err=True)
    return typer.Exit(1)


def _read_stdin_text() -> str:
    data = sys.stdin.buffer.read()
    from verbatim.index.ingest import decode_bytes

    return decode_bytes(data, "standard input")


# -- add ------------------------------------------------------------------------------------------


# A draft with what names it in messages: its path, URL or JSONL line.
Labelled = tuple[str, "ArticleDraft"]


def _drafts_from_args(
    paths: list[str], engine: Engine, report: Callable[[str, VerbatimError], None]
) -> Iterator[Labelled]:
    from verbatim.bot.sources import FileSource, LinkSource, Source, TextSource, as_link

    for item in paths:
        try:
            link = as_link(item)
            source: Source = (
                TextSource(_read_stdin_text())
                if item == "-"
                else LinkSource(link)
                if link
                else FileSource(Path(item))
            )
            yield ("standard input" if item == "-" else item), engine.draft(source)
        except VerbatimError as exc:
            report("", exc)


def _read_jsonl(path: str) -> list[str]:
    from verbatim.index.ingest import decode_bytes

    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise VerbatimError(f"Cannot read {path}: {exc.strerror}.") from None
    return decode_bytes(raw, path).splitlines()


def _drafts_from_jsonl(
    lines: list[str], name: str, settings: Settings, report: Callable[[str, VerbatimError], None]
) -> Iterator[Labelled]:
    from verbatim.index.ingest import drafts_from_jsonl
    from verbatim.index.store import text_fingerprint

    first_use: dict[str, tuple[int, str]] = {}  # id -> (line, text fingerprint) where it first came
    for item in drafts_from_jsonl(lines, max_chars=settings.max_article_chars, name=name):
        label = f"{name} line {item.line}"
        if item.error is not None:
            report("", item.error)  # the message names the line already
            continue
        if item.draft is None:
            continue
        if item.draft.id is not None:
            fingerprint = text_fingerprint(item.draft.text)
            line, first = first_use.setdefault(item.draft.id, (item.line, fingerprint))
            if first != fingerprint:
                report(
                    label,
                    InputError(
                        f"the id {item.draft.id!r} is already line {line}'s, for a different text.",
                        "Give each article its own id.",
                    ),
                )
                continue
        yield label, item.draft


class _Stopped(Exception):
    """Adding stopped before the end (a full disk, a full collection): what stopped it, and where."""

    def __init__(self, label: str, error: VerbatimError) -> None:
        super().__init__(str(error))
        self.label = label
        self.error = error


def _feed(source: Iterable[Labelled], in_flight: deque[Labelled]) -> Iterator[ArticleDraft]:
    for item in source:
        in_flight.append(item)
        yield item[1]


def _add_all(
    engine: Engine,
    collection: str,
    items: Iterator[Labelled],
    on_result: Callable[[AddResult], None],
    report: Callable[[str, VerbatimError], None],
) -> None:
    """`engine.add_many` over `items`. An article it refuses (an InputError: too many sentences, an id
    another text has) is reported and the ones after it still go in; any other failure stops the run as
    `_Stopped`. add_many yields its results in order and stops right before the article that failed, so
    the first draft not yet answered is the one the error is about."""
    pending: Iterator[Labelled] = items
    while True:
        in_flight: deque[Labelled] = deque()
        try:
            for result in engine.add_many(collection, _feed(pending, in_flight)):
                in_flight.popleft()
                on_result(result)
            return
        except InputError as exc:
            if not in_flight:
                raise
            label, _ = in_flight.popleft()
            report(label, exc)
            pending = chain(list(in_flight), pending)
        except _EXPECTED as exc:
            raise _Stopped(in_flight[0][0] if in_flight else "", _as_error(exc)) from None


@app.command()
def add(
    paths: Annotated[
        list[str] | None, typer.Argument(help="Files (.txt, .md, .html), URLs, or - for stdin.")
    ] = None,
    jsonl: Annotated[
        str | None, typer.Option("--jsonl", help="JSONL file: id?, title, text, url? a line.")
    ] = None,
    data_dir: DataDir = None,
    collection: Collection = None,
) -> None:
    """Add articles to the collection. Adding the same article twice keeps one copy."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not paths and not jsonl:
        raise _fail(VerbatimError("Nothing to add.", "Pass files, URLs, - for stdin, or --jsonl FILE."))
    errors: list[str] = []
    results: list[AddResult] = []
    bulk = bool(jsonl) or len(paths or []) > 1
    total = 0
    stopped: _Stopped | None = None
    try:
        name = _collection(collection)
        engine = _engine(data_dir)
        settings = engine.settings
        with Progress(
            TextColumn("Adding"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
            disable=not bulk or not sys.stderr.isatty(),
            console=_stderr_console(),
        ) as progress:
            task = progress.add_task("add", total=None)

            def report(label: str, exc: VerbatimError) -> None:
                message = f"{label}: {exc}" if label else str(exc)
                errors.append(message)
                typer.echo(f"Error: {message}", err=True)
                progress.advance(task)

            def on_result(result: AddResult) -> None:
                results.append(result)
                progress.advance(task)
                if not bulk:
                    _report_one(result)

            if jsonl:
                lines = _read_jsonl(jsonl)
                total = sum(1 for line in lines if line.strip())
                items = _drafts_from_jsonl(lines, jsonl, settings, report)
            else:
                total = len(paths or [])
                items = _drafts_from_args(paths or [], engine, report)
            progress.update(task, total=total)
            _add_all(engine, name, items, on_result, report)
    except _Stopped as exc:
        if not bulk:
            raise _fail(exc.error) from None
        stopped = exc
        typer.echo(f"Error: {exc.label + ': ' if exc.label else ''}{exc.error}", err=True)
    except _EXPECTED as exc:
        raise _fail(exc) from None
    if bulk or errors:
        _report_summary(results, errors, not_tried=total - len(results) - len(errors) if stopped else 0)
    if errors or stopped:
        raise typer.Exit(1)


def _stderr_console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=True)


def _report_one(result: AddResult) -> None:
    from verbatim.bot.plain import added_line

    typer.echo(added_line(result, with_id=True))


def _report_summary(results: list[AddResult], errors: list[str], *, not_tried: int = 0) -> None:
    """`Added 3 articles (41 sentences); 1 already there; 2 failed.`, and when the run stopped early,
    how many were left: what is listed was added, whatever else went wrong."""
    created = [r for r in results if r.created]
    sentences = sum(r.article.sentence_count for r in created)
    parts = [f"Added {len(created)} article{'s' if len(created) != 1 else ''} ({sentences:,} sentences)"]
    if len(results) - len(created):
        parts.append(f"{len(results) - len(created)} already there")
    if errors:
        parts.append(f"{len(errors)} failed")
    if not_tried > 0:
        parts.append(f"stopped with {not_tried} not added")
    typer.echo("; ".join(parts) + ".")


# -- list, delete ---------------------------------------------------------------------------------


@app.command("list")
def list_articles(
    data_dir: DataDir = None,
    collection: Collection = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Numbered list of the collection's articles."""
    from verbatim.bot.plain import article_lines

    try:
        articles = _engine(data_dir).list_articles(_collection(collection))  # loads no model
    except _EXPECTED as exc:
        raise _fail(exc) from None
    if as_json:
        for a in articles:
            typer.echo(json.dumps(a.model_dump(mode="json"), ensure_ascii=False))
        return
    for line in article_lines(articles):
        typer.echo(line)


@app.command()
def delete(
    ref: Annotated[
        str,
        typer.Argument(
            help="The article's number in `verbatim list`, or id:ID (an id that is not all digits may"
            " go without id:)."
        ),
    ],
    data_dir: DataDir = None,
    collection: Collection = None,
) -> None:
    """Delete an article and all its sentences from every index."""
    try:
        name = _collection(collection)
        engine = _engine(data_dir)
        article = engine.storage.resolve(name, ref)
        listed = engine.list_articles(name)
        number = next((n for n, a in enumerate(listed, start=1) if a.id == article.id), None)
        engine.delete(name, f"id:{article.id}")  # exactly the one resolved, whatever the ref was
    except _EXPECTED as exc:
        raise _fail(exc) from None
    typer.echo(_deleted_line(article, number))


def _deleted_line(article: ArticleSummary, number: int | None) -> str:
    """`Deleted article 3 of the list: “title” [id …]`: the number and the id, so it is plain which."""
    from verbatim.bot import wording
    from verbatim.bot.plain import safe

    which = f"article {number} of the list" if number is not None else "the article"
    return safe(f"Deleted {which}: “{wording.title_of(article.title)}” [id {article.id}]")


# -- ask, chat ------------------------------------------------------------------------------------


@app.command()
def ask(
    question: Annotated[
        str, typer.Argument(help="The question, or - to read one question a line from stdin.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one object a line for -).")] = False,
    data_dir: DataDir = None,
    collection: Collection = None,
) -> None:
    """Answer a question by quoting the collection's sentences, or say it has no answer."""
    from verbatim.bot.plain import render_answer

    try:
        name = _collection(collection)
        engine = _engine(data_dir)
        questions: Iterator[str] = (
            (line.strip() for line in sys.stdin if line.strip()) if question == "-" else iter([question])
        )
        for q in questions:
            answer = engine.ask(name, q)
            if as_json:
                typer.echo(json.dumps(answer.to_json_dict(), ensure_ascii=False))
                sys.stdout.flush()
            else:
                typer.echo(render_answer(answer))
    except _EXPECTED as exc:
        raise _fail(exc) from None


@app.command()
def chat(data_dir: DataDir = None, collection: Collection = None) -> None:
    """A conversation in the terminal, with the bot's commands (/add, /list, /delete, /help)."""
    from verbatim.bot.console import run_console

    try:
        run_console(_engine(data_dir), _collection(collection))
    except _EXPECTED as exc:
        raise _fail(exc) from None


@app.command()
def serve(data_dir: DataDir = None) -> None:
    """Run the Telegram bot: long polling, or a webhook when VERBATIM_WEBHOOK_URL is set."""
    from verbatim.bot.telegram.serve import NO_TOKEN
    from verbatim.bot.telegram.serve import serve as serve_bot

    try:
        settings = _settings(data_dir)
    except VerbatimError as exc:
        raise _fail(exc) from None
    if settings.telegram_token is None or not settings.telegram_token.get_secret_value().strip():
        typer.echo(NO_TOKEN, err=True)  # before loading anything: the usual first-run mistake
        raise typer.Exit(1)
    try:
        from verbatim.bot.engine import Engine

        engine = Engine(settings)
    except _EXPECTED as exc:
        raise _fail(exc) from None
    try:
        status = serve_bot(settings, engine)
    finally:
        engine.close()
    raise typer.Exit(status)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
