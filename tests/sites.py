"""A small fake web site for tests: a real HTTP server on 127.0.0.1 whose pages a test declares.

Real sockets (rather than `httpx.MockTransport`) so that timeouts, streaming, Content-Length and
compression go through the same code as in production.

    with FakeSite() as site:
        url = site.route("/news", body="<html>...</html>")
        url = site.route("/old", status=301, redirect_to="/news")
        url = site.route("/slow", body=b"x" * 100, trickle_s=0.2)
"""

from __future__ import annotations

import gzip
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

__all__ = ["FakeSite", "Route"]


@dataclass
class Route:
    """What the server answers for one path.

    content_length: None = the true length; -1 = no Content-Length (body ends when the connection closes);
    any other number is sent as is, to lie about the size.
    """

    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    redirect_to: str | None = None
    delay_s: float = 0.0
    trickle_s: float | None = None
    trickle_forever: bool = False
    gzip: bool = False
    content_length: int | None = None


@dataclass
class Hit:
    """A request the site received, recorded so tests can check what the client sent."""

    path: str
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Do not wait for handler threads on close: a trickling handler ends when its client hangs up.
    block_on_close = False
    site: FakeSite


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        site = self.server.site
        path = self.path.split("?", 1)[0]
        site.hits.append(Hit(path=self.path, headers={k.lower(): v for k, v in self.headers.items()}))
        route = site.routes.get(path)
        if route is None:
            route = Route(status=404, body=b"<html><body><h1>Not found</h1></body></html>")
        if route.delay_s:
            time.sleep(route.delay_s)
        body = gzip.compress(route.body) if route.gzip else route.body
        try:
            self.send_response(route.status)
            if route.content_type is not None:
                self.send_header("Content-Type", route.content_type)
            if route.redirect_to is not None:
                self.send_header("Location", route.redirect_to)
            if route.gzip:
                self.send_header("Content-Encoding", "gzip")
            if route.content_length is None:
                self.send_header("Content-Length", str(len(body)))
            elif route.content_length >= 0:
                self.send_header("Content-Length", str(route.content_length))
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self._write_body(route, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, which is what several tests are about
        self.close_connection = True

    def _write_body(self, route: Route, body: bytes) -> None:
        if route.trickle_s is None:
            self.wfile.write(body)
            return
        chunks = iter(body) if not route.trickle_forever else _forever(body)
        for byte in chunks:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(route.trickle_s)


def _forever(body: bytes) -> Iterator[int]:
    deadline = time.monotonic() + 30  # a bound so a broken client cannot keep a thread alive for ever
    while time.monotonic() < deadline:
        yield from body or b" "


class FakeSite:
    """A threaded HTTP server on 127.0.0.1 (a free port) serving the routes a test registers."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: a server-side context to serve https (its SNI callback records the names asked for)."""
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self.sni_names: list[str | None] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.site = self
        self.scheme = "http"
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni_names.append(name)
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def route(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str | None = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        redirect_to: str | None = None,
        delay_s: float = 0.0,
        trickle_s: float | None = None,
        trickle_forever: bool = False,
        gzip: bool = False,
        content_length: int | None = None,
        encoding: str = "utf-8",
    ) -> str:
        """Register what `path` answers and return its full URL. `str` bodies are encoded with `encoding`."""
        data = body.encode(encoding) if isinstance(body, str) else body
        self.routes[path] = Route(
            status=status,
            body=data,
            content_type=content_type,
            headers=dict(headers or {}),
            redirect_to=redirect_to,
            delay_s=delay_s,
            trickle_s=trickle_s,
            trickle_forever=trickle_forever,
            gzip=gzip,
            content_length=content_length,
        )
        return self.url(path)

    def start(self) -> FakeSite:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> FakeSite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
