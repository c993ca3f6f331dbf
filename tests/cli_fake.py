"""`verbatim` on a stand-in embedder with the reader off: the command line's own behaviour (its errors,
summaries and exit codes) without loading a model. `engine` replaces `bot.cli._engine` in-process;
`python -m tests.cli_fake ARGS` runs the whole command in a subprocess."""

from __future__ import annotations

from pathlib import Path

from verbatim.bot import cli
from verbatim.bot.engine import Engine

from tests.fakes import HashingEmbedder


def engine(data_dir: Path | None) -> Engine:
    settings = cli._settings(data_dir).model_copy(update={"reader": "off"})
    return Engine(settings, embedder=HashingEmbedder())


def main() -> None:
    cli._engine = engine
    cli.app()


if __name__ == "__main__":
    main()
