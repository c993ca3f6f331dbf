"""index.web: fetching a stranger's link safely. Real sockets on 127.0.0.1, or httpx.MockTransport for
hops that must look public; never the network."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from verbatim.bot.settings import Settings
from verbatim.index import web
from verbatim.index.errors import FetchError
from verbatim.index.web import (
    decode_body,
    fetch_url,
    fetch_url_sync,
    is_public_address,
    parse_url,
    resolve_public_addresses,
)

from tests.sites import FakeSite

PAGE = "<html><head><title>T</title></head><body><p>Hello from the fake site.</p></body></html>"
PUBLIC_IP = "93.184.216.34"  # a global address; only ever "reached" through MockTransport


@pytest.fixture
def site() -> Iterator[FakeSite]:
    with FakeSite() as fake:
        yield fake


def open_settings(**overrides: Any) -> Settings:
    """Private addresses allowed: the fake site lives on 127.0.0.1."""
    values: dict[str, Any] = {
        "allow_private_urls": True,
        "fetch_timeout_s": 2.0,
        "fetch_max_bytes": 50_000,
        "fetch_max_redirects": 3,
    }
    return Settings(**{**values, **overrides})


def public_settings(**overrides: Any) -> Settings:
    return open_settings(allow_private_urls=False, **overrides)


def fetch_error(url: str, settings: Settings, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as err:
        fetch_url_sync(url, settings, **kwargs)
    assert "\n" not in str(err.value)  # one line, ready to show to the user
    return err.value


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Name -> addresses, answered instead of the system resolver; unknown names fail like NXDOMAIN."""
    table: dict[str, list[str]] = {}

    async def getaddrinfo(self: asyncio.AbstractEventLoop, host: str, port: int, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in table[host]
        ]

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", getaddrinfo)
    return table


# ---------------------------------------------------------------------------------------------------------
# A normal fetch


def test_fetches_a_page_with_browser_like_headers(site: FakeSite) -> None:
    url = site.route("/article", PAGE)
    page = fetch_url_sync(url, open_settings())
    assert (page.url, page.status, page.content_type) == (url, 200, "text/html")
    assert page.html == PAGE and page.raw == PAGE.encode()
    sent = site.hits[-1].headers
    assert sent["user-agent"] == Settings().user_agent
    assert "text/html" in sent["accept"]
    assert sent["accept-language"].startswith("en")


def test_async_fetch_and_gzip(site: FakeSite) -> None:
    url = site.route("/gz", PAGE, gzip=True)
    page = asyncio.run(fetch_url(url, open_settings()))
    assert page.html == PAGE


def test_fragment_is_dropped_and_query_kept(site: FakeSite) -> None:
    site.route("/q", PAGE)
    page = fetch_url_sync(site.url("/q?id=7#comments"), open_settings())
    assert page.url == site.url("/q?id=7")
    assert site.hits[-1].path == "/q?id=7"


# ---------------------------------------------------------------------------------------------------------
# Redirects


def test_redirect_chain_is_followed(site: FakeSite) -> None:
    final = site.route("/final", PAGE)
    site.route("/one", status=301, redirect_to="/two")  # relative
    site.route("/two", status=302, redirect_to="three")  # relative to the path
    site.route("/three", status=308, redirect_to=final)  # absolute
    page = fetch_url_sync(site.url("/one"), open_settings())
    assert page.url == final
    assert [h.path for h in site.hits] == ["/one", "/two", "/three", "/final"]


def test_too_many_redirects(site: FakeSite) -> None:
    for n in range(5):
        site.route(f"/r{n}", status=302, redirect_to=f"/r{n + 1}")
    site.route("/r5", PAGE)
    assert fetch_url_sync(site.url("/r2"), open_settings()).url == site.url("/r5")  # 3 redirects: fine
    err = fetch_error(site.url("/r0"), open_settings())  # 5 redirects, 3 allowed
    assert "redirected more than 3 times" in err.message
    site.route("/loop", status=307, redirect_to="/loop")
    assert "redirected more than" in fetch_error(site.url("/loop"), open_settings()).message


def test_redirect_without_location(site: FakeSite) -> None:
    url = site.route("/nowhere", status=302)
    assert "redirect without saying where" in fetch_error(url, open_settings()).message


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1/admin",
        "http://10.0.0.7/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[::ffff:192.168.0.1]/",
        "http://2130706433/",
        "http://localhost/",
    ],
)
def test_redirect_to_a_private_address_is_refused(target: str) -> None:
    """The first hop is public, so only the per-hop check can stop the second."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": target})

    err = fetch_error(f"http://{PUBLIC_IP}/story", public_settings(), transport=httpx.MockTransport(handler))
    assert "private or local network" in err.message
    assert len(seen) == 1


def test_redirect_to_another_scheme_is_refused() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(301, headers={"Location": "file:///etc/passwd"}))
    err = fetch_error(f"http://{PUBLIC_IP}/", public_settings(), transport=transport)
    assert "not file:" in err.message


# ---------------------------------------------------------------------------------------------------------
# Address policy


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",  # multicast: is_global says yes, we say no
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2001:db8::1",
    ],
)
def test_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_global_addresses_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_the_local_site_is_refused_unless_private_urls_are_allowed(site: FakeSite) -> None:
    url = site.route("/secret", PAGE)
    for blocked in [url, url.replace("127.0.0.1", "localhost"), url.replace("127.0.0.1", "2130706433")]:
        err = fetch_error(blocked, public_settings())
        assert "private or local network" in err.message
    assert site.hits == []  # refused before connecting
    assert fetch_url_sync(url, open_settings()).status == 200


def test_a_name_with_any_private_address_is_refused(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["mixed.example"] = [PUBLIC_IP, "10.0.0.1"]
    transport = httpx.MockTransport(lambda r: pytest.fail("must not connect"))
    err = fetch_error("https://mixed.example/x", public_settings(), transport=transport)
    assert "private or local network" in err.message


def test_connection_goes_to_the_checked_address(fake_dns: dict[str, list[str]]) -> None:
    """Pinning: the request is sent to the IP that was checked, with the name kept for Host and TLS SNI."""
    fake_dns["news.example"] = [PUBLIC_IP]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Content-Type": "text/html"}, content=PAGE.encode())

    page = fetch_url_sync(
        "https://news.example:8443/a?b=1", public_settings(), transport=httpx.MockTransport(handler)
    )
    assert page.url == "https://news.example:8443/a?b=1"
    (request,) = seen
    assert request.url.host == PUBLIC_IP and request.url.port == 8443
    assert request.headers["host"] == "news.example:8443"
    assert request.extensions["sni_hostname"] == "news.example"


def test_next_checked_address_is_tried_when_one_is_unreachable(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["news.example"] = ["2606:2800:220:1::1", PUBLIC_IP]
    tried: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.host)
        if ":" in request.url.host:
            raise httpx.ConnectError("Network is unreachable", request=request)
        return httpx.Response(200, headers={"Content-Type": "text/html"}, content=PAGE.encode())

    page = fetch_url_sync("http://news.example/", public_settings(), transport=httpx.MockTransport(handler))
    assert page.html == PAGE
    assert tried == ["2606:2800:220:1::1", PUBLIC_IP]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name news.test, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=news.test",
         "-addext", "subjectAltName=DNS:news.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_goes_to_the_checked_address_and_verifies_the_name(
    certificate: tuple[Path, Path], fake_dns: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real TLS: the socket goes to the pinned IP while SNI, certificate check and Host use the name."""
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(web, "_ssl_context", lambda: client_tls)
    # The fake site is on 127.0.0.1; let the policy pass it so the pinned path runs for real.
    monkeypatch.setattr(web, "is_public_address", lambda ip: True)
    fake_dns["news.test"] = ["127.0.0.1"]
    fake_dns["other.test"] = ["127.0.0.1"]
    with FakeSite(tls=server_tls) as site:
        site.route("/x", PAGE)
        page = fetch_url_sync(f"https://news.test:{site.port}/x", public_settings())
        assert page.url == f"https://news.test:{site.port}/x" and page.html == PAGE
        assert site.sni_names == ["news.test"]
        assert site.hits[-1].headers["host"] == f"news.test:{site.port}"
        # Same IP, a name the certificate does not cover: verification fails.
        err = fetch_error(f"https://other.test:{site.port}/x", public_settings())
        assert err.message == "I couldn't make a secure connection to other.test (TLS/certificate problem)."


def test_dns_failure(fake_dns: dict[str, list[str]]) -> None:
    err = fetch_error("https://no-such-site.example/", public_settings())
    assert err.message == "I couldn't find the site no-such-site.example (DNS lookup failed)."


def test_resolver_refuses_literal_private_ip() -> None:
    with pytest.raises(FetchError):
        asyncio.run(resolve_public_addresses("169.254.169.254", 80))


# ---------------------------------------------------------------------------------------------------------
# URL checks


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("file:///etc/passwd", "not file:"),
        ("ftp://ftp.example.com/a.txt", "not ftp:"),
        ("javascript:alert(1)", "not javascript:"),
        ("data:text/html,<p>hi</p>", "not data:"),
        ("gopher://example.com/", "not gopher:"),
        ("http://user:secret@example.com/", "user name or password"),
        ("https://example.com@10.0.0.1/", "user name or password"),
        ("example.com/news", "no http:// or https://"),
        ("", "doesn't look like a web address"),
        ("http://exa mple.com/", "doesn't look like a web address"),
        ("http:///path", "no site name"),
        ("http://0177.0.0.1/", "doesn't look like a web address"),
        ("http://exa%20mple.com/", "not valid"),
    ],
)
def test_bad_urls_are_refused(url: str, fragment: str) -> None:
    with pytest.raises(FetchError) as err:
        parse_url(url)
    assert fragment in err.value.message
    assert fragment in fetch_error(url, open_settings()).message


# ---------------------------------------------------------------------------------------------------------
# Time and size limits


def test_trickling_server_is_cut_off_by_the_total_deadline(site: FakeSite) -> None:
    # One byte every 50 ms never trips a read timeout; only the overall deadline stops it.
    url = site.route("/trickle", PAGE, trickle_s=0.05, trickle_forever=True)
    start = time.monotonic()
    err = fetch_error(url, open_settings(fetch_timeout_s=0.5))
    assert time.monotonic() - start < 1.5
    assert err.message == "127.0.0.1 took too long to answer (over 0.5 s)."


def test_slow_headers_time_out(site: FakeSite) -> None:
    url = site.route("/sleepy", PAGE, delay_s=1.0)
    start = time.monotonic()
    assert "took too long" in fetch_error(url, open_settings(fetch_timeout_s=0.3)).message
    assert time.monotonic() - start < 1.0


def test_declared_oversize_is_refused_before_reading(site: FakeSite) -> None:
    # Content-Length says 1 GB (the body is tiny): refused on the header alone.
    url = site.route("/huge", "tiny", content_length=1_000_000_000)
    assert fetch_error(url, open_settings()).message == "That page is larger than 50 kB, the most I read."


def test_undeclared_oversize_is_refused_while_streaming(site: FakeSite) -> None:
    url = site.route("/endless", "x" * 200_000, content_length=-1)  # no Content-Length at all
    assert "larger than 50 kB" in fetch_error(url, open_settings()).message


def test_compression_bomb_is_refused(site: FakeSite) -> None:
    # An honest Content-Length of about 10 kB that inflates to 10 MB.
    url = site.route("/bomb", b"\0" * 10_000_000, gzip=True, content_type="text/html")
    assert len(gzip.compress(b"\0" * 10_000_000)) < 50_000
    assert "larger than 50 kB" in fetch_error(url, open_settings()).message


def test_understated_content_length_does_not_overread(site: FakeSite) -> None:
    # A lie the other way: 10 bytes announced, 200 kB sent. Only what was announced is read.
    url = site.route("/liar", "<p>" + "x" * 200_000, content_length=10)
    page = fetch_url_sync(url, open_settings())
    assert len(page.raw) == 10


# ---------------------------------------------------------------------------------------------------------
# Statuses and content types


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (404, "The site answered 404 Not Found."),
        (410, "The site answered 410 Gone."),
        (403, "The site answered 403 Forbidden."),
        (500, "The site answered 500 Internal Server Error."),
        (503, "The site answered 503 Service Unavailable."),
    ],
)
def test_http_errors_are_reported(site: FakeSite, status: int, text: str) -> None:
    url = site.route("/err", "<h1>error</h1>", status=status)
    err = fetch_error(url, open_settings())
    assert err.message == text
    assert err.hint


@pytest.mark.parametrize("content_type", ["application/pdf", "image/png", "application/json", "video/mp4"])
def test_wrong_content_type_is_refused(site: FakeSite, content_type: str) -> None:
    url = site.route("/file", b"%PDF-1.7 \x00\x01", content_type=content_type)
    err = fetch_error(url, open_settings())
    assert err.message == f"That link is not a web page: the site sent a {content_type} file."


def test_missing_content_type_is_sniffed(site: FakeSite) -> None:
    png = site.route("/img", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", content_type=None)
    assert "binary file" in fetch_error(png, open_settings()).message
    html = site.route("/page", PAGE, content_type=None)
    assert fetch_url_sync(html, open_settings()).content_type == "text/html"


@pytest.mark.parametrize("content_type", ["application/xhtml+xml; charset=utf-8", "text/plain", "TEXT/HTML"])
def test_accepted_content_types(site: FakeSite, content_type: str) -> None:
    url = site.route("/ok", PAGE, content_type=content_type)
    page = fetch_url_sync(url, open_settings())
    assert page.content_type == content_type.split(";")[0].lower()
    assert page.is_plain_text == (page.content_type == "text/plain")


def test_connection_refused() -> None:
    with socket.socket() as sock:  # a port that was just free: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    err = fetch_error(f"http://127.0.0.1:{port}/", open_settings())
    assert err.message == "I couldn't connect to 127.0.0.1 (connection refused)."


# ---------------------------------------------------------------------------------------------------------
# Decoding


def test_declared_latin1_is_read_as_windows_1252(site: FakeSite) -> None:
    text = "Caf\u00e9 \u2019quoted\u2019 \u2014 na\u00efve"
    url = site.route("/l1", f"<p>{text}</p>", content_type="text/html; charset=ISO-8859-1", encoding="cp1252")
    page = fetch_url_sync(url, open_settings())
    assert page.html == f"<p>{text}</p>" and page.encoding == "cp1252"


def test_meta_charset_is_used_when_header_has_none(site: FakeSite) -> None:
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    html += "</head><body><p>Fa\u00e7ade \u20ac5</p></body></html>"
    url = site.route("/meta", html, content_type="text/html", encoding="cp1252")
    assert "Fa\u00e7ade \u20ac5" in fetch_url_sync(url, open_settings()).html


@pytest.mark.parametrize(
    ("raw", "declared", "expected"),
    [
        ("caf\u00e9".encode(), None, "caf\u00e9"),
        (b"\xef\xbb\xbfcaf\xc3\xa9", "iso-8859-1", "caf\u00e9"),  # a BOM beats the header
        ("caf\u00e9".encode("cp1252"), None, "caf\u00e9"),  # unlabelled legacy text
        (b"caf\xc3\xa9 \xff na\xc3\xafve", None, "caf\u00e9 \ufffd na\u00efve"),  # UTF-8 with one bad byte
        ("caf\u00e9".encode(), "no-such-charset", "caf\u00e9"),
        (b"<meta charset=utf-16><p>hi</p>", None, "<meta charset=utf-16><p>hi</p>"),
        (b"\x80\x81\xfe\xff\x00", "utf-8", "\ufffd\ufffd\ufffd\ufffd\x00"),  # never raises
    ],
)
def test_decode_body(raw: bytes, declared: str | None, expected: str) -> None:
    assert decode_body(raw, declared)[0] == expected
