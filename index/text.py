"""Word handling shared by lexical search and ranking: tokens, stopwords, a light stemmer."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there when where why
    how all any both each few more most other some such no nor not only own same so than too very s t can
    will just don should now is are was were be been being have has had having do does did doing would
    could might must shall may i me my myself we our ours ourselves you your yours yourself yourselves he
    him his himself she her hers herself it its itself they them their theirs themselves what which who
    whom this that these those am as until while also did does what's who's whose many much""".split()
)


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def stem(word: str) -> str:
    """A deliberately small suffix stripper: enough to match cancel/cancelled/cancellation."""
    for suffix in ("ational", "ations", "ation", "ings", "ing", "edly", "ed", "ies", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]  # cancell -> cancel
    return word


def content_terms(text: str) -> list[str]:
    """Stemmed words that carry meaning, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in words(text):
        if word not in STOPWORDS and len(word) > 1 or word.isdigit():
            seen.setdefault(stem(word), None)
    return list(seen)


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression: any of the question's content words (quoted, so never FTS syntax)."""
    terms = []
    seen = set()
    for word in words(text):
        if (word in STOPWORDS or len(word) < 2) and not word.isdigit():
            continue
        if word not in seen:
            seen.add(word)
            terms.append('"' + word.replace('"', "") + '"')
    return " OR ".join(terms)
