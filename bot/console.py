"""`verbatim chat`: the bot's conversation in a terminal, on the same engine."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bot.runtime import Engine
from index.errors import VerbatimError
from retrieval.render import EMPTY_COLLECTION, EMPTY_HINT, render_article_list, render_plain

HELP = """Ask a question in plain words, or use a command:
  /add TEXT | FILE | URL   add an article (pasted text, a file path or a link)
  /list                    numbered list of the articles
  /delete N                delete article number N (or its id)
  /help                    this help
  /quit                    leave (Ctrl-D works too)"""


def handle_line(engine: Engine, collection: str, line: str) -> str | None:
    """The reply to one line; None means leave."""
    line = line.strip()
    if not line:
        return ""
    command, _, rest = line.partition(" ")
    rest = rest.strip()
    if not line.startswith("/"):
        answer = engine.answerer.ask(collection, line)
        return render_plain(answer, empty_collection=not engine.library.list_articles(collection))
    match command.lower():
        case "/quit" | "/exit":
            return None
        case "/help" | "/start":
            return HELP
        case "/list":
            articles = engine.library.list_articles(collection)
            return (
                "\n".join(render_article_list(articles)) if articles else f"{EMPTY_COLLECTION} {EMPTY_HINT}"
            )
        case "/delete":
            if not rest:
                return "Which one? /delete N, with N from /list."
            article = engine.library.delete(collection, rest)
            return f"Deleted “{article.title}”."
        case "/add":
            return _add(engine, collection, rest)
        case _:
            return f"Unknown command {command}. /help lists them."


def _add(engine: Engine, collection: str, rest: str) -> str:
    from index.ingest import draft_from_file, draft_from_text

    if not rest:
        return "Usage: /add TEXT, /add FILE or /add URL."
    settings = engine.settings
    if rest.startswith(("http://", "https://")) and " " not in rest:
        from index.extract import fetch_article_sync

        draft = fetch_article_sync(rest, settings)
    elif " " not in rest and Path(rest).expanduser().is_file():
        draft = draft_from_file(Path(rest).expanduser(), max_chars=settings.max_article_chars)
    else:
        draft = draft_from_text(rest, max_chars=settings.max_article_chars)
    result = engine.library.add(collection, draft)
    a = result.article
    if result.created:
        return f"Added “{a.title}” ({a.sentence_count} sentences)."
    return f"Already there: “{a.title}”."


def run_console(engine: Engine, collection: str) -> None:
    console = Console(highlight=False)
    console.print(
        f"[bold]Verbatim[/bold] · collection [cyan]{escape(collection)}[/cyan] · /help for commands"
    )
    while True:
        try:
            line = console.input("[bold green]> [/bold green]")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        try:
            with console.status("Thinking…") if line.strip() and not line.startswith("/") else _nothing():
                reply = handle_line(engine, collection, line)
        except VerbatimError as exc:
            reply = f"Error: {exc}"
        if reply is None:
            return
        if reply:
            console.print(escape(reply))


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
