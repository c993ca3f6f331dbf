"""Words as search terms: one tokenizer and stemmer shared by the BM25 postings, idf statistics and
ranking, so a question's terms always match the stored ones."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_STEMMER = Stemmer.Stemmer("english")

STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before after
    above below to from up down in out on off over under again further then once here there when where why
    how all any both each few more most other some such no nor not only own same so than too very s t can
    will just don should now is are was were be been being have has had having do does did doing would
    could might must shall may i me my myself we our ours ourselves you your yours yourself yourselves he
    him his himself she her hers herself it its itself they them their theirs themselves what which who
    whom this that these those am as until while also what's who's whose many much""".split()
)


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    return str(_STEMMER.stemWord(word.removesuffix("'s")))


def is_content_word(word: str) -> bool:
    return word.isdigit() or (len(word) > 1 and word not in STOPWORDS)


def content_terms(text: str) -> list[str]:
    """Stemmed words that carry meaning, in order, without repeats."""
    return list(dict.fromkeys(stem(w) for w in words(text) if is_content_word(w)))


def term_string(text: str) -> str:
    """What is stored as a sentence's terms: its stemmed content words (repeats kept, for BM25's tf)."""
    return " ".join(stem(w) for w in words(text) if is_content_word(w))
