"""A fake engine for the bot's handler tests: real behaviour, simplified, and no model.

In the spirit of simonw/llm's EmbedDemo: it does the work for real, only crudely. Articles are kept in
memory and split into sentences as the library splits them; a question is answered by quoting the
first sentence that holds its longest word, verbatim and with the sentence's id, so the Sources
button works; links are "fetched" without any network. Every call is recorded in `calls`, and
`failures` makes a method raise, for the error paths.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from verbatim.bot.engine import QuoteContext, QuoteRef
from verbatim.bot.settings import Settings
from verbatim.bot.sources import DraftSource, FileSource, LinkSource, Source, TextSource, UploadSource
from verbatim.index.errors import InputError, NotFoundError
from verbatim.index.ingest import draft_from_bytes, draft_from_file, draft_from_text
from verbatim.index.models import Article, ArticleDraft, ArticleSummary, Sentence
from verbatim.index.segment import split_sentences
from verbatim.index.storage import AddResult
from verbatim.index.store import article_id_for, text_fingerprint
from verbatim.retrieval.answer import refusal
from verbatim.retrieval.models import Answer, Citation

LINKED_TITLE = "North pier to close after storm damage"
# What every link "holds": a page about the north pier (a URL containing "broken" cannot be fetched).
LINKED_TEXT = (
    f"{LINKED_TITLE}\n"
    "The harbour authority voted on Tuesday to close the old north pier to all traffic. "
    "Repairs will cost about 4.2 million euros and take two years.\n"
    "A public meeting on the repair plans will be held at the town hall on 14 March."
)

_WORD = re.compile(r"\w+")


class FakeEngine:
    """`bot.telegram.handlers.EngineLike` without a model: one in-memory list of articles a collection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        # A method's name -> the exception it raises (an engine failing in a way nobody expected).
        self.failures: dict[str, Exception] = {}
        self._articles: dict[str, list[Article]] = {}
        self.sentences: dict[str, list[Sentence]] = {}  # article id -> its sentences, in order
        self._next_sentence_id = 1
        self._lock = threading.Lock()  # handlers call in from worker threads
        # Awaited by `draft_async` before it drafts: a test makes a fetch slow (or waits on an event).
        self.before_draft: Callable[[Source], Awaitable[None]] | None = None

    def called(self, method: str) -> list[tuple[Any, ...]]:
        """The arguments of each call to `method`, oldest first."""
        return [args for name, args in self.calls if name == method]

    def _record(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        if method in self.failures:
            raise self.failures[method]

    # -- EngineLike ---------------------------------------------------------------------------------

    def warm_up(self) -> None:
        self._record("warm_up")

    def ask(self, collection: str, question: str) -> Answer:
        self._record("ask", collection, question)
        question = " ".join(question.split())
        if not question:
            return refusal(question, "empty_question")
        articles = self._articles.get(collection, [])
        if not articles:
            return refusal(question, "empty_collection")
        longest = max(_WORD.findall(question.casefold()), key=len, default="")
        for article in articles:
            for sentence in self.sentences[article.id]:
                if longest and longest in _WORD.findall(sentence.text.casefold()):
                    citation = _citation(article, sentence)
                    return Answer(
                        question=question,
                        answered=True,
                        reason="answered",
                        answer=citation.text,
                        citations=[citation],
                        confidence=1.0,
                    )
        return refusal(question, "no_match")

    async def draft_async(self, source: Source) -> ArticleDraft:
        self._record("draft_async", source)
        if self.before_draft is not None:
            await self.before_draft(source)
        return self._draft(source)

    def add(self, collection: str, source: Source | ArticleDraft) -> AddResult:
        self._record("add", collection, source)
        draft = source if isinstance(source, ArticleDraft) else self._draft(source)
        with self._lock:
            articles = self._articles.setdefault(collection, [])
            fingerprint = text_fingerprint(draft.text)
            for article in articles:
                same_url = draft.url is not None and article.url == draft.url
                if same_url or text_fingerprint(article.text) == fingerprint:
                    return AddResult(article, created=False)
            article, sentences = self._split(collection, draft)
            articles.append(article)
            self.sentences[article.id] = sentences
        return AddResult(article, created=True)

    def list_articles(self, collection: str) -> list[ArticleSummary]:
        self._record("list_articles", collection)
        return [_summary(a) for a in self._articles.get(collection, [])]

    def delete(self, collection: str, ref: str) -> ArticleSummary:
        """By the number `list_articles` gives it (1-based), or by id (`id:…`, or any ref that is not all
        digits), as the library takes it."""
        self._record("delete", collection, ref)
        ref = ref.strip()
        with self._lock:
            articles = self._articles.get(collection, [])
            number = ref.removeprefix("#")
            if ref[:3].lower() != "id:" and number.isascii() and number.isdigit():
                if not 1 <= int(number) <= len(articles):
                    raise NotFoundError(
                        f"There is no article number {number}; the collection holds {len(articles)}.",
                        "See the list.",
                    )
                found: Article | None = articles[int(number) - 1]
            else:
                wanted = ref[3:].strip() if ref[:3].lower() == "id:" else ref
                found = next((a for a in articles if a.id == wanted), None)
            if found is None:
                raise NotFoundError(
                    f"No article with the id {wanted!r} in this collection.",
                    "See the list for ids and numbers.",
                )
            articles.remove(found)
            del self.sentences[found.id]
        return _summary(found)

    def move_collection(self, old: str, new: str) -> int:
        """As the library does it: `old`'s articles join `new`'s (one copy of each), in the order added."""
        self._record("move_collection", old, new)
        with self._lock:
            if old == new or not self._articles.get(old):
                return 0
            target = self._articles.setdefault(new, [])
            moved = 0
            for article in self._articles.pop(old):
                fingerprint = text_fingerprint(article.text)
                if any(a.id == article.id or text_fingerprint(a.text) == fingerprint for a in target):
                    if all(a.id != article.id for a in target):  # sentences are kept by article id
                        del self.sentences[article.id]
                    continue
                target.append(article.model_copy(update={"collection": new}))
                moved += 1
            target.sort(key=lambda a: a.added_at)
        return moved

    def context(self, collection: str, refs: Sequence[QuoteRef]) -> list[QuoteContext]:
        """Each quote with the sentence before and after it; quotes whose article is gone are left out."""
        self._record("context", collection, tuple(refs))
        by_id = {s.id: (a, s) for a in self._articles.get(collection, []) for s in self.sentences[a.id]}
        contexts = []
        for ref in refs:
            if ref.sentence_id not in by_id:
                continue
            article, first = by_id[ref.sentence_id]
            last = first.ordinal + ref.extra
            around = [s for s in self.sentences[article.id] if first.ordinal - 1 <= s.ordinal <= last + 1]
            cited = frozenset(s.id for s in around if first.ordinal <= s.ordinal <= last)
            contexts.append(QuoteContext(article, around, cited))
        return contexts

    # -- helpers ------------------------------------------------------------------------------------

    def _draft(self, source: Source) -> ArticleDraft:
        limit = self.settings.max_article_chars
        match source:
            case TextSource(text, origin):
                return draft_from_text(text, max_chars=limit, source=origin)
            case UploadSource(data, name):
                return draft_from_bytes(data, name, max_chars=limit, source="file")
            case FileSource(path):
                return draft_from_file(path, max_chars=limit)
            case DraftSource(draft):
                return draft
            case LinkSource(url):
                if "broken" in url:
                    raise InputError(f"Could not fetch {url}: the page is broken.", "Check the link.")
                return ArticleDraft(text=LINKED_TEXT, title=LINKED_TITLE, url=url, source="url")
        raise TypeError(f"not a source: {source!r}")

    def _split(self, collection: str, draft: ArticleDraft) -> tuple[Article, list[Sentence]]:
        article_id = draft.id or article_id_for(draft.text)
        sentences = []
        for ordinal, span in enumerate(split_sentences(draft.text)):
            sentences.append(
                Sentence(
                    id=self._next_sentence_id,
                    article_id=article_id,
                    ordinal=ordinal,
                    paragraph=span.paragraph,
                    start=span.start,
                    end=span.end,
                    text=draft.text[span.start : span.end],
                )
            )
            self._next_sentence_id += 1
        article = Article.from_draft(
            draft,
            id=article_id,
            collection=collection,
            added_at=datetime.now(UTC),
            sentence_count=len(sentences),
        )
        return article, sentences


def _citation(article: Article, sentence: Sentence) -> Citation:
    return Citation(
        article_id=article.id,
        title=article.title,
        url=article.url,
        start=sentence.start,
        end=sentence.end,
        text=article.text[sentence.start : sentence.end],
        score=1.0,
        ordinal=sentence.ordinal,
        sentence_count=article.sentence_count,
        published=article.published,
        sentence_ids=(sentence.id,),
    )


def _summary(article: Article) -> ArticleSummary:
    return ArticleSummary.model_validate(article.model_dump(exclude={"text"}))
