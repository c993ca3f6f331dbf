"""Telegram messages: answers split into messages Telegram accepts, the Sources button, context views.

Pure functions. Telegram rejects a message whose visible text (after HTML parsing, in UTF-16 code
units) is over 4096, and any HTML with a tag or `&entity;` cut in half, so every function here returns
messages that are balanced HTML and short enough by construction.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
)
from verbatim.bot import wording
from verbatim.bot.engine import QuoteContext, QuoteRef, refs_of
from verbatim.bot.plain import article_lines
from verbatim.index.errors import VerbatimError
from verbatim.index.models import ArticleSummary, Sentence
from verbatim.index.storage import AddResult
from verbatim.retrieval.models import Answer, Citation

TELEGRAM_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
SOURCES_PREFIX = "src:"
TITLE_LIMIT = 300
INLINE_TITLE_LIMIT = 100  # a result's title and description show on a line or two

# Telegram wording. In a chat, pasted text is a question, so the hints name the ways that add.
PRIVATE_ADD_HINT = (
    "Add one first: send me a link, upload a .txt/.md/.html file, or send /add followed by the text."
)
GROUP_ADD_HINT = "Add one first: /add followed by a link or the text, or reply /add to a message or file."
NO_ANSWER_PRIVATE_HINT = (
    "Add an article that covers it (send a link or a file, or /add its text), or ask another way."
)
NO_ANSWER_GROUP_HINT = "Add an article that covers it (/add a link or its text), or ask another way."
SORRY = "Sorry, something went wrong on my side. It has been logged; please try again."
ADDING = "Adding…"

START_PRIVATE = (
    "I answer questions about the articles you give me by quoting the exact sentences that say so, "
    "with a link to each source.\n\n"
    "<b>Add your first article</b>: send me a link, upload a .txt, .md or .html file, forward a "
    "channel post, or send /add followed by the article's text.\n"
    "Then just ask a question. /help lists the commands."
)
START_GROUP = (
    "I answer questions about this group's articles by quoting the exact sentences that say so.\n\n"
    "<b>Add an article</b>: /add followed by a link or the text, or reply /add to a message, file or "
    "forwarded post.\n"
    "<b>Ask</b>: /ask QUESTION, mention me, or reply to one of my messages. /help lists the commands."
)
HELP_PRIVATE = (
    "Ask a question in plain words; I quote the sentences that answer it.\n\n"
    "/add TEXT or LINK: add an article (or reply /add to a message)\n"
    "A link, a .txt/.md/.html file, a forwarded channel post or a pasted text of over 1,000 characters "
    "is added too.\n"
    "/list: the articles of this chat, numbered\n"
    "/delete N: delete article N of the last /list (asks first)\n"
    "/sources: the sentences around the last answer's quotes\n"
    "/ask QUESTION: ask explicitly\n"
    "/help: this help"
)
HELP_GROUP = (
    "Ask with /ask QUESTION, by mentioning me, or by replying to one of my messages.\n\n"
    "/add TEXT or LINK: add an article (or reply /add to a message, file or forwarded post)\n"
    "/list: this group's articles, numbered\n"
    "/delete N: delete article N of the last /list (group admins; asks first)\n"
    "/sources: the sentences around the last answer's quotes\n"
    "/help: this help"
)


# -- measuring and splitting HTML --------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Telegram counts lengths in UTF-16 code units: characters outside the BMP count twice."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


_TOKEN = re.compile(r"<[^>]*>|&#?[A-Za-z0-9]+;|[^<&]+|[<&]")
_TAG_NAME = re.compile(r"<\s*/?\s*([A-Za-z0-9-]*)")
_EMPTY_ELEMENT = re.compile(r"<([A-Za-z0-9-]+)(?:\s[^>]*)?></(?:\1)?>")


@dataclass(frozen=True)
class _Atom:
    text: str
    width: int  # visible UTF-16 units
    kind: str  # "open", "close", "char", "entity"


def _atoms(html: str) -> list[_Atom]:
    """Tags, entities and single characters: the units a split may fall between but never inside."""
    atoms: list[_Atom] = []
    for match in _TOKEN.finditer(html):
        token = match.group()
        if token.startswith("<") and len(token) > 1:
            atoms.append(_Atom(token, 0, "close" if token.startswith("</") else "open"))
        elif token.startswith("&") and len(token) > 1:
            atoms.append(_Atom(token, utf16_len(html_lib.unescape(token)), "entity"))
        else:
            atoms.extend(_Atom(ch, utf16_len(ch), "char") for ch in token)
    return atoms


def visible_length(html: str) -> int:
    """Length of the text Telegram shows for `html` (before it trims surrounding whitespace)."""
    return sum(a.width for a in _atoms(html))


def split_html(html: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split Telegram HTML into messages of at most `limit` visible units each.

    Cuts at a line break when one falls in the second half of a message, else at a space there, else
    between any two characters; never inside a tag or an entity. Elements open at a cut are closed at
    the end of one message and opened again at the start of the next.
    """
    remaining = _atoms(html)
    messages: list[str] = []
    stack: list[_Atom] = []  # elements open where the next message starts
    while remaining:
        end, width = 0, 0
        newline = space = None
        while end < len(remaining) and width + remaining[end].width <= limit:
            atom = remaining[end]
            if atom.kind == "char" and atom.text.isspace() and width >= max(1, limit // 2):
                if atom.text == "\n":
                    newline = end
                else:
                    space = end
            width += atom.width
            end += 1
        if end == len(remaining):
            head, tail = remaining, []
        elif newline is not None or space is not None:
            cut = newline if newline is not None else space
            assert cut is not None
            # The whitespace at the cut is dropped: Telegram trims it from both messages anyway.
            head, tail = remaining[:cut], remaining[cut + 1 :]
        else:
            head, tail = remaining[:end], remaining[end:]
        # Zero-width tags at the cut: closings stay with this message, openings go to the next, so
        # no message holds an element with nothing in it.
        if tail:
            while tail and tail[0].kind == "close":
                head.append(tail.pop(0))
            while head and head[-1].kind == "open":
                tail.insert(0, head.pop())
            if not any(a.width for a in head):
                raise ValueError(f"limit {limit} is too small to split this message")
        body = [a.text for a in stack]
        for atom in head:
            body.append(atom.text)
            if atom.kind == "open":
                stack.append(atom)
            elif atom.kind == "close" and stack:
                stack.pop()
        body.extend(f"</{_tag_name(a.text)}>" for a in reversed(stack))
        message = _drop_empty_elements("".join(body))
        if html_lib.unescape(re.sub(r"<[^>]*>", "", message)).strip():
            messages.append(message)
        remaining = tail
    return messages


def _tag_name(open_tag: str) -> str:
    match = _TAG_NAME.match(open_tag)
    return match.group(1).lower() if match else ""


def _drop_empty_elements(html: str) -> str:
    while True:
        shorter = _EMPTY_ELEMENT.sub("", html)
        if shorter == html:
            return html
        html = shorter


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-16 units, at a word boundary when one is near, ending in "…"."""
    if utf16_len(text) <= limit:
        return text
    if limit < 1:
        return ""
    out: list[str] = []
    used = 0
    for ch in text:
        width = utf16_len(ch)
        if used + width > limit - 1:
            break
        out.append(ch)
        used += width
    cut = "".join(out)
    space = cut.rfind(" ")
    if space >= len(cut) * 3 // 4:
        cut = cut[:space]
    return cut.rstrip() + "…"


def pack(blocks: Iterable[str], *, separator: str = "\n", limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Join balanced HTML blocks into as few messages as fit; a block too long alone is split."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        candidate = f"{current}{separator}{block}" if current else block
        if visible_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            messages.append(current)
        pieces = split_html(block, limit)
        messages.extend(pieces[:-1])
        current = pieces[-1] if pieces else ""
    if current:
        messages.append(current)
    return messages


# -- answers ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One message to send, with the quotes its Sources button shows."""

    html: str
    sources: tuple[QuoteRef, ...] = ()


def refusal_html(answer: Answer, *, group: bool) -> str:
    """Why nothing is quoted, with what to do about it."""
    if answer.reason == "empty_collection":
        return f"{escape(wording.EMPTY_COLLECTION)}\n{escape(GROUP_ADD_HINT if group else PRIVATE_ADD_HINT)}"
    if answer.reason == "empty_question":
        return escape(wording.EMPTY_QUESTION)
    hint = NO_ANSWER_GROUP_HINT if group else NO_ANSWER_PRIVATE_HINT
    return f"{escape(wording.NO_ANSWER)}\n<i>{escape(hint)}</i>"


def answer_html(answer: Answer) -> str:
    """An answer: each quote in a blockquote, then the numbered sources. Only b, i, a and blockquote
    tags; every piece of article text escaped."""
    quotes = [
        f"<blockquote>{escape(c.text)} [{n}]</blockquote>" for n, c in enumerate(answer.citations, start=1)
    ]
    sources = [f"[{n}] {html_source(c)}" for n, c in enumerate(answer.citations, start=1)]
    return "\n".join(quotes) + "\n" + "\n".join(sources)


def lead_html(closest: Citation) -> str:
    quote = f"<blockquote>{escape(closest.text)}</blockquote>"
    return f"<i>{escape(wording.LEAD)}</i>\n{quote}\n{html_source(closest)}"


def html_source(citation: Citation) -> str:
    title = escape(wording.title_of(citation.title))
    if citation.url and citation.url.startswith(("http://", "https://")):
        title = f'<a href="{escape(citation.url, quote=True)}">{title}</a>'
    rest = [citation.published.isoformat()] if citation.published else []
    rest.append(wording.position(citation))
    return f"<b>{title}</b> · " + escape(" · ".join(rest))


def answer_messages(answer: Answer, *, group: bool = False, limit: int = TELEGRAM_LIMIT) -> list[Outgoing]:
    """The answer as `answer_html` writes it, or, when that is too long, split between quotes.

    Each message then holds whole quotes, each followed by its source line, numbered as in the
    unsplit answer; a quote too long for a message on its own is shortened (before escaping) with "…".
    """
    if not answer.answered and answer.closest:
        no_answer = escape(wording.NO_ANSWER)
        block = _lead_block(answer.closest, limit - visible_length(no_answer) - 1)
        return [Outgoing(f"{no_answer}\n{block}", refs_of([answer.closest]))]
    if not answer.answered or not answer.citations:
        return [Outgoing(refusal_html(answer, group=group))]
    whole = answer_html(answer)
    if visible_length(whole) <= limit:
        return [Outgoing(whole, refs_of(answer.citations))]
    groups: list[tuple[list[str], list[Citation]]] = []
    for n, citation in enumerate(answer.citations, start=1):
        block = _citation_block(n, citation, limit)
        if groups:
            blocks, cited = groups[-1]
            if visible_length("\n\n".join([*blocks, block])) <= limit:
                blocks.append(block)
                cited.append(citation)
                continue
        groups.append(([block], [citation]))
    out: list[Outgoing] = []
    for blocks, cited in groups:
        pieces = split_html("\n\n".join(blocks), limit)  # a no-op unless a title alone is enormous
        out.extend(Outgoing(piece) for piece in pieces[:-1])
        out.append(Outgoing(pieces[-1], refs_of(cited)))
    return out


def _citation_block(n: int, citation: Citation, limit: int) -> str:
    citation = citation.model_copy(update={"title": shorten(wording.title_of(citation.title), TITLE_LIMIT)})
    source = f"[{n}] {html_source(citation)}"
    fixed = visible_length(f" [{n}]\n{source}")
    text = shorten(citation.text, max(limit - fixed, 1))
    return f"<blockquote>{escape(text)} [{n}]</blockquote>\n{source}"


def _lead_block(closest: Citation, limit: int) -> str:
    """The closest passage of a refusal, its text shortened so the block fits `limit`."""
    closest = closest.model_copy(update={"title": shorten(wording.title_of(closest.title), TITLE_LIMIT)})
    fixed = visible_length(lead_html(closest.model_copy(update={"text": ""})))
    return lead_html(closest.model_copy(update={"text": shorten(closest.text, max(limit - fixed, 1))}))


# -- the Sources button -----------------------------------------------------------------------------------


def encode_sources(refs: Sequence[QuoteRef]) -> str | None:
    """`src:<id>[+<more>],...` in at most 64 bytes; quotes that do not fit are left off."""
    data = SOURCES_PREFIX
    for ref in refs:
        item = str(ref.sentence_id) + (f"+{ref.extra}" if ref.extra else "")
        candidate = data + ("," if data != SOURCES_PREFIX else "") + item
        if len(candidate.encode()) > CALLBACK_DATA_LIMIT:
            break
        data = candidate
    return None if data == SOURCES_PREFIX else data


_REF = re.compile(r"(\d{1,18})(?:\+(\d{1,4}))?")


def decode_sources(data: str | None) -> list[QuoteRef] | None:
    """The refs of a Sources button, or None for data this bot did not write."""
    if not data or not data.startswith(SOURCES_PREFIX):
        return None
    refs = []
    for item in data[len(SOURCES_PREFIX) :].split(","):
        match = _REF.fullmatch(item)
        if match is None:
            return None
        refs.append(QuoteRef(int(match.group(1)), int(match.group(2) or 0)))
    return refs or None


def sources_keyboard(refs: Sequence[QuoteRef]) -> InlineKeyboardMarkup | None:
    data = encode_sources(refs)
    if data is None:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton("Sources", callback_data=data)]])


def context_blocks(contexts: Sequence[QuoteContext], *, missing: int = 0) -> list[str]:
    """Each quote in bold between its neighbours, under its article's title: one block a quote."""
    blocks = []
    for ctx in contexts:
        cited = [s for s in ctx.sentences if s.id in ctx.cited]
        if not cited:
            continue
        first, last = cited[0].ordinal + 1, cited[-1].ordinal + 1
        where = f"sentence {first}" if first == last else f"sentences {first}–{last}"
        title = escape(shorten(wording.title_of(ctx.article.title), TITLE_LIMIT))
        if ctx.article.url and ctx.article.url.startswith(("http://", "https://")):
            title = f'<a href="{escape(ctx.article.url, quote=True)}">{title}</a>'
        pieces: list[str] = []
        previous: Sentence | None = None
        for sentence in ctx.sentences:
            if previous is not None:
                pieces.append("\n" if sentence.paragraph != previous.paragraph else " ")
            text = escape(sentence.text)
            pieces.append(f"<b>{text}</b>" if sentence.id in ctx.cited else text)
            previous = sentence
        blocks.append(
            f"<b>{title}</b> · {where} of {ctx.article.sentence_count}\n"
            f"<blockquote>{''.join(pieces)}</blockquote>"
        )
    if missing:
        blocks.append(f"<i>{missing} quoted article{'s were' if missing > 1 else ' was'} deleted since.</i>")
    return blocks


# -- other replies ----------------------------------------------------------------------------------------


def article_list_lines(articles: Sequence[ArticleSummary], *, group: bool) -> list[str]:
    """`N. title — …` lines, numbered as /delete N takes them, escaped; long titles shortened."""
    if not articles:
        hint = GROUP_ADD_HINT if group else PRIVATE_ADD_HINT
        return [f"{escape(wording.EMPTY_COLLECTION)}\n{escape(hint)}"]
    short = [
        a.model_copy(update={"title": shorten(wording.title_of(a.title), TITLE_LIMIT)}) for a in articles
    ]
    return [escape(line) for line in article_lines(short)]


def added_html(result: AddResult) -> str:
    article = result.article
    title = escape(shorten(wording.title_of(article.title), TITLE_LIMIT))
    return wording.added(title, article.sentence_count, created=result.created)


def deleted_html(article: ArticleSummary) -> str:
    return wording.deleted(escape(shorten(wording.title_of(article.title), TITLE_LIMIT)))


def error_html(error: VerbatimError) -> str:
    return escape(shorten(str(error), 1000))


# -- inline mode ------------------------------------------------------------------------------------------


def inline_results(answer: Answer) -> list[InlineQueryResultArticle]:
    """`@Bot question` in any chat: one result a quote (the question in bold over the quote and its
    source, which is what the chat sees when one is picked); a refusal is one result that says so."""
    if answer.answered and answer.citations:
        return [
            _inline_article(f"q{n}", answer.model_copy(update={"citations": [c]}), c.text, c.title)
            for n, c in enumerate(answer.citations, start=1)
        ]
    if answer.reason == "empty_collection":
        title, description = wording.EMPTY_COLLECTION, "Send me articles in our private chat first."
    else:
        title, description = "No answer in your articles", wording.NO_ANSWER_HINT
    return [_inline_article("none", answer, title, description)]


def _inline_article(result_id: str, answer: Answer, title: str, description: str) -> InlineQueryResultArticle:
    header = f"<b>{escape(shorten(answer.question, 300))}</b>"
    limit = TELEGRAM_LIMIT - visible_length(header) - 1
    body = answer_messages(answer, group=True, limit=limit)[0].html
    return InlineQueryResultArticle(
        id=result_id,
        title=shorten(wording.title_of(title), INLINE_TITLE_LIMIT),
        description=shorten(wording.title_of(description), INLINE_TITLE_LIMIT),
        input_message_content=InputTextMessageContent(f"{header}\n{body}"),
    )


def inline_button(answer: Answer) -> InlineQueryResultsButton | None:
    """Over the results of someone with no articles: a button into the private chat, where they add some
    (it opens with /start)."""
    if answer.reason != "empty_collection":
        return None
    return InlineQueryResultsButton(text="Add articles in our private chat", start_parameter="inline")
