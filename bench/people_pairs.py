"""Training pairs for two questions people ask of news and SQuAD's writers rarely did, made from the
articles of SQuAD v1.1 train, part of what `python -m bench.train_reader` trains the shipped reader
on (`--no-people` leaves them out; see README, The reading model).

SQuAD's writers looked at the paragraph and reused its words: "What did the Pope say about the state of
the church in 1990?". People who read a news article ask "what did Kirby say?" or "who is Lloyd
Austin?", and a reader trained on SQuAD alone reads those low even against the sentence that answers
them. Two kinds, each with negatives that teach it what such a question does not match:
- speech: "what did <name> say?" against a sentence where that name says, tells or announces
  something; negatives: a sentence naming them that reports no speech, and the same question asked
  with another speaker's name of the article;
- who: "who is <name>?" against a sentence that describes them ("X is an American singer", "X, the
  city's mayor, ..."); negatives: the question with another name of the article against it.
A third kind is only added with `--short`: a SQuAD question cut short the way people ask ("What did
the Pope say?"), against its answer sentence and two near misses.
"""

from __future__ import annotations

import random
import re

from verbatim.index.text import content_terms

from bench.train_reader import Doc, Pair, answer_sentences, passage

SPEECH = r"(?:said|says|stated|told|announced|argued|wrote|claimed|added|explained|noted|declared|warned)"
# A name (two capitalised words at most, so a sentence's leading words rarely pass for one) and what
# marks the sentence as its speech or its description.
PERSON = r"([A-Z][a-z]+(?: [A-Z][a-z]+)?)"
SPOKE = re.compile(rf"\b{PERSON} {SPEECH}\b|\b{SPEECH} {PERSON}\b")
DESCRIBED = re.compile(
    rf"^{PERSON} (is|was) (?:a|an|the) [A-Za-z]"  # "Lloyd Austin is an American general"
    rf"|(?<=[a-z,] ){PERSON}, (?:a|an|the) [a-z][^,]{{2,60}},"  # "... Randy Jackson, the last judge, ..."
)
ASKED_SPEECH = ["what did {} say?", "What did {} say?", "what did {} tell them?"]
NOT_NAMES = {
    "The", "This", "That", "These", "Those", "There", "He", "She", "It", "They", "In", "On", "At", "A", "An",
    "His", "Her", "Its", "Their", "However", "Later", "Otherwise", "Since", "When", "After", "Before",
}  # fmt: skip


def speaker(sentence: str) -> str | None:
    match = SPOKE.search(sentence)
    if not match:
        return None
    name = next((g for g in match.groups() if g), None)
    return name if name and name.split()[0] not in NOT_NAMES else None


def described(sentence: str) -> tuple[str, str] | None:
    """(name, "is" or "was") when the sentence says who or what the name is."""
    match = DESCRIBED.search(sentence)
    if not match:
        return None
    name, verb, other = match.groups()
    if other:
        before = sentence[: match.start(3)].split()
        if before and before[-1][:1].isupper():  # "New Haven Register": only part of a longer name
            return None
    name = name or other
    return None if name.split()[0] in NOT_NAMES else (name, verb or "is")


def person_pairs(doc: Doc, rng: random.Random, limit: int) -> list[Pair]:
    """Up to `limit` speech and description questions from one article, with their negatives."""
    sentences = [passage(doc, i, i) for i in range(len(doc.spans))]
    speeches = [(i, name) for i, s in enumerate(sentences) if (name := speaker(s))]
    descriptions = [(i, d) for i, s in enumerate(sentences) if (d := described(s))]
    speakers = sorted({name.split()[-1] for _, name in speeches})
    people = sorted({name for _, (name, _) in descriptions})
    pairs: list[Pair] = []
    for i, name in rng.sample(speeches, min(limit, len(speeches))):
        called = rng.choice([name, name.split()[-1]])
        question = rng.choice(ASKED_SPEECH).format(called)
        pairs.append(Pair(question, doc.title, sentences[i], 1.0))
        quiet = [j for j, s in enumerate(sentences) if called in s and not re.search(SPEECH, s)]
        if quiet:
            pairs.append(Pair(question, doc.title, sentences[rng.choice(quiet)], 0.0))
        others = [s for s in speakers if s not in sentences[i]]
        if others:
            pairs.append(Pair(f"what did {rng.choice(others)} say?", doc.title, sentences[i], 0.0))
    for i, (name, verb) in rng.sample(descriptions, min(limit, len(descriptions))):
        # "who" for a first and last name, "what" for a one-word name (a place, a thing, a group).
        ask = "who" if " " in name else "what"
        pairs.append(Pair(f"{ask} {verb} {name}?", doc.title, sentences[i], 1.0))
        others = [p for p in people if p not in sentences[i] and (" " in p) == (" " in name)]
        if others:
            pairs.append(Pair(f"{ask} {verb} {rng.choice(others)}?", doc.title, sentences[i], 0.0))
    return pairs


def people_pairs(docs: dict[str, Doc], article_ids: set[str], rng: random.Random) -> list[Pair]:
    """Speech and description questions from these articles, up to 8 of each an article."""
    return [p for article_id in sorted(article_ids) for p in person_pairs(docs[article_id], rng, limit=8)]


WH = {"what", "who", "whom", "when", "where", "why", "how", "which"}
# Where a question's trailing phrase starts ("of" is left out: "the name of the ..." is the question).
CUT_BEFORE = {
    "about", "in", "on", "at", "for", "during", "after", "before", "with", "from", "to", "by", "since",
    "until", "under", "over", "between", "against", "within", "into",
}  # fmt: skip
DANGLING = {"the", "a", "an", "is", "was", "were", "are", "did", "does", "do", "has", "had", "have"}


def shortened(question: str) -> str | None:
    """The question cut before its first trailing phrase, when what is left still asks something:
    "What did the Pope say about the state of the church in 1990?" -> "What did the Pope say?"."""
    words = question.rstrip(" ?").split()
    if len(words) < 5 or words[0].lower() not in WH:
        return None
    for k in range(3, len(words) - 1):
        if words[k].lower() in CUT_BEFORE or words[k - 1].endswith(","):
            kept = [w.rstrip(",") for w in words[:k]]
            if kept[-1].lower() in DANGLING or len(content_terms(" ".join(kept[1:]))) < 2:
                return None
            return " ".join(kept) + "?"
    return None


def short_pairs(docs: dict[str, Doc], questions: list[dict], rng: random.Random) -> list[Pair]:
    """Each shortened question against its answer sentence, and against two of the article's sentences
    that share its words most but not all of them (one holding every kept word may answer it too, so
    it is never a negative)."""
    pairs: list[Pair] = []
    for q in questions:
        doc = docs[q["article_id"]]
        held, short = answer_sentences(doc, q), shortened(q["question"])
        if held is None or short is None:
            continue
        kept = frozenset(content_terms(short))
        first, last = held
        pairs.append(Pair(short, doc.title, passage(doc, first, last), 1.0))
        others = [i for i in range(len(doc.spans)) if not first <= i <= last and not kept <= doc.terms[i]]
        close = sorted(others, key=lambda i: -sum(doc.idf.get(t, 0.0) for t in kept & doc.terms[i]))[:4]
        pairs += [
            Pair(short, doc.title, passage(doc, i, i), 0.0) for i in rng.sample(close, min(2, len(close)))
        ]
    return pairs
