"""`verbatim chat`: the bot's conversation in a terminal, on the same engine."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from verbatim.bot import wording
from verbatim.bot.engine import Engine
from verbatim.bot.plain import added_line, article_lines, deleted_line, render_answer
from verbatim.bot.sources import classify
from verbatim.index.errors import VerbatimError

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
        return render_answer(engine.ask(collection, line))
    match command.lower():
        case "/quit" | "/exit":
            return None
        case "/help" | "/start":
            return HELP
        case "/list":
            return "\n".join(article_lines(engine.list_articles(collection)))
        case "/delete":
            if not rest:
                return wording.WHICH_ONE
            return deleted_line(engine.delete(collection, rest))
        case "/add":
            if not rest:
                return "Usage: /add TEXT, /add FILE or /add URL."
            return added_line(engine.add(collection, classify(rest, local_files=True)))
        case _:
            return f"Unknown command {command}. /help lists them."


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
