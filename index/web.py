"""Fetching a page that a stranger linked: public http(s) addresses only, bounded in time and in size.

The bot fetches URLs that anyone can send it, so every hop of a fetch is treated as hostile input:

* only http and https, no credentials in the URL, at most `fetch_max_redirects` redirects, each checked again;
* every address the host name resolves to must be globally routable (no loopback, private, link-local,
  cloud metadata...), unless `allow_private_urls` says this is a private deployment;
* the connection goes to the very address that was checked (the URL is rewritten to the IP while the
  Host header and TLS SNI keep the name), so a DNS answer that changes between check and connect
  (DNS rebinding) cannot steer the request inside the network;
* one deadline covers the whole fetch, DNS and redirects included, so a server that trickles bytes is cut off;
* the body is read as a stream and decompressed by us with a bound, so neither a huge body nor a gzip bomb
  can fill memory.

Every failure is a `FetchError` whose message is one line that can be shown to the user as is.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import ipaddress
import re
import socket
import ssl
import zlib
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol

import httpx
from verbatim.index.errors import FetchError


class FetchSettings(Protocol):
    """The fetch limits this module needs; `bot.settings.Settings` provides them (the index layer does
    not depend on the front ends' settings class, only on these values)."""

    allow_private_urls: bool
    fetch_timeout_s: float
    fetch_max_bytes: int
    fetch_max_redirects: int
    user_agent: str


__all__ = [
    "FetchSettings",
    "FetchedPage",
    "decode_body",
    "fetch_url",
    "fetch_url_sync",
    "is_public_address",
    "parse_url",
    "resolve_public_addresses",
]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_URL_CHARS = 4096
# A host name as it travels on the wire (IDNA already applied by httpx); anything else, such as the
# percent-encoded space httpx lets through, is not a name DNS could answer for.
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:+-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:+-]+)""", re.IGNORECASE)
# Browsers decode these labels as windows-1252 (WHATWG Encoding Standard); servers say latin-1 and mean
# the curly quotes and dashes of 1252, which latin-1 would turn into invisible control characters.
_WINDOWS_1252_ALIASES = frozenset({"latin_1", "iso8859_1", "ascii", "cp1252"})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchedPage:
    """A page as the server sent it, after redirects: `html` is the decoded body (HTML or plain text)."""

    url: str
    status: int
    content_type: str
    html: str
    raw: bytes
    encoding: str = "utf-8"

    @property
    def is_plain_text(self) -> bool:
        return self.content_type in TEXT_TYPES


# ---------------------------------------------------------------------------------------------------------
# URL and address policy (pure)


def parse_url(url: str) -> httpx.URL:
    """Parse and check a URL that a user sent: http(s), a host, no credentials. Raises FetchError."""
    text = url.strip()
    if not text or len(text) > MAX_URL_CHARS or any(ch.isspace() for ch in text):
        raise FetchError("That doesn't look like a web address.", "Send a full link starting with https://.")
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise FetchError(
            "That doesn't look like a web address.", "Send a full link starting with https://."
        ) from None
    scheme = parsed.scheme.lower()
    if not scheme:
        raise FetchError("That link has no http:// or https:// in front.", f"Try https://{text}")
    if scheme not in ("http", "https"):
        raise FetchError(f"I can only fetch http:// and https:// links, not {scheme}: links.")
    if parsed.userinfo:
        raise FetchError("I don't fetch links that contain a user name or password.")
    host = parsed.raw_host.decode("ascii", "replace").lower()
    if not host:
        raise FetchError("That link has no site name in it.", "Send a full link starting with https://.")
    if _literal_ip(host) is None and not _HOST_NAME.match(host):
        raise FetchError(f"That link's site name is not valid: {parsed.host}")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise FetchError("That link's port number is not valid.")
    # The fragment never reaches the server; dropping it keeps the final URL canonical.
    return parsed.copy_with(fragment=None)


def is_public_address(ip: IPAddress) -> bool:
    """True when `ip` is globally routable: the only addresses a stranger's link may make us connect to."""
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that IPv4 host: judge the embedded address.
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None:
            return is_public_address(ip.sixtofour)
        if ip.teredo is not None or ip.is_site_local:
            return False
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _dns_error(host: str) -> FetchError:
    return FetchError(f"I couldn't find the site {host} (DNS lookup failed).", "Check the link for typos.")


async def resolve_public_addresses(host: str, port: int) -> list[str]:
    """Resolve `host` and return its addresses, refusing if ANY of them is not public.

    Refusing on any (rather than picking a public one) matters: a name that resolves to both a public and
    a private address is exactly what a rebinding attacker would publish.
    """
    literal = _literal_ip(host)
    if literal is not None:
        addresses: list[str] = [str(literal)]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise _dns_error(host) from None
        addresses = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            # getaddrinfo also normalises numeric forms (2130706433, 0x7f.1) into dotted addresses here.
            address = str(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise _dns_error(host)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not is_public_address(ip):
            raise FetchError(
                f"I won't fetch {host}: it points to a private or local network address.",
                "Only public web pages can be added.",
            )
    return addresses


# ---------------------------------------------------------------------------------------------------------
# Decoding (pure)


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    return "cp1252" if name.replace("-", "_") in _WINDOWS_1252_ALIASES else name


def decode_body(raw: bytes, declared_charset: str | None = None) -> tuple[str, str]:
    """Decode a page: BOM, then the declared charset, then `<meta charset>`, then UTF-8. Never raises."""
    for bom, bom_codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if raw.startswith(bom):
            return raw[len(bom) :].decode(bom_codec, "replace"), bom_codec
    name = _codec_name(declared_charset)
    if name is None:
        meta = _META_CHARSET.search(raw[:16384])
        name = _codec_name(meta.group(1).decode("ascii", "replace")) if meta else None
        # A meta tag that could be read as ASCII bytes cannot be UTF-16; WHATWG says to take UTF-8 then.
        if name is not None and name.startswith("utf-16"):
            name = "utf-8"
    if name is not None:
        return raw.decode(name, "replace"), name
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Unlabelled and not valid UTF-8: mostly-UTF-8 with a few bad bytes keeps UTF-8, otherwise it is almost
    # always legacy Western text, which browsers read as windows-1252.
    as_utf8 = raw.decode("utf-8", "replace")
    bad = as_utf8.count("\ufffd")
    good = sum(1 for ch in as_utf8 if ord(ch) > 127) - bad
    if good > bad:
        return as_utf8, "utf-8"
    return raw.decode("cp1252", "replace"), "cp1252"


def _media_type(header: str | None) -> tuple[str, str | None]:
    if not header:
        return "", None
    media = header.split(";", 1)[0].strip().lower()
    match = _CHARSET_PARAM.search(header)
    return media, match.group(1) if match else None


def _sniff_media_type(raw: bytes) -> str:
    """For a response without Content-Type: HTML or plain text if it looks like it, else binary."""
    head = raw[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<body" in head or b"<p" in head:
        return "text/html"
    if b"\x00" in raw[:4096] or head.startswith((b"%pdf", b"\x89png", b"gif8", b"\xff\xd8", b"pk\x03\x04")):
        return "application/octet-stream"
    return "text/plain"


def _human_bytes(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    if n >= 1_000:
        return f"{n / 1_000:g} kB"
    return f"{n} bytes"


# ---------------------------------------------------------------------------------------------------------
# Bounded decompression


class _BoundedDecoder:
    """Undo Content-Encoding chunk by chunk without ever producing more than `limit` bytes.

    httpx's own decoders inflate a whole network chunk at once (a 64 kB gzip chunk can become 60 MB), so
    the size cap would only be checked after memory was already spent.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.produced = 0
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        self._deflate_raw_fallback = False
        if not codings:
            self._inflater: zlib._Decompress | None = None
        elif codings in (["gzip"], ["x-gzip"]):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif codings == ["deflate"]:
            # "deflate" is zlib-wrapped by the spec, raw in some servers' practice: try one, then the other.
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS)
            self._deflate_raw_fallback = True
        else:
            raise FetchError(f"The site sent the page compressed as {encoding}, which I can't read.")

    def _count(self, data: bytes) -> bytes:
        self.produced += len(data)
        if self.produced > self.limit:
            raise _TooLargeError
        return data

    def feed(self, chunk: bytes) -> bytes:
        if self._inflater is None:
            return self._count(chunk)
        try:
            out = self._inflater.decompress(chunk, self.limit - self.produced + 1)
        except zlib.error:
            if not (self._deflate_raw_fallback and self.produced == 0):
                raise FetchError("The site sent a damaged compressed page.") from None
            self._deflate_raw_fallback = False
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._inflater.decompress(chunk, self.limit - self.produced + 1)
        self._deflate_raw_fallback = False
        if self._inflater.unconsumed_tail:
            raise _TooLargeError
        return self._count(out)

    def flush(self) -> bytes:
        if self._inflater is None:
            return b""
        try:
            return self._count(self._inflater.flush())
        except zlib.error:
            raise FetchError("The site sent a damaged compressed page.") from None


class _TooLargeError(Exception):
    """Internal: the body passed fetch_max_bytes; turned into a FetchError with the size in it."""


# ---------------------------------------------------------------------------------------------------------
# Fetching


def _request_headers(settings: FetchSettings) -> dict[str, str]:
    return {
        "User-Agent": settings.user_agent,
        "Accept": "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.8,*/*;q=0.1",
        "Accept-Language": "en;q=1.0, *;q=0.5",
        # Only what _BoundedDecoder can inflate with a bound.
        "Accept-Encoding": "gzip, deflate",
    }


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 8:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    return chain


def _is_tls_failure(exc: BaseException) -> bool:
    chain = _exception_chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    return any(isinstance(e, ssl.SSLError) for e in chain) or "certificate" in text or "ssl" in text


def _connect_error_message(host: str, exc: BaseException) -> FetchError:
    chain = _exception_chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    if _is_tls_failure(exc):
        return FetchError(f"I couldn't make a secure connection to {host} (TLS/certificate problem).")
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text:
        return FetchError(f"I couldn't connect to {host} (connection refused).")
    if any(isinstance(e, socket.gaierror) for e in chain) or "name or service" in text:
        return _dns_error(host)
    return FetchError(f"I couldn't connect to {host} (the site is unreachable).")


def _status_error(status: int) -> FetchError:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    hint = None
    if status in (401, 403, 451):
        hint = "The page may need a login, or the site blocks automated readers; paste the text instead."
    elif status in (404, 410):
        hint = "Check the link."
    elif status == 429 or status >= 500:
        hint = "Try again later."
    return FetchError(f"The site answered {status} {phrase}.", hint)


async def _send(
    client: httpx.AsyncClient, url: httpx.URL, headers: dict[str, str], settings: FetchSettings
) -> httpx.Response:
    """Send one GET for `url` (no redirects followed), connecting only to checked addresses."""
    host = url.raw_host.decode("ascii")
    if settings.allow_private_urls:
        request = client.build_request("GET", url, headers=headers)
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            raise _connect_error_message(host, exc) from exc
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await resolve_public_addresses(host, port)
    # Try each checked address in order (IPv6 first where the resolver says so), as a browser's
    # happy-eyeballs would: pinning to one address would break hosts whose first address is unreachable,
    # so with several addresses one silent address may only use up part of the deadline.
    timeout = httpx.Timeout(settings.fetch_timeout_s, connect=_connect_timeout(settings, len(addresses)))
    last: httpx.TransportError | None = None
    for address in addresses:
        pinned = url.copy_with(host=address)
        # Host keeps the name (virtual hosting); sni_hostname makes TLS send and verify the name, not the IP.
        pinned_headers = {**headers, "Host": url.netloc.decode("ascii")}
        request = client.build_request(
            "GET", pinned, headers=pinned_headers, timeout=timeout, extensions={"sni_hostname": host}
        )
        try:
            return await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            last = exc
            if _is_tls_failure(exc):
                break  # a certificate problem will not go away on another address
    if last is None:
        raise _dns_error(host)
    if isinstance(last, httpx.ConnectTimeout):
        raise last  # reported as a timeout by fetch_url
    raise _connect_error_message(host, last) from last


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The default verifying context, built once: loading the CA bundle costs ~20 ms a fetch otherwise."""
    return httpx.create_ssl_context()


def _connect_timeout(settings: FetchSettings, attempts: int = 1) -> float:
    """Connect timeout per attempt: 10 s at most, and a share of the deadline when there are several."""
    share = settings.fetch_timeout_s / 2 if attempts > 1 else settings.fetch_timeout_s
    return min(10.0, share)


async def _read_body(response: httpx.Response, settings: FetchSettings) -> bytes:
    if response.is_stream_consumed:
        # Only a response built in memory (httpx.MockTransport with bytes content) arrives already read.
        if len(response.content) > settings.fetch_max_bytes:
            raise _TooLargeError
        return response.content
    decoder = _BoundedDecoder(response.headers.get("content-encoding", ""), settings.fetch_max_bytes)
    parts: list[bytes] = []
    async for chunk in response.aiter_raw():
        parts.append(decoder.feed(chunk))
    parts.append(decoder.flush())
    return b"".join(parts)


async def _fetch(
    url: str, settings: FetchSettings, transport: httpx.AsyncBaseTransport | None
) -> FetchedPage:
    current = parse_url(url)
    headers = _request_headers(settings)
    # Per-operation limits catch a dead server early; the overall deadline in fetch_url catches a slow one.
    timeout = httpx.Timeout(settings.fetch_timeout_s, connect=_connect_timeout(settings))
    own_transport = transport is None
    if transport is None:
        # No keep-alive: a pooled connection is keyed by IP, and reusing one made for another host name
        # would send a request over TLS that was verified for a different name.
        transport = httpx.AsyncHTTPTransport(
            verify=_ssl_context(),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=0),
            retries=0,
        )
    # trust_env=False: no proxy variables and, above all, no ~/.netrc credentials sent to arbitrary hosts.
    async with httpx.AsyncClient(
        transport=transport, follow_redirects=False, timeout=timeout, trust_env=False
    ) as client:
        try:
            for hop in range(settings.fetch_max_redirects + 1):
                response = await _send(client, current, headers, settings)
                try:
                    if response.status_code in REDIRECT_STATUSES:
                        location = response.headers.get("location", "").strip()
                        if not location:
                            raise FetchError("The site sent a redirect without saying where to.")
                        try:
                            target = current.join(location)
                        except (httpx.InvalidURL, ValueError):
                            raise FetchError("The site redirected to an address that isn't valid.") from None
                        current = parse_url(str(target))
                        if hop == settings.fetch_max_redirects:
                            break
                        continue
                    return await _page_from_response(current, response, settings)
                finally:
                    await response.aclose()
        finally:
            if own_transport:
                await transport.aclose()
    raise FetchError(
        f"The link redirected more than {settings.fetch_max_redirects} times, so I stopped following it."
    )


async def _page_from_response(
    url: httpx.URL, response: httpx.Response, settings: FetchSettings
) -> FetchedPage:
    status = response.status_code
    if status >= 400:
        raise _status_error(status)
    if status < 200 or status >= 300:
        raise FetchError(f"The site answered {status} {response.reason_phrase or ''}".rstrip() + ".")
    media, charset = _media_type(response.headers.get("content-type"))
    if media and media not in HTML_TYPES and media not in TEXT_TYPES:
        raise FetchError(f"That link is not a web page: the site sent a {media} file.")
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > settings.fetch_max_bytes:
        raise FetchError(
            f"That page is larger than {_human_bytes(settings.fetch_max_bytes)}, the most I read.",
        )
    try:
        raw = await _read_body(response, settings)
    except _TooLargeError:
        raise FetchError(
            f"That page is larger than {_human_bytes(settings.fetch_max_bytes)}, the most I read.",
        ) from None
    if not media:
        media = _sniff_media_type(raw)
        if media not in HTML_TYPES and media not in TEXT_TYPES:
            raise FetchError("That link is a binary file, not a web page or text.")
    text, encoding = decode_body(raw, charset)
    return FetchedPage(url=str(url), status=status, content_type=media, html=text, raw=raw, encoding=encoding)


async def fetch_url(
    url: str, settings: FetchSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> FetchedPage:
    """Fetch `url` safely (see the module docstring) and return the decoded page. Raises FetchError only.

    `transport` replaces the network (tests pass an `httpx.MockTransport`); the URL and address checks
    still apply to it.
    """
    host = _display_host(url)
    try:
        async with asyncio.timeout(settings.fetch_timeout_s):
            return await _fetch(url, settings, transport)
    except FetchError:
        raise
    except (TimeoutError, httpx.TimeoutException):
        raise FetchError(
            f"{host} took too long to answer (over {settings.fetch_timeout_s:g} s).", "Try again later."
        ) from None
    except httpx.ConnectError as exc:
        raise _connect_error_message(host, exc) from exc
    except (httpx.TransportError, httpx.DecodingError, httpx.InvalidURL) as exc:
        raise FetchError(f"{host} sent a response I couldn't read.") from exc


def fetch_url_sync(
    url: str, settings: FetchSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> FetchedPage:
    """`fetch_url` for callers without an event loop (the CLI). Not for use inside a running loop."""
    return asyncio.run(fetch_url(url, settings, transport=transport))


def _display_host(url: str) -> str:
    try:
        return httpx.URL(url.strip()).host or "The site"
    except (httpx.InvalidURL, ValueError, TypeError):
        return "The site"
