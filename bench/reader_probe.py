"""Can a small reader, fine-tuned here, tell SQuAD 2.0's unanswerable questions from answerable ones?

The probe of the one route left to the refusal target of issue 3 (refuse half of SQuAD 2.0's
unanswerable questions while answering 90% of the answerable ones), kept so its result can be rerun:

    python bench/reader_probe.py [--layers 3] [--epochs 1]     # about 15 minutes on 2 cores

The reader is the bundled all-MiniLM-L6-v2 cut to its first layers and read as a cross-encoder over
(question, sentence), with LoRA adapters and a linear head. It is trained on the tuning half of the
articles (even-numbered, both datasets split by the SQuAD v1.1 list, which holds SQuAD 2.0's articles):
the sentence holding the answer against the ranker's other top three, and the top three of every
unanswerable question. On the held-out half it scores the top three of each question; the report gives
how well that score, the production confidence and the two together separate answerable from
unanswerable questions. The combination is fitted on half of the held-out articles and measured on the
other half, so it is an optimistic ceiling for shipping the reader.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CACHE, Timer, machine
from bench.quality import (
    SQUAD,
    SQUAD2,
    Pool,
    answer_probability,
    by_model,
    cached_pools,
    fit_monotone_logistic,
    load_collection,
    questions,
    split,
)
from bot.settings import Settings
from index.embedder import SentenceTransformerEmbedder, resolve_model_path
from index.library import Library
from retrieval.pipeline import Answerer

TOP = 3
BATCH = 32
LORA_SCALE = 2.0  # alpha / rank, the usual alpha = 2 x rank
ANSWER_RATE = 0.92  # as bench/quality.py sets the production threshold


def training_pairs(answerable: list[Pool], unanswerable: list[Pool]) -> list[tuple[str, str, float]]:
    pairs = []
    for pool in answerable:
        order = by_model(pool)
        hits = [i for i in order[:5] if pool.hits[i]]
        if hits:
            pairs.append((pool.question.text, pool.contexts[hits[0]].sentence.text, 1.0))
        misses = [i for i in order[:TOP] if not pool.hits[i]][:2]
        pairs += [(pool.question.text, pool.contexts[i].sentence.text, 0.0) for i in misses]
    for pool in unanswerable:
        pairs += [(pool.question.text, pool.contexts[i].sentence.text, 0.0) for i in by_model(pool)[:TOP]]
    return pairs


def build_reader(layers: int, rank: int) -> Any:
    import torch
    from torch import nn
    from transformers import AutoModel

    class LoRA(nn.Module):
        def __init__(self, base: nn.Linear) -> None:
            super().__init__()
            self.base = base
            self.a = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
            self.b = nn.Parameter(torch.zeros(base.out_features, rank))

        def forward(self, x: Any) -> Any:
            return self.base(x) + (x @ self.a.T @ self.b.T) * LORA_SCALE

    class Reader(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            model = AutoModel.from_pretrained(resolve_model_path("all-MiniLM-L6-v2"))
            model.encoder.layer = model.encoder.layer[:layers]
            for p in model.parameters():
                p.requires_grad = False
            for layer in model.encoder.layer:
                attention = layer.attention
                for name in ("query", "key", "value"):
                    setattr(attention.self, name, LoRA(getattr(attention.self, name)))
                attention.output.dense = LoRA(attention.output.dense)
                layer.intermediate.dense = LoRA(layer.intermediate.dense)
                layer.output.dense = LoRA(layer.output.dense)
            self.model = model
            self.head = nn.Linear(model.config.hidden_size, 1)

        def forward(self, batch: Any) -> Any:
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            return self.head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)

    return Reader()


def encode(tokenizer: Any, pairs: list[tuple[str, str]]) -> Any:
    """(question, sentence) pairs as one padded batch, as a cross-encoder reads them."""
    return tokenizer(
        [q for q, _ in pairs],
        [s for _, s in pairs],
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=128,
    )


def train(reader: Any, tokenizer: Any, pairs: list[tuple[str, str, float]], epochs: float) -> None:
    import torch

    params = [p for p in reader.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.01)
    steps = int(len(pairs) / BATCH * epochs)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / steps)
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rng = random.Random(0)
    reader.train()
    step, running = 0, 0.0
    while step < steps:
        rng.shuffle(pairs)
        for start in range(0, len(pairs) - BATCH + 1, BATCH):
            if step >= steps:
                break
            batch = pairs[start : start + BATCH]
            encoded = encode(tokenizer, [(q, s) for q, s, _ in batch])
            loss = loss_fn(reader(encoded), torch.tensor([y for _, _, y in batch]))
            loss.backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
            step += 1
            if step % 100 == 0:
                print(f"  step {step}/{steps}: loss {running:.3f}", flush=True)


def reader_scores(reader: Any, tokenizer: Any, pools: list[Pool]) -> list[list[float]]:
    """The reader's logit for each of the ranker's top sentences, per question."""
    import torch

    todo = [
        (n, pool.question.text, pool.contexts[i].sentence.text)
        for n, pool in enumerate(pools)
        for i in by_model(pool)[:TOP]
    ]
    scores: list[list[float]] = [[] for _ in pools]
    reader.eval()
    with torch.inference_mode():
        for start in range(0, len(todo), 64):
            batch = todo[start : start + 64]
            encoded = encode(tokenizer, [(q, s) for _, q, s in batch])
            for (n, _, _), value in zip(batch, reader(encoded).tolist(), strict=True):
                scores[n].append(value)
    return scores


def auc(positive: Any, negative: Any) -> float:
    """Probability that a random answerable question scores above a random unanswerable one."""
    import numpy as np
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([positive, negative]))
    return float(
        (ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2)
        / (len(positive) * len(negative))
    )


def main() -> None:
    import numpy as np
    import torch
    from transformers import AutoTokenizer

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layers", type=int, default=3, help="MiniLM layers the reader keeps (1-6)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank")
    args = parser.parse_args()
    torch.manual_seed(0)

    settings = Settings()
    library = Library(CACHE / "quality", SentenceTransformerEmbedder(settings.model, batch_size=128))
    answerer = Answerer(library)
    squad_texts = load_collection(library, "squad", SQUAD / "articles.jsonl")
    squad2_texts = load_collection(library, "squad2", SQUAD2 / "articles.jsonl")
    answerable = cached_pools(answerer, "squad", questions(SQUAD / "questions.jsonl"), squad_texts, "squad")
    unanswerable = cached_pools(
        answerer, "squad2", questions(SQUAD2 / "questions.jsonl"), squad2_texts, "squad2"
    )
    articles = sorted(squad_texts)
    train_a, held_a = split([p for p in answerable if p.contexts], articles)
    train_u, held_u = split([p for p in unanswerable if p.contexts], articles)

    pairs = training_pairs(train_a, train_u)
    print(f"training on {len(pairs)} pairs from {len(train_a)} + {len(train_u)} questions")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("all-MiniLM-L6-v2"))
    reader = build_reader(args.layers, args.rank)
    with Timer() as t:
        train(reader, tokenizer, pairs, args.epochs)
    print(f"trained in {t.seconds:.0f} s")

    held = held_a + held_u
    label = np.array([1] * len(held_a) + [0] * len(held_u))
    with Timer() as t:
        scores = reader_scores(reader, tokenizer, held)
    print(f"scored {sum(map(len, scores))} held-out pairs in {t.seconds:.0f} s")
    confidence = np.clip([answer_probability(p) for p in held], 1e-6, 1 - 1e-6)
    columns = {
        "production confidence": np.log(confidence / (1 - confidence)),
        "reader, top sentence": np.array([s[0] for s in scores]),
        "reader, best of top 3": np.array([max(s) for s in scores]),
    }
    # Fit each combination on half of the held-out articles, measure on the other half.
    fitting_articles = set(sorted({p.question.article_id for p in held})[::2])
    fit = np.array([p.question.article_id in fitting_articles for p in held])
    measured = ~fit

    print(f"\nReader probe ({args.layers} layers, LoRA rank {args.rank}, {args.epochs} epochs; {machine()})")
    print(f"held-out: {len(held_a)} answerable, {len(held_u)} unanswerable questions")
    print(f"{'signal':<44}{'AUC':>6}{'answered':>10}{'refused':>10}")
    for name, cols in (
        *((name, [name]) for name in columns),
        ("confidence + reader", list(columns)),
    ):
        x = np.column_stack([columns[c] for c in cols])
        w, b = fit_monotone_logistic(x[fit], label[fit], np.ones(int(fit.sum())), [0] * len(cols))
        z = x @ w + b
        threshold = np.sort(z[fit & (label == 1)])[int((fit & (label == 1)).sum() * (1 - ANSWER_RATE))]
        answered = (z[measured & (label == 1)] >= threshold).mean()
        refused = (z[measured & (label == 0)] < threshold).mean()
        score = auc(z[measured & (label == 1)], z[measured & (label == 0)])
        print(f"{name:<44}{score:>6.3f}{answered:>10.3f}{refused:>10.3f}")


if __name__ == "__main__":
    main()
