"""From a fetched page to an article: trafilatura finds the body and the metadata, we refuse non-articles.

A page with no readable article (an empty JavaScript shell, a paywall or cookie-consent stub) is refused
with a FetchError instead of being stored: answering questions from "Subscribe to continue reading" would
be worse than saying the page could not be read.

Extraction is CPU work (lxml parsing and trafilatura's heuristics: ~25 ms for a typical news page, seconds
for a huge one), so the async entry point runs it in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import urljoin

import httpx
import trafilatura
from courlan import extract_domain
from lxml.etree import _Element
from trafilatura.utils import load_html
from verbatim.index.errors import FetchError
from verbatim.index.models import ArticleDraft
from verbatim.index.web import FetchedPage, FetchSettings, fetch_url, parse_url

__all__ = [
    "MAX_ELEMENTS",
    "MIN_ARTICLE_CHARS",
    "MIN_ARTICLE_SENTENCES",
    "TRAFILATURA_OPTIONS",
    "extract_article",
    "extract_plain_text",
    "fetch_article",
    "fetch_article_sync",
    "page_to_article",
]

logger = logging.getLogger(__name__)

# Chosen on bench/extraction.py (81 real news/blog pages of the Zyte benchmark fetched through this code,
# token-level F1 against the human-annotated body, trafilatura 2.3.1):
#   favor_precision               P 0.979  R 0.985  F1 0.981  no page lost   (chosen)
#   favor_precision + formatting  P 0.979  R 0.986  F1 0.981  no page lost   (no gain; we render the tree)
#   favor_precision + fast        P 0.967  R 0.973  F1 0.969  1 page lost (too short)
#   favor_precision, no tables    P 0.967  R 0.968  F1 0.966  2 pages lost (a body laid out in a <table>)
#   fast                          P 0.954  R 0.975  F1 0.963  1 page lost
#   favor_recall                  P 0.948  R 0.975  F1 0.959  1 page lost
#   defaults                      P 0.946  R 0.973  F1 0.955  1 page lost
# Precision is also what a citing bot needs: text from a sidebar or "read more" box would be quoted as if
# the article said it. Comments are never article text.
TRAFILATURA_OPTIONS: dict[str, Any] = {
    "favor_precision": True,
    "include_comments": False,
    "include_tables": True,
    "include_images": False,
    "include_links": False,
    "with_metadata": True,
}

# Real articles are short at times (a 3-sentence wire brief, a paywall teaser the benchmark's annotators
# kept: 367 characters): the floor only has to keep out empty shells, titles and error notices.
MIN_ARTICLE_CHARS = 200
MIN_ARTICLE_SENTENCES = 2
# The most HTML elements a page may have. Extraction time grows with the tree (about 0.2 ms an element
# here, all CPU, holding the GIL for much of it), and a 5 MB page of tiny elements would take 20 s; the
# benchmark's real news pages have 150-1,600 elements, long Wikipedia articles tens of thousands.
MAX_ELEMENTS = 50_000
# A page is a stub when, besides the paragraphs holding a notice phrase, little text is left: a teaser of
# a paragraph or two. A short article that ends with "Subscribe to continue supporting us" still has its
# whole body left over, so it is kept.
STUB_MAX_CONTENT_CHARS = 800
STUB_PHRASES = (
    "subscribe to continue",
    "subscribe to read",
    "subscribe now to",
    "to continue reading",
    "continue reading your article",
    "already a subscriber",
    "already have an account",
    "subscribers only",
    "for subscribers only",
    "exclusive to subscribers",
    "sign in to continue",
    "log in to continue",
    "login to continue",
    "register to continue",
    "create a free account",
    "you have reached your",
    "free articles this month",
    "enable javascript",
    "javascript is disabled",
    "javascript is required",
    "turn on javascript",
    "please enable cookies",
    "we use cookies",
    "accept cookies",
    "cookie settings",
    "manage your privacy",
    "verify you are human",
    "are you a robot",
    "checking your browser",
    "unusual traffic",
    "access denied",
)

NO_ARTICLE = "That page has no article text I can read (it may be a paywall or a page that needs JavaScript)."
STUB_NOTICE = "That page shows a subscription, login or cookie notice instead of an article."
TOO_COMPLEX = "That page is too big and complex for me to read."
PASTE_HINT = "You can paste the article's text instead."

_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’»)\]]*(?=\s|$)")
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_INLINE_TAGS = frozenset({"hi", "ref", "del", "span", "a", "b", "i", "em", "strong", "sub", "sup", "abbr"})
_LINE_TAGS = frozenset({"item", "row"})
_PARAGRAPH, _LINE = object(), object()


# ---------------------------------------------------------------------------------------------------------
# Public API


def extract_article(html: str, url: str) -> ArticleDraft:
    """Extract the article in `html`, fetched from `url`. Pure and synchronous. Raises FetchError.

    `url` may be empty (a saved HTML file): the page's own canonical URL is then taken as is.
    """
    if not html.strip():
        raise FetchError(NO_ARTICLE, PASTE_HINT)
    canonical = url
    try:
        tree = load_html(html)
        if tree is None:
            raise FetchError(NO_ARTICLE, PASTE_HINT)
        if sum(1 for _ in tree.iter()) > MAX_ELEMENTS:
            raise FetchError(TOO_COMPLEX, PASTE_HINT)
        canonical = _canonical_url(tree, url)
        document = trafilatura.bare_extraction(
            tree,
            url=url,
            date_extraction_params={
                "original_date": True,
                "extensive_search": True,
                "max_date": date.today().isoformat(),
            },
            **TRAFILATURA_OPTIONS,
        )
    except (ValueError, TypeError, AttributeError, LookupError, RecursionError):
        # Hostile or mangled markup can trip the parser's corners; the page is unreadable, not a bug here.
        logger.warning("trafilatura failed on %s", url, exc_info=True)
        document = None
    if document is None or isinstance(document, dict) or document.body is None:
        raise FetchError(NO_ARTICLE, PASTE_HINT)
    title = _clean_line(document.title or "")[:300]
    text = _drop_repeated_title(render_body(document.body), title)
    _check_is_article(text)
    return ArticleDraft(
        text=text,
        title=title,
        url=canonical or None,
        author=_clean_line(document.author or "")[:200] or None,
        published=_parse_date(document.date),
        source="url",
    )


def extract_plain_text(text: str, url: str) -> ArticleDraft:
    """A `text/plain` page as an article: blank lines separate paragraphs, wrapped lines are joined."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text and len(_CONTROL.findall(text[:10000])) > 0.02 * min(len(text), 10000):
        raise FetchError("That link is not readable text.", PASTE_HINT)
    paragraphs = [_clean_line(p) for p in re.split(r"\n[ \t]*\n", text)]
    paragraphs = [p for p in paragraphs if p]
    title = ""
    if paragraphs and len(paragraphs[0]) <= 150 and "\n" not in text.strip().split("\n\n", 1)[0]:
        # A short single-line opening paragraph reads as the title, as in most plain-text articles.
        title = paragraphs.pop(0)
    body = "\n\n".join(paragraphs)
    _check_is_article(body)
    return ArticleDraft(text=body, title=title, url=url, source="url")


def page_to_article(page: FetchedPage) -> ArticleDraft:
    """Extract the article from a fetched page, HTML or plain text. Raises FetchError."""
    # Some servers label any file text/html; a "page" without a single tag is plain text.
    if page.is_plain_text or "<" not in page.html[:4096]:
        return extract_plain_text(page.html, page.url)
    return extract_article(page.html, page.url)


async def fetch_article(
    url: str, settings: FetchSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> ArticleDraft:
    """Fetch `url` (safely: see index.web) and extract its article, off the event loop. Raises FetchError."""
    page = await fetch_url(url, settings, transport=transport)
    return await asyncio.to_thread(page_to_article, page)


def fetch_article_sync(
    url: str, settings: FetchSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> ArticleDraft:
    """`fetch_article` for callers without an event loop (the CLI)."""
    return asyncio.run(fetch_article(url, settings, transport=transport))


# ---------------------------------------------------------------------------------------------------------
# Body text


def render_body(body: _Element) -> str:
    """Trafilatura's XML body as text: blocks separated by a blank line, list items and <br> by a newline.

    trafilatura's own text output puts a single newline between paragraphs and keeps the source's
    hard-wrapped newlines inside them, so paragraphs could not be told apart downstream.
    """
    paragraphs: list[str] = []
    lines: list[str] = []
    words: list[str] = []

    def end_line() -> None:
        line = _SPACES.sub(" ", "".join(words)).strip()
        words.clear()
        if line:
            lines.append(line)

    def end_paragraph() -> None:
        end_line()
        if lines:
            paragraphs.append("\n".join(lines))
            lines.clear()

    for piece in _walk(body, root=True):
        if piece is _PARAGRAPH:
            end_paragraph()
        elif piece is _LINE:
            end_line()
        else:
            words.append(str(piece))
    end_paragraph()
    return "\n\n".join(paragraphs)


def _walk(element: _Element, root: bool = False) -> Iterator[object]:
    tag = element.tag if isinstance(element.tag, str) else ""
    is_block = bool(tag) and tag not in _INLINE_TAGS and tag not in _LINE_TAGS and tag not in ("lb", "cell")
    if tag == "lb" or tag in _LINE_TAGS:
        yield _LINE
    elif tag == "cell" and element.getprevious() is not None:
        yield " | "
    elif is_block:
        yield _PARAGRAPH
    if tag and element.text:
        yield _SPACES.sub(" ", element.text)
    for child in element:
        yield from _walk(child)
    if is_block:
        yield _PARAGRAPH
    elif tag in _LINE_TAGS:
        yield _LINE
    if not root and element.tail:
        yield _SPACES.sub(" ", element.tail)


def _drop_repeated_title(text: str, title: str) -> str:
    """Drop an opening paragraph that only repeats the headline (the page's <h1>).

    The title is stored apart; kept in the body it would be cited as if the article said it twice.
    Measured on the benchmark: 8 of 81 pages open with their headline, mean F1 0.980 -> 0.981.
    """
    first, _, rest = text.partition("\n\n")
    words = _WORDS.findall(first.lower())
    title_words = _WORDS.findall(title.lower())
    if rest and words and len(first) <= 300 and f" {' '.join(words)} " in f" {' '.join(title_words)} ":
        return rest
    return text


def _clean_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def count_sentences(text: str) -> int:
    """Rough count: sentence ends followed by space, plus an unterminated last sentence per paragraph."""
    count = 0
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        ends = list(_SENTENCE_END.finditer(paragraph))
        terminated = bool(ends) and ends[-1].end() == len(paragraph)
        count += len(ends) + (0 if terminated else 1)
    return count


def stub_phrase(text: str) -> str | None:
    """The paywall/consent phrase that makes `text` a stub (little besides the notice), else None."""
    found: str | None = None
    content_chars = 0
    for paragraph in re.split(r"\n\s*\n", text):
        lowered = paragraph.lower().replace("’", "'")
        phrase = next((p for p in STUB_PHRASES if p in lowered), None)
        if phrase is None:
            content_chars += len(paragraph.strip())
        elif found is None:
            found = phrase
    return found if content_chars < STUB_MAX_CONTENT_CHARS else None


def _check_is_article(text: str) -> None:
    if stub_phrase(text) is not None:
        raise FetchError(STUB_NOTICE, PASTE_HINT)
    if len(text) < MIN_ARTICLE_CHARS or count_sentences(text) < MIN_ARTICLE_SENTENCES:
        raise FetchError(NO_ARTICLE, PASTE_HINT)


# ---------------------------------------------------------------------------------------------------------
# Metadata


def _canonical_url(tree: _Element, fetched_url: str) -> str:
    """The page's own name for itself (rel=canonical, then og:url) when it is on the same site, else the
    URL it was fetched from.

    Same site only: a page may not claim to be another publisher's article, or the bot would cite a
    stranger's page under a newspaper's address. AMP and mobile hosts (amp.example.com) are the same site.
    """
    candidates: list[str] = []
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            candidates.append(link.get("href", ""))
    for meta in tree.iter("meta"):
        if (meta.get("property") or meta.get("name") or "").lower() == "og:url" and meta.get("content"):
            candidates.append(meta.get("content", ""))
    for candidate in candidates:
        try:
            absolute = parse_url(urljoin(fetched_url, candidate.strip()))
        except (FetchError, ValueError):
            continue
        if not fetched_url or _same_site(str(absolute), fetched_url):
            return str(absolute)
    return fetched_url


def _same_site(a: str, b: str) -> bool:
    try:
        host_a, host_b = httpx.URL(a).host, httpx.URL(b).host
    except (httpx.InvalidURL, ValueError):
        return False
    return host_a == host_b or _site(a, host_a) == _site(b, host_b) != ""


def _site(url: str, host: str) -> str:
    """The registrable domain (news.bbc.co.uk -> bbc.co.uk); an IP address is only itself."""
    if not host or host.replace(".", "").isdigit() or ":" in host:
        return ""
    # The public-suffix list knows co.uk and github.io; for names it does not know, two labels.
    return extract_domain(url) or ".".join(host.rstrip(".").split(".")[-2:])


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value[:10])
    except ValueError:
        return None
    return parsed if parsed <= date.today() else None
