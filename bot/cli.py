"""The `verbatim` command line. Heavy imports (torch, the model) happen inside commands, never at start."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from index.errors import VerbatimError

if TYPE_CHECKING:
    from bot.engine import Engine
    from bot.settings import Settings
    from index.models import ArticleDraft
    from index.storage import AddResult

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
    from bot.settings import Settings

    chosen = data_dir or _globals.data_dir
    return Settings(data_dir=chosen) if chosen else Settings()


def _collection(collection: str | None) -> str:
    return collection or _globals.collection or "default"


def _engine(data_dir: Path | None) -> Engine:
    from bot.engine import Engine

    return Engine(_settings(data_dir))


def _fail(exc: VerbatimError) -> typer.Exit:
    typer.echo(f"Error: {exc}", err=True)
    return typer.Exit(1)


def _read_stdin_text() -> str:
    data = sys.stdin.buffer.read()
    from index.ingest import decode_bytes

    return decode_bytes(data, "standard input")


# -- add ------------------------------------------------------------------------------------------


def _drafts_from_args(paths: list[str], engine: Engine, errors: list[str]) -> Iterator[ArticleDraft]:
    from bot.sources import FileSource, LinkSource, Source, TextSource, as_link

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
            yield engine.draft(source)
        except VerbatimError as exc:
            errors.append(str(exc))
            typer.echo(f"Error: {exc}", err=True)


def _read_jsonl(path: str) -> list[str]:
    from index.ingest import decode_bytes

    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise VerbatimError(f"Cannot read {path}: {exc.strerror}.") from None
    return decode_bytes(raw, path).splitlines()


def _drafts_from_jsonl(
    lines: list[str], name: str, settings: Settings, errors: list[str]
) -> Iterator[ArticleDraft]:
    from index.ingest import drafts_from_jsonl

    for item in drafts_from_jsonl(lines, max_chars=settings.max_article_chars, name=name):
        if item.error is not None:
            errors.append(str(item.error))
            typer.echo(f"Error: {item.error}", err=True)
        elif item.draft is not None:
            yield item.draft


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
    name = _collection(collection)
    errors: list[str] = []
    try:
        engine = _engine(data_dir)
        settings = engine.settings
        if jsonl:
            lines = _read_jsonl(jsonl)
            total = sum(1 for line in lines if line.strip())
            drafts = _drafts_from_jsonl(lines, jsonl, settings, errors)
        else:
            total = len(paths or [])
            drafts = _drafts_from_args(paths or [], engine, errors)
        results: list[AddResult] = []
        bulk = total > 1 or bool(jsonl)
        with Progress(
            TextColumn("Adding"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
            disable=not bulk or not sys.stderr.isatty(),
            console=_stderr_console(),
        ) as progress:
            task = progress.add_task("add", total=total)
            for result in engine.add_many(name, drafts):
                results.append(result)
                progress.advance(task)
                if not bulk:
                    _report_one(result)
    except VerbatimError as exc:
        raise _fail(exc) from None
    if bulk or errors:
        _report_summary(results, errors)
    if errors:
        raise typer.Exit(1)


def _stderr_console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=True)


def _report_one(result: AddResult) -> None:
    from bot.plain import added_line

    typer.echo(added_line(result, with_id=True))


def _report_summary(results: list[AddResult], errors: list[str]) -> None:
    created = [r for r in results if r.created]
    sentences = sum(r.article.sentence_count for r in created)
    parts = [f"Added {len(created)} article{'s' if len(created) != 1 else ''} ({sentences:,} sentences)"]
    if len(results) - len(created):
        parts.append(f"{len(results) - len(created)} already there")
    if errors:
        parts.append(f"{len(errors)} failed")
    typer.echo("; ".join(parts) + ".")


# -- list, delete ---------------------------------------------------------------------------------


@app.command("list")
def list_articles(
    data_dir: DataDir = None,
    collection: Collection = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Numbered list of the collection's articles."""
    from bot.plain import article_lines

    try:
        articles = _engine(data_dir).list_articles(_collection(collection))  # loads no model
    except VerbatimError as exc:
        raise _fail(exc) from None
    if as_json:
        for a in articles:
            typer.echo(json.dumps(a.model_dump(mode="json"), ensure_ascii=False))
        return
    for line in article_lines(articles):
        typer.echo(line)


@app.command()
def delete(
    ref: Annotated[str, typer.Argument(help="Article id, or its number in `verbatim list`.")],
    data_dir: DataDir = None,
    collection: Collection = None,
) -> None:
    """Delete an article and all its sentences from every index."""
    from bot.plain import deleted_line, safe

    try:
        article = _engine(data_dir).delete(_collection(collection), ref)
    except VerbatimError as exc:
        raise _fail(exc) from None
    typer.echo(f"{deleted_line(article)} [id {safe(article.id)}]")


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
    from bot.plain import render_answer

    name = _collection(collection)
    try:
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
    except VerbatimError as exc:
        raise _fail(exc) from None


@app.command()
def chat(data_dir: DataDir = None, collection: Collection = None) -> None:
    """A conversation in the terminal, with the bot's commands (/add, /list, /delete, /help)."""
    from bot.console import run_console

    try:
        run_console(_engine(data_dir), _collection(collection))
    except VerbatimError as exc:
        raise _fail(exc) from None


@app.command()
def serve(data_dir: DataDir = None) -> None:
    """Run the Telegram bot: long polling, or a webhook when VERBATIM_WEBHOOK_URL is set."""
    from bot.telegram.serve import NO_TOKEN
    from bot.telegram.serve import serve as serve_bot

    settings = _settings(data_dir)
    if settings.telegram_token is None or not settings.telegram_token.get_secret_value().strip():
        typer.echo(NO_TOKEN, err=True)  # before loading anything: the usual first-run mistake
        raise typer.Exit(1)
    try:
        from bot.engine import Engine

        engine = Engine(settings)
    except VerbatimError as exc:
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
