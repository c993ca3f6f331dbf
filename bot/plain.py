"""Plain text for the terminal: answers, refusals, lists and add results, with every control character
of stored text removed (a title can carry escape sequences that would drive the terminal)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from verbatim.bot import wording
from verbatim.index.models import ArticleSummary
from verbatim.index.storage import AddResult
from verbatim.retrieval.models import Answer, Citation

# C0 and C1 controls but line breaks and tabs, and DEL: what a terminal would act on rather than show.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    return _CONTROL.sub("", text)


def source_line(citation: Citation) -> str:
    parts = [wording.title_of(citation.title)]
    if citation.published:
        parts.append(citation.published.isoformat())
    parts.append(wording.position(citation))
    return safe(" · ".join(parts))


def render_answer(answer: Answer) -> str:
    if answer.reason == "empty_collection":
        return f"{wording.EMPTY_COLLECTION} {wording.EMPTY_HINT}"
    if answer.reason == "empty_question":
        return wording.EMPTY_QUESTION
    if not answer.answered:
        if answer.closest:
            lead = answer.closest
            url = f"\n    {safe(lead.url)}" if lead.url else ""
            return f"{wording.NO_ANSWER}\n{wording.LEAD}\n“{safe(lead.text)}”\n— {source_line(lead)}{url}"
        return f"{wording.NO_ANSWER}\n{wording.NO_ANSWER_HINT}"
    lines = [f"“{safe(c.text)}” [{n}]" for n, c in enumerate(answer.citations, start=1)]
    lines.append("")
    for n, citation in enumerate(answer.citations, start=1):
        lines.append(f"[{n}] {source_line(citation)}")
        if citation.url:
            lines.append(f"    {safe(citation.url)}")
    return "\n".join(lines)


def article_lines(articles: Sequence[ArticleSummary]) -> list[str]:
    """`N. title — sentences, added [id …]` lines; numbers are what delete N accepts."""
    if not articles:
        return [f"{wording.EMPTY_COLLECTION} {wording.EMPTY_HINT}"]
    return [
        safe(
            f"{n}. {wording.title_of(a.title)} — {a.sentence_count} sentences,"
            f" added {a.added_at:%Y-%m-%d} [id {a.id}]"
        )
        for n, a in enumerate(articles, start=1)
    ]


def added_line(result: AddResult, *, with_id: bool = False) -> str:
    a = result.article
    line = wording.added(safe(wording.title_of(a.title)), a.sentence_count, created=result.created)
    return f"{line} [id {safe(a.id)}]" if with_id else line


def deleted_line(article: ArticleSummary) -> str:
    return wording.deleted(safe(wording.title_of(article.title)))
