"""How well a link becomes an article: the Zyte article-extraction pages through the real URL code path.

Each page's stored HTML is served from a local HTTP server (gzip-encoded, as the site sent it, with no
charset in Content-Type so the page's own declaration is what decodes it), added by URL with
`fetch_article` (allow_private_urls=True, since the server is on 127.0.0.1), and the extracted body is
compared with the human-annotated body: token-level precision, recall and F1 (lowercased, split on
non-word characters, bag of tokens with multiplicity, as the Zyte benchmark scores).

    .venv/bin/python -m bench.extraction [--limit N]

Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import re
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "eval" / "article-extraction"

_TOKEN = re.compile(r"\w+")


@dataclass
class Page:
    id: str
    url: str
    html_gz: bytes
    gold: str


@dataclass
class Result:
    page: Page
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    seconds: float = 0.0
    error: str | None = None
    has_title: bool = False
    has_author: bool = False
    has_date: bool = False


def tokens(text: str) -> Counter[str]:
    return Counter(_TOKEN.findall(text.lower()))


def score(gold: str, predicted: str) -> tuple[float, float, float]:
    """Token precision, recall, F1 of `predicted` against `gold` (bags of tokens, with multiplicity)."""
    gold_tokens, predicted_tokens = tokens(gold), tokens(predicted)
    overlap = sum((gold_tokens & predicted_tokens).values())
    precision = overlap / sum(predicted_tokens.values()) if predicted_tokens else 0.0
    recall = overlap / sum(gold_tokens.values()) if gold_tokens else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def load_pages(limit: int | None) -> list[Page]:
    pages = []
    with (DATA / "pages.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            pages.append(Page(row["id"], row["url"], (DATA / row["html"]).read_bytes(), row["text"]))
            if limit is not None and len(pages) >= limit:
                break
    return pages


def serve(pages: list[Page]) -> ThreadingHTTPServer:
    by_path = {f"/page/{p.id}": p for p in pages}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            page = by_path.get(self.path)
            if page is None:
                self.send_error(404)
                return
            gzip_ok = "gzip" in self.headers.get("Accept-Encoding", "")
            body = page.html_gz if gzip_ok else gzip.decompress(page.html_gz)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            if gzip_ok:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def run(pages: list[Page], base_url: str) -> list[Result]:
    from verbatim.bot.settings import Settings
    from verbatim.index.errors import FetchError
    from verbatim.index.extract import fetch_article

    settings = Settings(allow_private_urls=True)
    results = []
    for page in pages:
        result = Result(page)
        start = time.perf_counter()
        try:
            draft = await fetch_article(f"{base_url}/page/{page.id}", settings)
        except FetchError as exc:
            result.error = str(exc)
        except Exception as exc:  # a crash is a lost page too; the bench reports it rather than stopping
            result.error = f"{type(exc).__name__}: {exc}"
        else:
            result.precision, result.recall, result.f1 = score(page.gold, draft.text)
            result.has_title = bool(draft.title)
            result.has_author = bool(draft.author)
            result.has_date = draft.published is not None
        result.seconds = time.perf_counter() - start
        results.append(result)
    return results


def report(results: list[Result], total_seconds: float) -> None:
    import trafilatura
    from verbatim.index.extract import TRAFILATURA_OPTIONS

    n = len(results)
    f1s = [r.f1 for r in results]
    lost = [r for r in results if r.error is not None]
    times = sorted(r.seconds for r in results)
    options = ", ".join(f"{k}={v}" for k, v in TRAFILATURA_OPTIONS.items())
    print(f"Article extraction via fetch_article: {DATA}")
    print(f"trafilatura {trafilatura.__version__} ({options})")
    print()
    print(f"{'pages':<22}{n:>8}")
    print(f"{'mean precision':<22}{statistics.mean(r.precision for r in results):>8.3f}")
    print(f"{'mean recall':<22}{statistics.mean(r.recall for r in results):>8.3f}")
    print(f"{'mean F1':<22}{statistics.mean(f1s):>8.3f}")
    print(f"{'median F1':<22}{statistics.median(f1s):>8.3f}")
    print(f"{'pages with F1 < 0.8':<22}{sum(1 for f in f1s if f < 0.8):>8}")
    print(f"{'pages lost':<22}{len(lost):>8}")
    kept = [r for r in results if r.error is None]
    if kept:
        found = {
            "title": sum(r.has_title for r in kept),
            "author": sum(r.has_author for r in kept),
            "date": sum(r.has_date for r in kept),
        }
        print(f"{'metadata found':<22}  " + ", ".join(f"{k} {v}/{len(kept)}" for k, v in found.items()))
    for r in lost:
        print(f"  lost {r.page.id[:12]}  {r.page.url[:70]}\n       {r.error}")
    print()
    print("worst 5 pages by F1")
    print(f"  {'F1':>5} {'P':>5} {'R':>5}  url")
    for r in sorted(results, key=lambda r: r.f1)[:5]:
        print(f"  {r.f1:5.3f} {r.precision:5.3f} {r.recall:5.3f}  {r.page.url[:90]}")
    print()
    p95 = times[min(n - 1, round(0.95 * (n - 1)))]
    print(
        f"time: {total_seconds:.2f} s total, per page mean {1000 * statistics.mean(times):.0f} ms, "
        f"median {1000 * statistics.median(times):.0f} ms, p95 {1000 * p95:.0f} ms, "
        f"max {1000 * times[-1]:.0f} ms (fetch from 127.0.0.1 + extraction, sequential)"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages")
    args = parser.parse_args()
    pages = load_pages(args.limit)
    if not pages:
        print(f"No pages under {DATA}")
        return
    server = serve(pages)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        start = time.perf_counter()
        results = asyncio.run(run(pages, base_url))
        total = time.perf_counter() - start
    finally:
        server.shutdown()
        server.server_close()
    report(results, total)


if __name__ == "__main__":
    main()
