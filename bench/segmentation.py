"""Sentence segmentation compared on real text: ours against pysbd and blingfire (when installed).

SQuAD has no gold sentence boundaries, so the measure is what hurts answers: the share of gold answers
that a segmenter cuts in two (an answer split across sentences can never be quoted whole), plus
whether offsets are exact, sentence counts and speed. Also prints the seed news article's sentences.

    python -m bench.segmentation
"""

from __future__ import annotations

import time
from collections.abc import Callable

from verbatim.index.segment import split_sentences

from bench.common import EVAL, machine, read_jsonl

Segmenter = Callable[[str], list[tuple[int, int]]]


def ours(text: str) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in split_sentences(text)]


def segmenters() -> dict[str, Segmenter]:
    found: dict[str, Segmenter] = {"verbatim (index/segment.py)": ours}
    try:
        import pysbd

        seg = pysbd.Segmenter(language="en", clean=False, char_span=True)
        found["pysbd 0.3 (char_span)"] = lambda text: [(s.start, s.end) for s in seg.segment(text)]
    except ImportError:
        pass
    try:
        import blingfire

        found["blingfire"] = lambda text: [tuple(o) for o in blingfire.text_to_sentences_and_offsets(text)[1]]
    except ImportError:
        pass
    return found


def well_formed(text: str, spans: list[tuple[int, int]]) -> bool:
    """Spans in order, disjoint, inside the text, and together holding every letter and digit of it."""
    end = 0
    covered = 0
    for a, b in spans:
        if not end <= a < b <= len(text):
            return False
        covered += sum(ch.isalnum() for ch in text[a:b])
        end = b
    return covered == sum(ch.isalnum() for ch in text)


def main() -> None:
    articles = {a["id"]: a["text"] for a in read_jsonl(EVAL / "squad-v1.1-dev" / "articles.jsonl")}
    answers = []  # (article id, start, end) of each gold answer's first occurrence in its paragraph
    for q in read_jsonl(EVAL / "squad-v1.1-dev" / "questions.jsonl"):
        text = articles[q["article_id"]]
        offset = sum(len(p) + 2 for p in text.split("\n\n")[: q["paragraph"]])
        paragraph = text.split("\n\n")[q["paragraph"]]
        at = paragraph.find(q["answers"][0])
        if at >= 0:
            answers.append((q["article_id"], offset + at, offset + at + len(q["answers"][0])))
    print(f"SQuAD v1.1 dev: {len(articles)} articles, {len(answers)} locatable gold answers; {machine()}\n")
    print(f"{'segmenter':<30}{'sentences':>10}{'answers cut':>13}{'well formed':>15}{'ms / article':>14}")
    for name, segment in segmenters().items():
        spans: dict[str, list[tuple[int, int]]] = {}
        start = time.perf_counter()
        for article_id, text in articles.items():
            spans[article_id] = segment(text)
        elapsed = (time.perf_counter() - start) / len(articles) * 1000
        count = sum(len(s) for s in spans.values())
        exact = all(well_formed(text, spans[article_id]) for article_id, text in articles.items())
        cut = sum(
            not any(a <= s and e <= b for a, b in spans[article_id]) for article_id, s, e in answers
        ) / len(answers)
        print(f"{name:<30}{count:>10}{cut:>13.4f}{exact!s:>15}{elapsed:>14.1f}")
    seed = (EVAL / "seed" / "article.txt").read_text()
    print("\nseed article, verbatim segmenter:")
    for s in split_sentences(seed):
        print(f"  [{s.start:>5},{s.end:>5}) {seed[s.start : s.end][:100]}")


if __name__ == "__main__":
    main()
