"""index.extract: a page becomes an article (body without the noise, metadata), or is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date

import pytest
from verbatim.bot.settings import Settings
from verbatim.index import extract
from verbatim.index.errors import FetchError
from verbatim.index.extract import (
    NO_ARTICLE,
    STUB_NOTICE,
    count_sentences,
    extract_article,
    extract_plain_text,
    fetch_article,
    fetch_article_sync,
    stub_phrase,
)

from tests.sites import FakeSite

PARAGRAPHS = [
    "The harbour authority in Porthaven voted on Tuesday to close the old north pier to all traffic after "
    "engineers found that storms had washed away much of the stone beneath its deck.",
    "The pier, built in 1887, has carried fishing boats and summer ferries for more than a century. An "
    "inspection in February found cracks up to forty centimetres wide along its seaward side.",
    "“We did not take this decision lightly,” said Marta Quell, who chairs the authority. “The engineers "
    "told us plainly that the structure could fail in the next serious storm.”",
    "Fishermen who moor at the pier will move to temporary berths at the south quay from next month. The "
    "authority estimates that repairs will cost about 4.2 million euros and take two years.",
    "Local businesses said they feared a summer without ferries. The café owner Ivo Brandt said that half "
    "of his customers arrive by boat and that he would ask the council for help with his rent.",
    "A public meeting on the repair plans will be held at the town hall on 14 March.",
]

NOISE = [
    "Subscribe to our newsletter for the best local stories",
    "Most read: Ten walks along the coast",
    "Copyright 2024 Porthaven Gazette. All rights reserved.",
    "This comment section is full of opinions about parking",
    "Sponsored: the best mattresses of the year",
]


def article_page(canonical: str = "https://www.porthaven-gazette.example/news/2024/03/05/north-pier") -> str:
    body = "\n".join(f"      <p>{p}</p>" for p in PARAGRAPHS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>North pier to close after storm damage | Porthaven Gazette</title>
  <meta property="og:title" content="North pier to close after storm damage">
  <meta name="author" content="Ada Lindqvist">
  <meta property="article:published_time" content="2024-03-05T08:30:00+00:00">
  <link rel="canonical" href="{canonical}">
  <link rel="stylesheet" href="/static/site.css">
  <script>window.dataLayer = [{{"page": "article"}}];</script>
</head>
<body>
  <header>
    <nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
    <li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li></ul></nav>
    <div class="promo">{NOISE[0]}</div>
  </header>
  <main>
    <article>
      <h1>North pier to close after storm damage</h1>
      <p class="byline">By <span class="author">Ada Lindqvist</span>,
        <time datetime="2024-03-05">5 March 2024</time></p>
{body}
    </article>
    <aside class="related"><h3>{NOISE[1]}</h3><ul><li><a href="/a">Harbour seals return</a></li>
      <li><a href="/b">New bakery opens</a></li></ul></aside>
    <section id="comments" class="comments">
      <h3>Comments</h3>
      <div class="comment"><p>{NOISE[3]}. I have been saying this for years and nobody listens.</p></div>
      <div class="comment"><p>Another reader writes that the pier was already unsafe in 2019.</p></div>
    </section>
    <div class="ad">{NOISE[4]}</div>
  </main>
  <footer><p>{NOISE[2]}</p><a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer>
</body>
</html>"""


@pytest.fixture
def site() -> Iterator[FakeSite]:
    with FakeSite() as fake:
        yield fake


@pytest.fixture
def settings() -> Settings:
    return Settings(allow_private_urls=True, fetch_timeout_s=2.0, fetch_max_bytes=200_000)


def check_body(text: str) -> None:
    for paragraph in PARAGRAPHS:
        assert paragraph in text
    for noise in NOISE:
        assert noise not in text
    assert "Home" not in text and "Privacy" not in text


def test_article_served_locally_is_extracted_with_metadata(site: FakeSite, settings: Settings) -> None:
    canonical = site.url("/news/2024/03/05/north-pier")
    url = site.route("/share/north-pier", article_page(canonical))
    draft = fetch_article_sync(url + "?utm_source=telegram", settings)
    assert draft.title == "North pier to close after storm damage"
    assert draft.author == "Ada Lindqvist"
    assert draft.published == date(2024, 3, 5)
    assert draft.url == canonical
    assert draft.source == "url"
    check_body(draft.text)
    # Paragraphs stay paragraphs, in order; the <h1> repeating the title is not body text.
    assert draft.text.split("\n\n") == PARAGRAPHS


def test_async_fetch_article(site: FakeSite, settings: Settings) -> None:
    url = site.route("/a", article_page())
    draft = asyncio.run(fetch_article(url, settings))
    check_body(draft.text)


def test_canonical_url_rules() -> None:
    page = article_page("https://www.porthaven-gazette.example/news/north-pier")
    # Same site (another subdomain, tracking parameters): the page's own canonical name wins.
    fetched = "https://amp.porthaven-gazette.example/news/north-pier?utm_source=x#top"
    assert extract_article(page, fetched).url == "https://www.porthaven-gazette.example/news/north-pier"
    # Another site may not claim to be the publisher: keep the address it was fetched from.
    assert extract_article(page, "https://copycat.example/p/1").url == "https://copycat.example/p/1"
    # Relative canonical resolves against the page; non-http canonicals are ignored.
    assert (
        extract_article(article_page("/news/pier"), "https://www.porthaven-gazette.example/x").url
        == "https://www.porthaven-gazette.example/news/pier"
    )
    assert (
        extract_article(article_page("javascript:alert(1)"), "https://a.example/x").url
        == "https://a.example/x"
    )
    # A saved file has no fetched address: its canonical is all there is.
    assert extract_article(page, "").url == "https://www.porthaven-gazette.example/news/north-pier"


def test_og_url_is_a_fallback_for_canonical() -> None:
    page = article_page().replace('<link rel="canonical"', '<link rel="alternate"')
    page = page.replace("<head>", '<head><meta property="og:url" content="https://news.example.org/pier">')
    assert extract_article(page, "https://m.news.example.org/pier?x=1").url == "https://news.example.org/pier"


def test_broken_html_is_still_extracted() -> None:
    # Unclosed <p>, <div>, <article> and <b>, a stray </span>, mismatched </i>, no </body></html>.
    paragraphs = "".join(f"<p>{p}" for p in PARAGRAPHS)
    html = (
        "<html><head><title>Pier closes</title><body><div class=page><article><h1>Pier closes</h1>"
        f"<div><b>{paragraphs}</span></i><div><p>"
    )
    draft = extract_article(html, "https://news.example.org/pier")
    for paragraph in PARAGRAPHS[:-1]:
        assert paragraph in draft.text
    assert draft.title == "Pier closes"


def test_windows_1252_page_is_decoded(site: FakeSite, settings: Settings) -> None:
    page = article_page().replace('<meta charset="utf-8">', "")
    url = site.route("/cp", page, content_type="text/html; charset=windows-1252", encoding="cp1252")
    draft = fetch_article_sync(url, settings)
    assert "The café owner Ivo Brandt" in draft.text
    assert "“We did not take this decision lightly,” said Marta Quell" in draft.text


def test_latin1_declared_in_meta_is_decoded(site: FakeSite, settings: Settings) -> None:
    page = article_page().replace('<meta charset="utf-8">', '<meta charset="iso-8859-1">')
    url = site.route("/latin1", page, content_type="text/html", encoding="cp1252")
    draft = fetch_article_sync(url, settings)
    assert "The café owner" in draft.text and "“We did not" in draft.text


@pytest.mark.parametrize(
    "body",
    [
        "",
        "<html><body></body></html>",
        '<html><body><div id="root"></div><noscript>You need to enable JavaScript to run this app.'
        "</noscript><script src=/app.js></script></body></html>",
        "<html><head><title>Error</title></head><body><h1>Oops</h1>"
        "<p>Something went wrong.</p></body></html>",
    ],
)
def test_pages_without_an_article_are_refused(body: str) -> None:
    with pytest.raises(FetchError) as err:
        extract_article(body, "https://news.example.org/x")
    assert err.value.message == NO_ARTICLE


def test_page_with_too_many_elements_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "MAX_ELEMENTS", 50)
    with pytest.raises(FetchError, match="too big and complex"):
        extract_article(article_page(), "https://news.example.org/pier")


def test_paywall_stub_is_refused(site: FakeSite, settings: Settings) -> None:
    stub = (
        "<html><head><title>Pier to close</title></head><body><article><h1>North pier to close</h1>"
        f"<p>{PARAGRAPHS[0]}</p><div class='paywall'><p>Subscribe to continue reading. Already a "
        "subscriber? Log in to read the full story. Get unlimited access for 1 euro a month.</p></div>"
        "</article></body></html>"
    )
    url = site.route("/paywalled", stub)
    with pytest.raises(FetchError) as err:
        fetch_article_sync(url, settings)
    assert err.value.message == STUB_NOTICE


def test_consent_wall_is_refused() -> None:
    wall = (
        "<html><body><div class='consent'><h2>We value your privacy</h2><p>We use cookies and similar "
        "technologies to personalise content and ads and to analyse our traffic. By clicking accept you "
        "agree to this. You can change your choices at any time in cookie settings. Please enable "
        "JavaScript to manage your privacy choices.</p><button>Accept</button></div></body></html>"
    )
    with pytest.raises(FetchError, match="notice instead of an article"):
        extract_article(wall, "https://news.example.org/x")


def test_long_article_that_mentions_subscribing_is_kept() -> None:
    page = article_page().replace(
        "</article>",
        "<p>Subscribe to continue supporting local journalism in Porthaven and beyond.</p></article>",
    )
    draft = extract_article(page, "https://news.example.org/pier")
    assert PARAGRAPHS[0] in draft.text


def test_plain_text_article() -> None:
    # Windows line ends, and hard-wrapped lines that must be joined again.
    text = "North pier to close\r\n\r\n" + "\n\n".join(
        p.replace(" after ", "\nafter ", 1) for p in PARAGRAPHS
    )
    draft = extract_plain_text(text, "https://news.example.org/pier.txt")
    assert draft.title == "North pier to close"
    assert draft.text.split("\n\n") == PARAGRAPHS
    assert draft.url == "https://news.example.org/pier.txt" and draft.source == "url"


def test_plain_text_page_served_as_text_plain(site: FakeSite, settings: Settings) -> None:
    url = site.route("/pier.txt", "\n\n".join(PARAGRAPHS), content_type="text/plain; charset=utf-8")
    draft = fetch_article_sync(url, settings)
    assert draft.text == "\n\n".join(PARAGRAPHS)
    assert draft.title == ""  # the first paragraph is a sentence, too long to read as a title


def test_text_mislabelled_as_html_is_read_as_plain_text(site: FakeSite, settings: Settings) -> None:
    url = site.route("/notes", "\n\n".join(PARAGRAPHS), content_type="text/html")
    assert fetch_article_sync(url, settings).text == "\n\n".join(PARAGRAPHS)


def test_plain_text_too_short_or_binary_is_refused() -> None:
    with pytest.raises(FetchError):
        extract_plain_text("Just a line.", "https://x.example/a.txt")
    with pytest.raises(FetchError, match="not readable text"):
        extract_plain_text("\x00\x01\x02garbage\ufffd\ufffd" * 50, "https://x.example/a.txt")


def test_fetch_errors_pass_through(site: FakeSite, settings: Settings) -> None:
    with pytest.raises(FetchError, match="404 Not Found"):
        fetch_article_sync(site.url("/missing"), settings)


def test_sentence_count_and_stub_phrases() -> None:
    assert count_sentences("One. Two! Three?") == 3
    assert count_sentences("One sentence without an end") == 1
    assert count_sentences("First “quoted.” Second") == 2
    assert count_sentences("Para one.\n\nPara two") == 2
    assert stub_phrase("Please enable JavaScript to continue.") == "enable javascript"
    assert stub_phrase("Teaser.\n\nSubscribe to continue reading.") == "subscribe to continue"
    assert stub_phrase("\n\n".join(PARAGRAPHS) + "\n\nSubscribe to continue our work.") is None
