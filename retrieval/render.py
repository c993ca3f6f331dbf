"""Answers as text: plain for terminals, HTML for Telegram. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from index.models import Article
from retrieval.models import Answer, Citation

NO_ANSWER = "I couldn't find an answer to that in the articles of this chat."
NO_ANSWER_HINT = "Add an article that covers it (send a link or paste its text), or ask another way."
LEAD = "The closest passage, which may not answer it:"
EMPTY_COLLECTION = "There are no articles here yet."
EMPTY_HINT = "Add one first: send a link, paste the text, or upload a .txt/.md/.html file."


def position(citation: Citation) -> str:
    if citation.sentence_count:
        n = len(citation.sentence_ids) or 1
        first = citation.ordinal + 1
        where = f"sentence {first}" if n == 1 else f"sentences {first}–{first + n - 1}"
        return f"{where} of {citation.sentence_count}"
    return f"sentence {citation.ordinal + 1}"


def source_line(citation: Citation) -> str:
    parts = [citation.title or "Untitled"]
    if citation.published:
        parts.append(citation.published.isoformat())
    parts.append(position(citation))
    return " · ".join(parts)


def render_plain(answer: Answer, *, empty_collection: bool = False) -> str:
    if not answer.answered:
        if empty_collection:
            return f"{EMPTY_COLLECTION} {EMPTY_HINT}"
        if answer.closest:
            lead = answer.closest
            url = f"\n    {lead.url}" if lead.url else ""
            return f"{NO_ANSWER}\n{LEAD}\n“{lead.text}”\n— {source_line(lead)}{url}"
        return f"{NO_ANSWER}\n{NO_ANSWER_HINT}"
    lines = [f"“{c.text}” [{n}]" for n, c in enumerate(answer.citations, start=1)]
    lines.append("")
    for n, citation in enumerate(answer.citations, start=1):
        lines.append(f"[{n}] {source_line(citation)}")
        if citation.url:
            lines.append(f"    {citation.url}")
    return "\n".join(lines)


def render_html(answer: Answer, *, empty_collection: bool = False) -> str:
    """Telegram HTML: every piece of article text escaped; only b, i, a and blockquote tags."""
    if not answer.answered:
        if empty_collection:
            return f"{escape(EMPTY_COLLECTION)}\n{escape(EMPTY_HINT)}"
        if answer.closest:
            return f"{escape(NO_ANSWER)}\n{lead_html(answer.closest)}"
        return f"{escape(NO_ANSWER)}\n<i>{escape(NO_ANSWER_HINT)}</i>"
    quotes = [
        f"<blockquote>{escape(c.text)} [{n}]</blockquote>" for n, c in enumerate(answer.citations, start=1)
    ]
    sources = [f"[{n}] {html_source(c)}" for n, c in enumerate(answer.citations, start=1)]
    return "\n".join(quotes) + "\n" + "\n".join(sources)


def lead_html(closest: Citation) -> str:
    return f"<i>{escape(LEAD)}</i>\n<blockquote>{escape(closest.text)}</blockquote>\n{html_source(closest)}"


def html_source(citation: Citation) -> str:
    title = escape(citation.title or "Untitled")
    if citation.url and citation.url.startswith(("http://", "https://")):
        title = f'<a href="{escape(citation.url, quote=True)}">{title}</a>'
    rest = [citation.published.isoformat()] if citation.published else []
    rest.append(position(citation))
    return f"<b>{title}</b> · " + escape(" · ".join(rest))


def render_article_list(articles: Sequence[Article]) -> list[str]:
    """`N. title (id, sentences, added)` lines; numbers are what /delete N accepts."""
    return [
        f"{n}. {a.title or 'Untitled'} — {a.sentence_count} sentences,"
        f" added {a.added_at:%Y-%m-%d} [id {a.id}]"
        for n, a in enumerate(articles, start=1)
    ]
