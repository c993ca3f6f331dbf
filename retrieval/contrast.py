"""Signs that a sentence says the opposite of what a question asks: a negation only one of them carries,
or a word the question uses whose antonym the sentence uses instead. Pure functions over lowercase words.

A question built on a sentence's words with one of them flipped ("When did the delta stop forming?"
against "the formation of the delta began") is the commonest way a close match is not an answer.
"""

from __future__ import annotations

from collections.abc import Collection

from verbatim.index.text import stem

_NEGATIONS = frozenset(
    "not no never none nobody nothing neither nor without cannot unable fail failed fails refused refuse "
    "lack lacked lacks absent instead".split()
)

# Pairs that flip a statement's meaning while keeping its topic, compared by stem so "increased" meets
# "decreasing"; irregular forms are listed with commas. Hand-kept: WordNet would be broader but needs a
# data download, which this product may not make at run time.
_PAIRS = """
first last; first second; second third; before after; earlier later; earliest latest; early late;
rise,rose,risen fall,fell,fallen; increase decrease; grow,grew,grown shrink,shrank,shrunk; gain loss,lost;
more less,fewer; most least; higher lower; highest lowest; high low; upper lower; above below; top bottom;
largest,biggest smallest; large,big small; larger,bigger smaller; long short; longer shorter;
longest shortest; wide narrow; thick thin; deep shallow; heavy light; north south; east west;
northern southern; eastern western; northeast southwest; northwest southeast; minimum maximum;
begin,began,begun end,stop,finish; start end,stop,finish; open close; old,older,oldest new,newer,newest;
old young; older younger; oldest youngest; ancient modern; win,won lose,lost; victory defeat;
accept reject; allow forbid,forbade,ban; approve veto; support oppose; success failure;
successful unsuccessful; succeed fail; include exclude; import export; buy,bought sell,sold;
lend,lent borrow; birth death; born died; live die; common rare; easy difficult; easier harder; fast slow;
faster slower; hot cold; warm cool; wet dry; rich,wealthy poor; many few; always never; male female;
men women; man woman; boy girl; father mother; son daughter; king queen; husband wife; brother sister;
left right; front back; true false; cheap expensive; major minor; positive negative; strong weak;
stronger weaker; strongest weakest; inside outside; internal external; interior exterior; public private;
legal illegal,unlawful; same different; similar different; previous next; prior subsequent;
primary secondary; minority majority; attack defend; arrive depart; enter leave,left,exit; inner outer;
input output; push pull; add remove; agree disagree; like dislike; friend,ally,allies enemy,enemies;
visible invisible; possible impossible; able unable;
"""


def _tables() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Stem -> the stems of its opposites, and stem -> the stems of its own forms ("rise": rose, risen)."""
    opposite: dict[str, frozenset[str]] = {}
    same: dict[str, frozenset[str]] = {}
    for pair in _PAIRS.replace("\n", " ").split(";"):
        if not pair.strip():
            continue
        first, second = (frozenset(stem(form) for form in side.split(",")) for side in pair.split())
        for side, other in ((first, second), (second, first)):
            for word in side:
                opposite[word] = opposite.get(word, frozenset()) | other
                same[word] = same.get(word, frozenset()) | side
    return opposite, same


_OPPOSITE, _SAME = _tables()


def is_negated(words: Collection[str]) -> bool:
    return any(w in _NEGATIONS or w.endswith("n't") for w in words)


def negation_mismatch(question_words: Collection[str], sentence_words: Collection[str]) -> bool:
    """The question is negated ("What wasn't Germany's interest?") and the sentence is not."""
    return is_negated(question_words) and not is_negated(sentence_words)


def opposable(words: Collection[str]) -> frozenset[str]:
    """The words that have an opposite in the table: all `antonym_clash` needs of a question."""
    return frozenset(w for w in words if stem(w) in _OPPOSITE)


def antonym_clash(question_words: Collection[str], sentence_words: Collection[str]) -> bool:
    """The question uses a word the sentence lacks, and the sentence has its opposite."""
    sentence_stems = {stem(w) for w in sentence_words}
    return any(
        _SAME[s].isdisjoint(sentence_stems) and not _OPPOSITE[s].isdisjoint(sentence_stems)
        for s in map(stem, question_words)
        if s in _OPPOSITE
    )
