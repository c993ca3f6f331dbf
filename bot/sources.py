"""What a person hands the engine to add, classified once for every front end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from verbatim.index.models import ArticleDraft


@dataclass(frozen=True)
class TextSource:
    text: str
    origin: str = "text"  # recorded as the article's source: text, telegram, ...


@dataclass(frozen=True)
class LinkSource:
    url: str


@dataclass(frozen=True)
class FileSource:
    path: Path


@dataclass(frozen=True)
class UploadSource:
    """A file's bytes, received rather than read from disk (a Telegram document)."""

    data: bytes
    name: str


@dataclass(frozen=True)
class DraftSource:
    """An article a front end already built (a forwarded Telegram post, with its channel and link)."""

    draft: ArticleDraft


Source = TextSource | LinkSource | FileSource | UploadSource | DraftSource


def as_link(text: str) -> str | None:
    """`text` when it is one http(s) link and nothing else."""
    text = text.strip()
    if text.lower().startswith(("http://", "https://")) and not any(ch.isspace() for ch in text):
        return text
    return None


def classify(text: str, *, local_files: bool = False, origin: str = "text") -> Source:
    """A lone link is fetched; with `local_files` (a terminal, not a chat), a lone path naming an
    existing file is read; anything else is the article's text."""
    if link := as_link(text):
        return LinkSource(link)
    candidate = text.strip()
    if local_files and candidate and not any(ch in candidate for ch in "\n\r"):
        path = Path(candidate).expanduser()
        try:
            if path.is_file():
                return FileSource(path)
        except OSError:  # a name too long for the file system is text
            pass
    return TextSource(text, origin)
