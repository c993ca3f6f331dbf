"""Deterministic test doubles for the model boundary (not mocks: they behave like an embedder)."""

from __future__ import annotations

import hashlib

import numpy as np
from verbatim.index.text import words


class HashingEmbedder:
    """Bag-of-words vectors from hashed tokens: similar wording gives similar vectors, instantly.

    It records every batch it was asked to embed, so tests can check that work is not repeated.
    """

    def __init__(self, name: str = "test/hashing", dim: int = 64) -> None:
        self.name = name
        self._dim = dim
        self.batches: list[list[str]] = []

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in words(text) or ["<empty>"]:
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[row, bucket % self._dim] += 1.0
            out[row] /= np.linalg.norm(out[row])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


# Two short articles written for the tests, about unrelated things.
BRIDGE = (
    "Harbour bridge closes for repairs\n"
    "The city council closed the harbour bridge on Monday after engineers found cracks in two steel cables. "
    "Repairs are expected to take six weeks and cost 4.2 million euros.\n"
    "Ferries will run every ten minutes while the bridge is shut."
)
ORCHESTRA = (
    "Orchestra names new conductor\n"
    "The national orchestra appointed Maria Lindqvist as its principal conductor. "
    "She will lead her first concert in September at the opera house.\n"
    "Tickets go on sale next week."
)
