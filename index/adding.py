"""What adding articles means, whatever stores them: checking a draft against the limits, planning a
chunk of drafts (duplicates, a full collection), embedding their sentences, reporting results in order,
and finding an article by its list number or id. `index.library` (SQLite + FAISS) and `index.postgres`
both add through here, so they accept, refuse and deduplicate alike."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from verbatim.index.embedder import Embedder
from verbatim.index.errors import CollectionFullError, InputError, NotFoundError
from verbatim.index.models import Article, ArticleDraft, ArticleSummary, Span
from verbatim.index.segment import split_sentences
from verbatim.index.storage import AddResult
from verbatim.index.store import article_id_for, id_taken, text_fingerprint

# Articles embedded together: big enough to keep the model's batches full, small enough that a
# progress bar moves and memory stays flat (a chunk also ends once it holds this many sentences).
ADD_CHUNK_ARTICLES = 32
ADD_CHUNK_SENTENCES = 16_384
# Characters of text a call to the embedder gets. The model's memory grows with its batch times the
# sentence length (squared, in attention): 64 sentences of 1,000 characters (256 tokens) took 570 MB
# above the model's own, 16 took 120 MB and ran no slower. Sentences go shortest first, so each call
# holds sentences of about one length (little padding) and short ones still fill whole batches.
EMBED_CALL_CHARS = 16_000
# The defaults of VERBATIM_MAX_ARTICLE_CHARS, _MAX_ARTICLE_SENTENCES and _MAX_COLLECTION_SENTENCES.
MAX_ARTICLE_CHARS = 1_000_000
MAX_ARTICLE_SENTENCES = 5_000
MAX_COLLECTION_SENTENCES = 2_000_000
_LIST_NUMBER = re.compile(r"#?([0-9]+)")


@dataclass(frozen=True)
class Limits:
    max_article_chars: int = MAX_ARTICLE_CHARS
    max_article_sentences: int = MAX_ARTICLE_SENTENCES
    max_collection_sentences: int = MAX_COLLECTION_SENTENCES


@dataclass
class Prepared:
    draft: ArticleDraft
    article_id: str
    text_hash: str
    spans: list[Span]


def prepare(draft: ArticleDraft, limits: Limits) -> Prepared:
    """The draft split into sentences, or an `InputError` saying why it cannot be added."""
    if not draft.text.strip():
        raise InputError("The article is empty.")
    if len(draft.text) > limits.max_article_chars:
        raise InputError(
            f"The article is too long ({len(draft.text):,} characters; the limit is"
            f" {limits.max_article_chars:,}).",
            "Split it into smaller articles or raise VERBATIM_MAX_ARTICLE_CHARS.",
        )
    # Splitting stops one sentence past the limit: an article of a million one-word lines costs
    # no more than one just over it.
    spans = split_sentences(draft.text, limit=limits.max_article_sentences)
    if not spans:
        raise InputError("The article has no sentences in it.")
    if len(spans) > limits.max_article_sentences:
        raise InputError(
            f"The article has more than {limits.max_article_sentences:,} sentences (lines count as"
            " sentences); that is the limit for one article.",
            "Split it into smaller articles or raise VERBATIM_MAX_ARTICLE_SENTENCES.",
        )
    return Prepared(draft, draft.id or article_id_for(draft.text), text_fingerprint(draft.text), spans)


def collection_full(held: int, adding: int, limits: Limits) -> CollectionFullError:
    return CollectionFullError(
        f"This collection is full: it holds {held:,} sentences, and this article's {adding:,} would"
        f" take it past the limit of {limits.max_collection_sentences:,}.",
        "Delete articles, use another collection, or raise VERBATIM_MAX_COLLECTION_SENTENCES.",
    )


def chunks(drafts: Iterable[ArticleDraft], limits: Limits) -> Iterator[list[Prepared] | InputError]:
    """The drafts prepared, in chunks to embed together; a draft that cannot be added comes as its
    error, after the chunk before it, and ends the run."""
    chunk: list[Prepared] = []
    sentences = 0
    for draft in drafts:
        try:
            prepared = prepare(draft, limits)
        except InputError as exc:
            if chunk:
                yield chunk
            yield exc
            return
        chunk.append(prepared)
        sentences += len(prepared.spans)
        if len(chunk) >= ADD_CHUNK_ARTICLES or sentences >= ADD_CHUNK_SENTENCES:
            yield chunk
            chunk, sentences = [], 0
    if chunk:
        yield chunk


FindDuplicate = Callable[[Prepared], Article | None]


@dataclass
class Plan:
    """What a chunk needs: the articles to write (`todo`), and every draft's result in order: known
    (a stored copy) or one of `todo` (True: its first copy in the chunk, False: a repeat)."""

    todo: list[Prepared] = field(default_factory=list)
    results: list[AddResult | tuple[Prepared, bool]] = field(default_factory=list)
    error: BaseException | None = None  # the draft the plan stopped at


def plan(chunk: Sequence[Prepared], find_duplicate: FindDuplicate, held: int, limits: Limits) -> Plan:
    """Which drafts of `chunk` are new, up to the first that cannot be added (an id taken by another
    text, a collection that would be full): that one and those after it are left out."""
    out = Plan()
    seen: dict[str, Prepared] = {}  # text hash -> the article of this chunk with that text
    seen_ids: set[str] = set()
    for prepared in chunk:
        try:
            existing = find_duplicate(prepared)
            if existing is not None:
                out.results.append(AddResult(existing, created=False))
                continue
            if prepared.text_hash in seen:
                out.results.append((seen[prepared.text_hash], False))  # the same text twice in a chunk
                continue
            if prepared.article_id in seen_ids:
                raise id_taken(prepared.article_id)
            if held + len(prepared.spans) > limits.max_collection_sentences:
                raise collection_full(held, len(prepared.spans), limits)
        except (InputError, CollectionFullError) as exc:
            out.error = exc
            break
        held += len(prepared.spans)
        seen[prepared.text_hash] = prepared
        seen_ids.add(prepared.article_id)
        out.todo.append(prepared)
        out.results.append((prepared, True))
    return out


def results(
    chunk_plan: Plan, added: dict[str, AddResult], error: BaseException | None
) -> Iterator[AddResult]:
    """The chunk's results in order, up to the first article not written; then its error, if any."""
    for item in chunk_plan.results:
        if isinstance(item, AddResult):
            yield item
            continue
        prepared, first = item
        result = added.get(prepared.text_hash)
        if result is None:
            break  # the article whose commit failed: the error below is about it
        yield result if first else AddResult(result.article, created=False)
    error = error or chunk_plan.error
    if error is not None:
        raise error


def embed_sentences(embedder: Embedder, todo: Sequence[Prepared], dim: int) -> np.ndarray:
    """Every sentence's vector, in order, embedded shortest first in calls of EMBED_CALL_CHARS at most."""
    texts = [p.draft.text[s.start : s.end] for p in todo for s in p.spans]
    out = np.empty((len(texts), dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    start = 0
    while start < len(order):
        end, size = start + 1, len(texts[order[start]])
        while end < len(order) and size + len(texts[order[end]]) <= EMBED_CALL_CHARS:
            size += len(texts[order[end]])
            end += 1
        rows = order[start:end]
        out[rows] = embedder.embed([texts[i] for i in rows]).reshape(len(rows), dim)
        start = end
    return out


def resolve(
    ref: str,
    list_articles: Callable[[], list[ArticleSummary]],
    get_article: Callable[[str], ArticleSummary | None],
) -> ArticleSummary:
    """An article by its number in `list` (1-based; `3` or `#3`), or by id: `id:…`, or any ref that
    is not all digits. A number is always a list number, so an all-digit id needs the `id:` prefix."""
    ref = ref.strip()
    if ref[:3].lower() == "id:":
        return _by_id(ref[3:].strip(), get_article)
    number = _LIST_NUMBER.fullmatch(ref)
    if number is None:
        return _by_id(ref, get_article)
    articles = list_articles()
    n = int(number.group(1))
    if 1 <= n <= len(articles):
        return articles[n - 1]
    hint = "See the list."
    if get_article(number.group(1)) is not None:
        hint = f"For the article whose id is {number.group(1)}, write id:{number.group(1)}."
    raise NotFoundError(
        f"There is no article number {number.group(1)}; the collection holds {len(articles)}.", hint
    )


def _by_id(article_id: str, get_article: Callable[[str], ArticleSummary | None]) -> ArticleSummary:
    article = get_article(article_id) if article_id else None
    if article is None:
        raise NotFoundError(
            f"No article with the id {article_id!r} in this collection.",
            "See the list for ids and numbers.",
        )
    return article
