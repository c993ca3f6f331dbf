"""Turn pasted text, files and JSONL lines into article drafts, with clear errors for bad input."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from verbatim.index.errors import InputError
from verbatim.index.models import ArticleDraft

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
    from verbatim.index.extract import extract_article  # trafilatura is slow to import; only pages need it

    draft = extract_article(html, url or "")
    check_text(draft.text, max_chars)
    return draft.model_copy(update={"source": source, "url": draft.url or url})


# Text files that say their encoding with a byte order mark. UTF-32's marks begin with UTF-16's: first.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)


def decode_bytes(data: bytes, name: str) -> str:
    """UTF-8 (with or without a byte order mark), or UTF-16/UTF-32 with one; anything else is refused."""
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)  # which reads the mark for the byte order and drops it
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{name} is not valid {label} (at byte offset {exc.start}).",
                    "Save it as UTF-8 and add it again.",
                ) from None
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
    for field in ("title", "url"):
        if obj.get(field) is not None and not isinstance(obj[field], str):
            raise InputError(f"`{field}` must be a string, not {_json_kind(obj[field])}.")
    try:
        return ArticleDraft(
            text=text,
            title=(obj.get("title") or derive_title(text)).strip(),
            url=obj.get("url") or None,
            id=_jsonl_id(obj.get("id")),
            source="jsonl",
        )
    except ValidationError as exc:
        raise InputError(f"invalid field ({exc.errors()[0]['loc'][0]}).") from None


def _jsonl_id(raw: object) -> str | None:
    """A JSONL `id`: a string or a whole number; absent, null or blank means one derived from the text."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise InputError(f"`id` must be a string or a whole number, not {_json_kind(raw)}.")
    return str(raw).strip() or None


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float):
        return "a decimal number"
    return "a number" if isinstance(value, int) else type(value).__name__
