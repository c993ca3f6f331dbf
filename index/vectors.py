"""A FAISS index per collection, saved as `<name>.faiss` beside a `<name>.json` manifest.

Vectors are unit length, so inner product equals cosine similarity. The manifest records the model,
dimension and the collection generation the file reflects; a file from another generation is stale and
is rebuilt from the embeddings kept in SQLite, so a crash between the two writes costs time, never truth.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from index.errors import ModelMismatchError

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
# Exact search is cheap up to here (about 20 ms a query at 100k on 2 cores); beyond, HNSW.
FLAT_LIMIT = 200_000
HNSW_M = 32
HNSW_EF_SEARCH = 128
HNSW_EF_CONSTRUCTION = 80


@dataclass(frozen=True)
class Manifest:
    model: str
    dim: int
    generation: int
    count: int
    kind: str
    format: int = MANIFEST_FORMAT


def _new_index(dim: int, expected_size: int) -> tuple[faiss.Index, str]:
    if expected_size <= FLAT_LIMIT:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), "flat"
    hnsw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    hnsw.hnsw.efSearch = HNSW_EF_SEARCH
    return faiss.IndexIDMap2(hnsw), "hnsw"


class VectorIndex:
    def __init__(self, model: str, dim: int, generation: int, index: faiss.Index, kind: str) -> None:
        self.model = model
        self.dim = dim
        self.generation = generation
        self._index = index
        self.kind = kind

    @classmethod
    def build(
        cls, model: str, dim: int, generation: int, ids: np.ndarray, vectors: np.ndarray
    ) -> VectorIndex:
        index, kind = _new_index(dim, len(ids))
        if len(ids):
            index.add_with_ids(vectors, ids)
        return cls(model, dim, generation, index, kind)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: list[int], vectors: np.ndarray, generation: int) -> None:
        if ids:
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )
        self.generation = generation

    def remove(self, ids: list[int], generation: int) -> bool:
        """Drop vectors; False when this index type cannot remove and must be rebuilt instead."""
        if self.kind != "flat":
            return False
        if ids:
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))
        self.generation = generation
        return True

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if len(self) == 0 or k <= 0:
            return []
        scores, ids = self._index.search(
            query.reshape(1, -1).astype(np.float32, copy=False), min(k, len(self))
        )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    # -- persistence ------------------------------------------------------------------------------

    def save(self, base: Path) -> None:
        base.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(base.with_suffix(".faiss"), faiss.serialize_index(self._index).tobytes())
        manifest = Manifest(self.model, self.dim, self.generation, len(self), self.kind)
        _atomic_write(base.with_suffix(".json"), json.dumps(manifest.__dict__, indent=1).encode())

    @classmethod
    def load(cls, base: Path, model: str, generation: int) -> VectorIndex | None:
        """The saved index when it matches `generation`; None when missing, stale or unreadable."""
        try:
            raw = json.loads(base.with_suffix(".json").read_text())
            manifest = Manifest(**raw)
        except (OSError, ValueError, TypeError):
            return None
        if manifest.model != model:
            raise ModelMismatchError(
                f"The vector index {base.name} was built with the model {manifest.model!r}, not {model!r}.",
                "Use the model it was built with (VERBATIM_MODEL) or another --data-dir.",
            )
        if manifest.generation != generation or manifest.format != MANIFEST_FORMAT:
            return None
        try:
            data = np.frombuffer(base.with_suffix(".faiss").read_bytes(), dtype=np.uint8)
            index = faiss.deserialize_index(data)
        except (OSError, RuntimeError):
            log.warning("unreadable vector index %s; rebuilding it", base)
            return None
        if index.ntotal != manifest.count or index.d != manifest.dim:
            return None
        if manifest.kind == "hnsw":
            faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH
        return cls(model, manifest.dim, generation, index, manifest.kind)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
