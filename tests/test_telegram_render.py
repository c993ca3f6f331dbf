"""bot.telegram.render: messages Telegram accepts (balanced HTML, at most 4096 visible units)."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from verbatim.bot.engine import QuoteContext, QuoteRef
from verbatim.bot.telegram import render
from verbatim.bot.telegram.render import (
    CALLBACK_DATA_LIMIT,
    TELEGRAM_LIMIT,
    answer_messages,
    context_blocks,
    decode_sources,
    encode_sources,
    pack,
    shorten,
    split_html,
    visible_length,
)
from verbatim.bot.wording import NO_ANSWER
from verbatim.index.models import Article, Sentence
from verbatim.retrieval.models import Answer, Citation

from tests.fake_telegram import parse_html, utf16_len


def visible(message: str) -> str:
    """What Telegram shows; raises like Telegram does for HTML it cannot parse."""
    return parse_html(message)[0]


def citation(
    n: int, text: str, title: str = "Harbour news", url: str | None = "https://example.org/a"
) -> Citation:
    return Citation(
        article_id=f"a{n}",
        title=title,
        url=url,
        start=0,
        end=len(text),
        text=text,
        score=0.9,
        ordinal=n,
        sentence_count=40,
        sentence_ids=(100 + n,),
    )


def answer_of(*citations: Citation) -> Answer:
    return Answer(
        question="q?",
        answered=True,
        reason="answered",
        answer=" … ".join(c.text for c in citations),
        citations=list(citations),
        confidence=0.9,
    )


# -- split_html -----------------------------------------------------------------------------------------


def test_short_html_is_one_message() -> None:
    message = "<b>Hi</b> &amp; <i>bye</i>"
    assert split_html(message) == [message]


def test_split_never_cuts_tags_or_entities_and_reopens_elements() -> None:
    body = html.escape('Fish & chips <cod> "quoted" 😀 ' * 40)
    message = f'<b>Title</b>\n<blockquote>{body}</blockquote>\n<a href="https://x.org/?a=1&amp;b=2">src</a>'
    for limit in (7, 20, 64, 333):
        parts = split_html(message, limit)
        assert len(parts) > 1
        shown = [visible(part) for part in parts]  # every part parses: no cut tag or entity
        assert all(utf16_len(text) <= limit for text in shown)
        # Nothing is lost but the whitespace at the cuts.
        assert "".join(shown).replace(" ", "").replace("\n", "") == visible(message).replace(" ", "").replace(
            "\n", ""
        )
    middle = split_html(message, 64)[1]
    assert middle.startswith("<blockquote>") and middle.endswith("</blockquote>")


def test_split_prefers_line_breaks() -> None:
    lines = [f"line {n} " + "x" * 50 for n in range(200)]
    parts = split_html("\n".join(lines), TELEGRAM_LIMIT)
    assert len(parts) > 1
    for part in parts:
        assert all(line.startswith("line ") for line in part.split("\n"))


def test_split_counts_utf16_units() -> None:
    parts = split_html("😀" * 3000)
    assert [utf16_len(p) for p in parts] == [4096, 6000 - 4096]


TOKENS = st.one_of(
    st.text(alphabet=st.sampled_from("ab c\n&<>\"'é😀"), min_size=1, max_size=12).map(html.escape),
    st.sampled_from(["<b>", "<i>", "<blockquote>", '<a href="https://a.org/?x=1&amp;y=2">']),
)


def balanced(pieces: list[tuple[str, bool]]) -> str:
    """Escaped text and opening tags, each tag closed right away or later: always well-formed."""
    out: list[str] = []
    stack: list[str] = []
    for token, close_one in pieces:
        if token.startswith("<"):
            name = token[1:].split(">")[0].split()[0]
            if name == "blockquote" and "blockquote" in stack:
                continue  # Telegram does not nest blockquotes
            stack.append(name)
        out.append(token)
        if stack and close_one:
            out.append(f"</{stack.pop()}>")
    out.extend(f"</{name}>" for name in reversed(stack))
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(TOKENS, st.booleans()), max_size=40).map(balanced), st.integers(2, 60))
def test_split_property(message: str, limit: int) -> None:
    for part in split_html(message, limit):
        text, entities = parse_html(part)
        assert text.strip() and utf16_len(text) <= limit
        assert all(e["length"] > 0 for e in entities)


def test_pack_joins_blocks_until_full() -> None:
    blocks = [f"<b>{n}</b> " + "y" * 1000 for n in range(10)]
    parts = pack(blocks)
    assert len(parts) == 3
    assert all(visible_length(p) <= TELEGRAM_LIMIT for p in parts)
    assert sum(p.count("<b>") for p in parts) == 10


def test_shorten() -> None:
    assert shorten("short", 10) == "short"
    cut = shorten("word " * 100, 50)
    assert cut.endswith("…") and utf16_len(cut) <= 50 and not cut[:-1].endswith(" ")
    assert utf16_len(shorten("😀" * 100, 11)) <= 11


# -- answers --------------------------------------------------------------------------------------------


def test_an_answer_that_fits_is_render_html_exactly() -> None:
    answer = answer_of(citation(1, "The pier closed."), citation(2, "Repairs cost 4.2 million euros."))
    [message] = answer_messages(answer)
    assert message.html == render.answer_html(answer)
    assert message.sources == (QuoteRef(101), QuoteRef(102))


def test_a_long_answer_is_split_between_quotes() -> None:
    # Characters outside the BMP count twice: each quote takes about 1,550 of the 4,096 units.
    text = ("Waves " + "🌊" * 40 + " hit the pier & the <quay>. ") * 30
    answer = answer_of(*(citation(n, text[:1000]) for n in (1, 2, 3)))
    assert visible_length(render.answer_html(answer)) > TELEGRAM_LIMIT
    messages = answer_messages(answer)
    assert [m.sources for m in messages] == [(QuoteRef(101), QuoteRef(102)), (QuoteRef(103),)]
    numbers = iter(range(1, 4))
    for message in messages:
        shown = visible(message.html)
        assert utf16_len(shown) <= TELEGRAM_LIMIT
        for ref in message.sources:
            n = next(numbers)
            assert f"{text[:1000].strip()} [{n}]" in shown and f"[{n}] Harbour news" in shown
            assert ref.sentence_id == 100 + n


def test_a_huge_quote_is_shortened_before_escaping() -> None:
    text = "&<>" * 3000  # escaping makes it 3.7 times longer; a cut entity would not parse
    [message] = answer_messages(answer_of(citation(1, text, title="T" * 5000)))
    shown = visible(message.html)
    assert utf16_len(shown) <= TELEGRAM_LIMIT
    quote = shown.split(" [1]")[0]
    assert quote.endswith("…") and text.startswith(quote[:-1])
    assert "[1] " + "T" * 100 in shown


def test_no_answer_and_empty_collection_say_how_to_add() -> None:
    refusal = Answer(question="q", answered=False, reason="no_match", answer="", citations=[], confidence=0.0)
    [none] = answer_messages(refusal)
    assert "couldn't find an answer" in visible(none.html) and none.sources == ()
    nothing_here = refusal.model_copy(update={"reason": "empty_collection"})
    [empty] = answer_messages(nothing_here)
    assert "no articles here yet" in visible(empty.html) and "/add" in visible(empty.html)
    [group] = answer_messages(nothing_here, group=True)
    assert "reply /add" in visible(group.html)


def test_a_refusal_that_came_close_shows_its_lead_shortened_to_fit() -> None:
    text = "&<>" * 3000
    lead = citation(1, text, title="T" * 5000)
    refusal = Answer(
        question="q", answered=False, reason="no_match", answer="", citations=[], confidence=0.3, closest=lead
    )
    [message] = answer_messages(refusal)
    shown = visible(message.html)
    assert utf16_len(shown) <= TELEGRAM_LIMIT
    assert shown.startswith("I couldn't find an answer") and "may not answer it" in shown
    quote = shown.split("\n")[2]
    assert quote.endswith("…") and text.startswith(quote[:-1])
    assert message.sources == (QuoteRef(101),)  # its context is one tap away
    short = refusal.model_copy(update={"closest": citation(1, "Tides <rose> & fell.")})
    assert short.closest is not None
    expected = f"{html.escape(NO_ANSWER)}\n{render.lead_html(short.closest)}"
    assert answer_messages(short)[0].html == expected  # shortened only when it would not fit


# -- the Sources button ---------------------------------------------------------------------------------


def test_sources_callback_data_round_trips_within_64_bytes() -> None:
    refs = [QuoteRef(12), QuoteRef(345, 2), QuoteRef(6789)]
    data = encode_sources(refs)
    assert data == "src:12,345+2,6789"
    assert decode_sources(data) == refs
    many = [QuoteRef(10**15 + n, 3) for n in range(10)]
    data = encode_sources(many)
    assert data is not None and len(data.encode()) <= CALLBACK_DATA_LIMIT
    assert decode_sources(data) == many[: len(decode_sources(data) or [])]
    assert encode_sources([]) is None
    for garbage in (None, "", "src:", "src:x", "src:1,,2", "other:1", "src:1+2+3"):
        assert decode_sources(garbage) is None


def test_context_shows_the_quote_between_its_neighbours() -> None:
    text = "First one. The <quoted> & cited one. Last one."
    article = Article(
        id="a1",
        collection="tg:1",
        title="Pier & quay",
        text=text,
        url="https://example.org/pier?a=1&b=2",
        added_at=datetime.now(UTC),
        sentence_count=3,
    )
    sentences = [
        Sentence(id=7 + n, article_id="a1", ordinal=n, paragraph=0, start=0, end=1, text=t)
        for n, t in enumerate(["First one.", "The <quoted> & cited one.", "Last one."])
    ]
    message = "\n\n".join(context_blocks([QuoteContext(article, sentences, frozenset({8}))], missing=1))
    shown, entities = parse_html(message)
    assert "Pier & quay · sentence 2 of 3" in shown
    assert "First one. The <quoted> & cited one. Last one." in shown
    bold = [shown[e["offset"] : e["offset"] + e["length"]] for e in entities if e["type"] == "bold"]
    assert "The <quoted> & cited one." in bold
    assert any(e.get("url") == "https://example.org/pier?a=1&b=2" for e in entities)
    assert "1 quoted article was deleted since." in shown
