"""Turn pasted text, files and JSONL lines into article drafts, with clear errors for bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from index.errors import InputError
from index.models import ArticleDraft

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst", ""}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
_HTML_DOCUMENT = re.compile(r"^\s*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.IGNORECASE)
_TITLE_MAX = 200


def looks_like_html_document(text: str) -> bool:
    """A whole web page (not article text that merely mentions `<b>` or `a < b`)."""
    return bool(_HTML_DOCUMENT.match(text[:2000]))


def derive_title(text: str) -> str:
    """The first line when it reads like a headline, else the opening words of the text."""
    first_line = text.strip().split("\n", 1)[0].strip().lstrip("#").strip()
    if 0 < len(first_line) <= _TITLE_MAX:
        return first_line
    words = first_line.split()
    return " ".join(words[:12]) + ("…" if len(words) > 12 else "")


def check_text(text: str, max_chars: int, what: str = "The article") -> str:
    if "\x00" in text:
        raise InputError(f"{what} looks like binary data, not text.", "Send a .txt, .md or .html file.")
    if not text.strip():
        raise InputError(f"{what} is empty.", "Send the article's text or a link to it.")
    if len(text) > max_chars:
        raise InputError(
            f"{what} is too long ({len(text):,} characters; the limit is {max_chars:,}).",
            "Split it into smaller articles or raise VERBATIM_MAX_ARTICLE_CHARS.",
        )
    if not any(ch.isalnum() for ch in text):
        raise InputError(f"{what} has no words in it.")
    return text


def draft_from_text(
    text: str, *, max_chars: int, title: str | None = None, url: str | None = None, source: str = "text"
) -> ArticleDraft:
    check_text(text, max_chars)
    if looks_like_html_document(text):
        return draft_from_html(text, url=url, max_chars=max_chars, source=source)
    return ArticleDraft(text=text, title=(title or derive_title(text)).strip(), url=url, source=source)


def draft_from_html(html: str, *, url: str | None, max_chars: int, source: str) -> ArticleDraft:
    from index.extract import extract_article  # trafilatura is slow to import; only pages need it

    draft = extract_article(html, url or "")
    check_text(draft.text, max_chars)
    return draft.model_copy(update={"source": source, "url": draft.url or url})


def decode_bytes(data: bytes, name: str) -> str:
    if b"\x00" in data[:8192]:
        raise InputError(f"{name} is a binary file, not text.", "Send a .txt, .md or .html file.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}).",
            "Save it as UTF-8 and add it again.",
        ) from None


def draft_from_bytes(data: bytes, name: str, *, max_chars: int, source: str = "file") -> ArticleDraft:
    suffix = Path(name).suffix.lower()
    if suffix not in TEXT_SUFFIXES | HTML_SUFFIXES:
        raise InputError(
            f"{name}: I can read .txt, .md and .html files, not {suffix or 'this kind of file'}.",
        )
    # Four bytes a character at most, so anything bigger is certainly over the limit.
    if len(data) > max_chars * 4:
        raise InputError(
            f"{name} is too large ({len(data) / 1e6:.1f} MB).",
            "Split it into smaller articles or raise VERBATIM_MAX_ARTICLE_CHARS.",
        )
    text = decode_bytes(data, name)
    check_text(text, max_chars, what=name)
    if suffix in HTML_SUFFIXES or looks_like_html_document(text):
        return draft_from_html(text, url=None, max_chars=max_chars, source=source)
    return draft_from_text(text, max_chars=max_chars, source=source)


def draft_from_file(path: Path, *, max_chars: int) -> ArticleDraft:
    try:
        if path.stat().st_size > max_chars * 4:
            raise InputError(f"{path} is too large ({path.stat().st_size / 1e6:.1f} MB).")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory.", "Pass the files inside it.") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied.") from None
    return draft_from_bytes(data, str(path), max_chars=max_chars)


@dataclass(frozen=True)
class JsonlItem:
    line: int
    draft: ArticleDraft | None
    error: InputError | None


def drafts_from_jsonl(lines: Iterable[str], *, max_chars: int, name: str = "JSONL") -> Iterator[JsonlItem]:
    """One item a non-blank line; a bad line yields an error naming it and the others still come."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield JsonlItem(number, _jsonl_draft(line, max_chars), None)
        except InputError as exc:
            yield JsonlItem(number, None, InputError(f"{name} line {number}: {exc.message}", exc.hint))


def _jsonl_draft(line: str, max_chars: int) -> ArticleDraft:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg} at column {exc.colno}).") from None
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object with `title` and `text`.")
    text = obj.get("text")
    if not isinstance(text, str):
        raise InputError("`text` is missing or not a string.")
    check_text(text, max_chars)
    raw_id = obj.get("id")
    try:
        return ArticleDraft(
            text=text,
            title=str(obj.get("title") or derive_title(text)).strip(),
            url=obj.get("url") or None,
            id=None if raw_id is None else str(raw_id),
            source="jsonl",
        )
    except ValidationError as exc:
        raise InputError(f"invalid field ({exc.errors()[0]['loc'][0]}).") from None
