"""Train the bundled reader (index/reader.py) on SQuAD v1.1 train, on the CPU, with a fixed seed.

    python -m bench.train_reader                      # ~75 minutes on one core; writes index/reader_model/
    python -m bench.train_reader --questions 2000     # a quick smoke run

Pairs, all from ../shared/train/squad-v1.1-train (disjoint from every evaluation set):
- positive: the question with the sentence holding its answer, sometimes joined with a neighbour of the
  same paragraph (so a two-sentence passage that holds the answer reads as an answer too);
- hard negatives: the gold paragraph's other sentence that shares most rare words with the question,
  and the article's best such sentence elsewhere (what a lexical and dense search put on top), sometimes
  joined with a neighbour; now and then a sentence of another article. `--ranker-negatives` takes the
  second from our own ranker's best wrong candidates instead (the train articles indexed once in
  bench/.cache/train-index, about 25 minutes on one core);
- look-alikes (the way SQuAD 2.0's writers made its unanswerable questions): the question with one
  name, number or year swapped for another of the same kind from the article, an antonym swapped in, or
  a negation added, against the very sentence that answered the original;
- with `--erase SHARE`, that share of questions also get their answer sentence with the answer erased
  ("Truman announced someone as the new Director") as a negative: every word of the question is still
  there, the answer is not;
- how people ask (bench/people_pairs.py): "what did <name> say?" and "who is <name>?" from the sampled
  questions' articles, with look-alike negatives (`--no-people` leaves them out); `--short` adds every
  third question cut short ("What did the Pope say?") with two near misses.

A length-bucketed single epoch, binary cross-entropy, AdamW with warm-up and linear decay. The weights
that changed are saved as fp16, with a checkpoint every `--checkpoint-steps` steps.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from verbatim.index.reader import (
    BUNDLED_WEIGHTS,
    LAYERS,
    MAX_TOKENS,
    build_network,
    load_network,
    passage_text,
    trained_parameters,
)
from verbatim.index.segment import split_sentences
from verbatim.index.text import content_terms

from bench.common import CACHE, ROOT, normalise, paragraph_ranges, read_jsonl

TRAIN = ROOT.parent / "shared" / "train" / "squad-v1.1-train"
SEED = 0
MINED_TOP = 8  # the ranker's candidates the reader reads in use (retrieval/weights.json read_top)

ANTONYMS = {
    "first": "last",
    "last": "first",
    "largest": "smallest",
    "smallest": "largest",
    "most": "least",
    "least": "most",
    "before": "after",
    "after": "before",
    "highest": "lowest",
    "lowest": "highest",
    "increase": "decrease",
    "decrease": "increase",
    "increased": "decreased",
    "decreased": "increased",
    "early": "late",
    "late": "early",
    "earliest": "latest",
    "latest": "earliest",
    "north": "south",
    "south": "north",
    "east": "west",
    "west": "east",
    "biggest": "smallest",
    "longest": "shortest",
    "shortest": "longest",
    "oldest": "youngest",
    "youngest": "oldest",
    "won": "lost",
    "lost": "won",
    "major": "minor",
    "minor": "major",
    "larger": "smaller",
    "smaller": "larger",
    "higher": "lower",
    "lower": "higher",
    "start": "end",
    "began": "ended",
    "ended": "began",
    "positive": "negative",
    "negative": "positive",
    "maximum": "minimum",
    "minimum": "maximum",
    "internal": "external",
    "external": "internal",
    "private": "public",
    "public": "private",
    "male": "female",
    "female": "male",
    "rise": "fall",
    "allowed": "banned",
}
# "Who was appointed" -> "Who was not appointed": only before a participle, where "not" reads naturally.
NEGATABLE = re.compile(r"\b(?:is|was|were|are|has|had|have|been)\b(?= [a-z]+(?:ed|en|wn|ne)\b)")
NAME = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][a-zA-Z’'-]+(?: [A-Z][a-zA-Z’'-]+)*")
NUMBER = re.compile(r"\b\d[\d,.]*\b")


@dataclass
class Pair:
    question: str
    title: str
    passage: str
    label: float


@dataclass
class Doc:
    title: str
    text: str
    spans: list[tuple[int, int, int]]  # (start, end, gold paragraph index)
    terms: list[frozenset[str]]
    normalised: list[str]  # each sentence as SQuAD scoring normalises it
    idf: dict[str, float]
    names: list[str]
    numbers: list[str]


def load_docs() -> dict[str, Doc]:
    docs = {}
    for article in read_jsonl(TRAIN / "articles.jsonl"):
        text = article["text"]
        starts = [start for start, _ in paragraph_ranges(text)]
        spans = [(s.start, s.end, bisect.bisect_right(starts, s.start) - 1) for s in split_sentences(text)]
        terms = [frozenset(content_terms(text[s:e])) for s, e, _ in spans]
        df = Counter(t for ts in terms for t in ts)
        idf = {t: math.log(1 + len(spans) / n) for t, n in df.items()}
        docs[article["id"]] = Doc(
            title=article["title"],
            text=text,
            spans=spans,
            terms=terms,
            normalised=[normalise(text[s:e]) for s, e, _ in spans],
            idf=idf,
            names=sorted(set(NAME.findall(text))),
            numbers=sorted(set(NUMBER.findall(text))),
        )
    return docs


def passage(doc: Doc, first: int, last: int) -> str:
    return doc.text[doc.spans[first][0] : doc.spans[last][1]]


def with_neighbour(doc: Doc, i: int, rng: random.Random, avoid: str | None = None) -> str:
    """Sentence i joined with its previous or next sentence of the same paragraph, when there is one
    (and, for a negative, when the neighbour does not hold the answer either)."""
    options = [
        (a, b)
        for a, b in ((i - 1, i), (i, i + 1))
        if a >= 0 and b < len(doc.spans) and doc.spans[a][2] == doc.spans[b][2]
    ]
    if avoid is not None:
        options = [(a, b) for a, b in options if avoid not in normalise(passage(doc, a, b))]
    if not options:
        return passage(doc, i, i)
    return passage(doc, *rng.choice(options))


def look_alike(question: str, answer_text: str, doc: Doc, rng: random.Random) -> str | None:
    """The question with one detail changed so that the sentence answering it no longer does."""
    kinds = ["swap", "swap", "swap", "antonym", "negate"]
    rng.shuffle(kinds)
    for kind in kinds:
        if kind == "swap":
            names = [n for n in NAME.findall(question) if n in answer_text]
            numbers = [n for n in NUMBER.findall(question) if n in answer_text]
            options = [(n, doc.names) for n in names] + [(n, doc.numbers) for n in numbers]
            if not options:
                continue
            old, pool = rng.choice(options)
            same_kind = [
                p
                for p in pool
                if p not in answer_text and p not in question and (len(p) == 4) == (len(old) == 4)
            ]
            if same_kind:
                return question.replace(old, rng.choice(same_kind), 1)
        elif kind == "antonym":
            words = [w for w in re.findall(r"[a-z]+", question) if w in ANTONYMS]
            if words:
                word = rng.choice(words)
                return re.sub(rf"\b{word}\b", ANTONYMS[word], question, count=1)
        else:
            match = NEGATABLE.search(question)
            if match and " not " not in question and "n't" not in question:
                return question[: match.end()] + " not" + question[match.end() :]
    return None


YEAR = re.compile(r"^(1[0-9]|20)[0-9]{2}$")
WHO = re.compile(r"^\s*(who|whom|whose)\b", re.IGNORECASE)
HOW_MANY = re.compile(r"^\s*how (many|much)\b", re.IGNORECASE)


def erased(sentence: str, answer: str, question: str, rng: random.Random) -> str | None:
    """The answer sentence with its answer replaced by an indefinite stand-in ("Truman announced Walter
    Bedell Smith as the new Director" -> "Truman announced someone as the new Director"): it still shares
    every word with the question but no longer answers it, the way a news sentence that says "he" or "the
    team" does not answer "who?" or "which team?". Stand-ins that fit any position in a sentence, so
    grammar does not give the negative away."""
    answer = answer.strip()
    at = sentence.find(answer)
    if (
        not answer
        or at < 0
        or sentence.find(answer, at + 1) >= 0
        or len(answer.split()) > 6
        or len(sentence.split()) - len(answer.split()) < 5
    ):
        return None
    if YEAR.match(answer):
        stand_in = "that year"
    elif any(c.isdigit() for c in answer) or HOW_MANY.match(question):
        stand_in = rng.choice(["several", "a number of"]) if answer[-1].isdigit() else "some"
    elif WHO.match(question):
        stand_in = "someone"
    elif answer[:1].isupper():
        stand_in = "one of them"
    else:
        stand_in = "something"
    if at == 0:
        stand_in = stand_in[0].upper() + stand_in[1:]
    return sentence[:at] + stand_in + sentence[at + len(answer) :]


def ranked_by_overlap(doc: Doc, question_terms: frozenset[str], indices: list[int]) -> list[int]:
    """Sentences by the summed idf of the question words they share: what lexical search puts on top."""
    score = {i: sum(doc.idf.get(t, 0.0) for t in question_terms & doc.terms[i]) for i in indices}
    return sorted(indices, key=lambda i: -score[i])


Mined = dict[tuple[str, str], list[str]]  # (article id, question) -> the ranker's best wrong sentences


def mine_ranker_negatives(articles: list[dict], questions: list[dict], top: int = MINED_TOP) -> Mined:
    """What the reader meets in use: for each question, the sentences our own ranker puts on top in the
    question's article (its own collection) that do not hold the answer, best first. The articles are
    indexed once in bench/.cache/train-index (about 10 minutes on one core), then reused."""
    from verbatim.bot.answering import Answerer
    from verbatim.bot.settings import Settings
    from verbatim.index.embedder import SentenceTransformerEmbedder
    from verbatim.index.library import Library
    from verbatim.index.models import ArticleDraft
    from verbatim.retrieval.ranking import rank

    started = time.perf_counter()
    embedder = SentenceTransformerEmbedder(Settings().model, torch_threads=1, batch_size=128)
    library = Library(CACHE / "train-index", embedder)
    for article in articles:
        if not library.list_articles(article["id"]):
            draft = ArticleDraft(id=article["id"], title=article["title"], text=article["text"])
            library.add(article["id"], draft)
    print(f"train articles indexed in {time.perf_counter() - started:.0f} s", flush=True)
    embedder.embed_queries([q["question"] for q in questions])
    answerer = Answerer(library, embedder)
    mined: Mined = {}
    for q in questions:
        gold = [normalise(a) for a in q["answers"]]
        info, contexts = answerer.candidates(q["article_id"], q["question"])
        wrong = [
            s.context.sentence.text
            for s in rank(info, contexts)
            if not any(g in normalise(s.context.sentence.text) for g in gold)
        ]
        mined[(q["article_id"], q["question"])] = wrong[:top]
    library.close()
    print(f"mined the ranker's negatives in {time.perf_counter() - started:.0f} s", flush=True)
    return mined


def sample_questions(docs: dict[str, Doc], n_questions: int, rng: random.Random) -> list[dict]:
    """`n_questions` training questions in a seeded order, each with its answer in one or two sentences."""
    questions = list(read_jsonl(TRAIN / "questions.jsonl"))
    rng.shuffle(questions)
    chosen = []
    for q in questions:
        if len(chosen) >= n_questions:
            break
        if answer_sentences(docs[q["article_id"]], q) is not None:
            chosen.append(q)
    return chosen


def answer_sentences(doc: Doc, q: dict) -> tuple[int, int] | None:
    """The first and last sentence holding the question's answer in its paragraph, if one or two do."""
    p_start, p_end = paragraph_ranges(doc.text)[q["paragraph"]]
    answer = q["answers"][0]
    at = doc.text.find(answer, p_start, p_end)
    if at < 0 or not answer.strip():
        return None
    holding = [i for i, (s, e, _) in enumerate(doc.spans) if s < at + len(answer) and e > at]
    if not holding or len(holding) > 2:
        return None
    return holding[0], holding[-1]


def build_pairs(
    docs: dict[str, Doc],
    questions: list[dict],
    rng: random.Random,
    mined: Mined | None = None,
    erase: float = 0.0,
) -> list[Pair]:
    doc_ids = sorted(docs)
    pairs: list[Pair] = []
    for q in questions:
        doc = docs[q["article_id"]]
        held = answer_sentences(doc, q)
        if held is None:
            continue
        text, title = q["question"], doc.title
        gold = normalise(q["answers"][0])
        first, last = held
        answer_text = passage(doc, first, last)
        if first == last and rng.random() < 0.25:
            pairs.append(Pair(text, title, with_neighbour(doc, first, rng), 1.0))
        else:
            pairs.append(Pair(text, title, answer_text, 1.0))

        others = [i for i, sentence in enumerate(doc.normalised) if gold not in sentence]
        q_terms = frozenset(content_terms(text))
        same_paragraph = [i for i in others if doc.spans[i][2] == q["paragraph"]]
        elsewhere = [i for i in others if doc.spans[i][2] != q["paragraph"]]
        negatives = ranked_by_overlap(doc, q_terms, same_paragraph)[:1]
        if mined is None:
            negatives += rng.sample(ranked_by_overlap(doc, q_terms, elsewhere)[:3], k=min(3, len(elsewhere)))[
                : 2 - len(negatives)
            ]
        passages = [
            with_neighbour(doc, i, rng, avoid=gold) if rng.random() < 0.2 else passage(doc, i, i)
            for i in negatives
        ]
        if mined is not None:
            # The ranker's best wrong sentences in place of the lexical ones elsewhere: what the reader
            # is given to tell apart in use.
            own = {passage(doc, i, i) for i in negatives}
            ranked = [t for t in mined.get((q["article_id"], text), []) if t not in own]
            passages += ranked[: 2 - len(negatives)]
        pairs.extend(Pair(text, title, neg, 0.0) for neg in passages)
        if rng.random() < 0.15:
            other = docs[rng.choice(doc_ids)]
            if other is not doc and other.spans:
                pairs.append(
                    Pair(text, other.title, passage(other, *[rng.randrange(len(other.spans))] * 2), 0.0)
                )
        if rng.random() < 0.6:
            changed = look_alike(text, answer_text, doc, rng)
            if changed is not None:
                pairs.append(Pair(changed, title, answer_text, 0.0))
        # Drawn only when asked for, so the default run draws what the shipped weights were trained on.
        if erase and first == last and rng.random() < erase:
            without = erased(answer_text, q["answers"][0], text, rng)
            if without is not None:
                pairs.append(Pair(text, title, without, 0.0))
    return pairs


def batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches: shuffled, sorted by length within chunks of 50 batches, then shuffled."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    out = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        out += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def save(network: object, path: Path, meta: dict[str, str]) -> None:
    from safetensors.torch import save_file

    tensors = {name: p.detach().half().contiguous() for name, p in trained_parameters(network).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=26_000, help="training questions to sample")
    parser.add_argument("--layers", type=int, default=LAYERS)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 leaves a core free)")
    parser.add_argument("--out", type=Path, default=BUNDLED_WEIGHTS)
    parser.add_argument("--checkpoint-steps", type=int, default=500)
    parser.add_argument(
        "--init",
        type=Path,
        help="start from these reader weights (and their layers) rather than the base model",
    )
    parser.add_argument(
        "--people",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add 'what did X say?' and 'who is X?' pairs from the sampled questions' articles"
        " (bench/people_pairs.py; the shipped weights have them)",
    )
    parser.add_argument(
        "--short",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="add every third sampled question cut short the way people ask ('What did the Pope say?'),"
        " with its answer sentence and two near misses (bench/people_pairs.py)",
    )
    parser.add_argument(
        "--erase",
        type=float,
        default=0.0,
        help="share of questions that also get their answer sentence with the answer erased as a"
        " negative ('someone became prime minister' for 'who became prime minister?'; tried, not shipped)",
    )
    parser.add_argument(
        "--ranker-negatives",
        action="store_true",
        help="hard negatives from our ranker's top candidates in place of the lexical ones elsewhere in"
        " the article (tried; not what the shipped weights use: see README, The reading model)",
    )
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer
    from verbatim.index.embedder import resolve_model_path
    from verbatim.index.reader import BASE_MODEL

    torch.set_num_threads(args.threads)
    rng = random.Random(SEED)
    started = time.perf_counter()
    docs = load_docs()
    questions = sample_questions(docs, args.questions, rng)
    mined = None
    if args.ranker_negatives:
        mined = mine_ranker_negatives(list(read_jsonl(TRAIN / "articles.jsonl")), questions)
    pairs = build_pairs(docs, questions, rng, mined, args.erase)
    if args.people:
        from bench.people_pairs import people_pairs

        pairs += people_pairs(docs, {q["article_id"] for q in questions}, rng)
    if args.short:
        from bench.people_pairs import short_pairs

        pairs += short_pairs(docs, questions[::3], rng)
    counts = Counter(p.label for p in pairs)
    print(f"{len(pairs)} pairs ({int(counts[1.0])} positive) from {args.questions} questions "
          f"in {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(BASE_MODEL))
    encoded = tokenizer(
        [p.question for p in pairs],
        [passage_text(p.title, p.passage) for p in pairs],
        truncation="longest_first",
        max_length=MAX_TOKENS,
    )
    lengths = [len(ids) for ids in encoded["input_ids"]]
    print(f"mean length {sum(lengths) / len(lengths):.1f} tokens", flush=True)

    # From trained weights, the layers are theirs (--layers applies to a fresh network only).
    network = load_network(args.init) if args.init else build_network(args.layers)
    network.encoder.embeddings.word_embeddings.weight.requires_grad = False
    head = [p for n, p in network.named_parameters() if n.startswith("head.")]
    body = [p for n, p in network.named_parameters() if p.requires_grad and not n.startswith("head.")]
    optimiser = torch.optim.AdamW(
        # A fresh head learns faster than the body; one already trained moves at the body's pace.
        [{"params": body, "lr": args.lr}, {"params": head, "lr": args.lr * (1 if args.init else 20)}],
        weight_decay=0.01,
    )
    plan = batches(lengths, args.batch, rng)
    warmup = max(1, len(plan) // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / len(plan))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    meta = {
        "base": BASE_MODEL,
        "layers": str(len(network.encoder.encoder.layer)),
        "questions": str(args.questions),
        "pairs": str(len(pairs)),
        "seed": str(SEED),
        "trained_on": "SQuAD v1.1 train",
        "negatives": "ranker" if args.ranker_negatives else "overlap",
        "init": args.init.name if args.init else "base",
        "people": str(args.people),
        "short": str(args.short),
        "erase": str(args.erase),
    }
    network.train()
    running, tick = 0.0, time.perf_counter()
    for step, batch in enumerate(plan, 1):
        width = max(lengths[i] for i in batch)

        def padded(key: str, batch: list[int] = batch, width: int = width) -> torch.Tensor:
            return torch.tensor([encoded[key][i] + [0] * (width - lengths[i]) for i in batch])

        logits = network(padded("input_ids"), padded("attention_mask"), padded("token_type_ids"))
        loss = loss_fn(logits, torch.tensor([pairs[i].label for i in batch]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 50 == 0:
            rate = 50 * args.batch / (time.perf_counter() - tick)
            tick = time.perf_counter()
            print(f"step {step}/{len(plan)} loss {running:.4f} {rate:.1f} pairs/s", flush=True)
        if step % args.checkpoint_steps == 0:
            save(network, args.out, {**meta, "steps": f"{step}/{len(plan)}"})
    save(network, args.out, {**meta, "steps": f"{len(plan)}/{len(plan)}"})
    minutes = (time.perf_counter() - started) / 60
    print(json.dumps({"saved": str(args.out), "minutes": round(minutes, 1), **meta}), flush=True)


if __name__ == "__main__":
    main()
