"""A FAISS index per collection, saved as `<name>.faiss` beside a `<name>.json` manifest.

Vectors are unit length, so inner product equals cosine similarity. The manifest records the model,
dimension, the collection generation the file reflects and the file's sha256; a file from another
generation, or whose content is not the one recorded (swapped, damaged), is rebuilt from the embeddings
kept in SQLite, so a crash between the two writes costs time, never truth. Writers hold `<name>.lock`,
and temporary files a killed writer left behind are removed the next time the index is opened or saved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from verbatim.index.errors import ModelMismatchError
from verbatim.index.faults import crash_point

# faiss and torch each ship an OpenMP runtime whose idle threads spin for about 5 ms after every parallel
# region by default (GOMP_SPINCOUNT=300000). On 2 cores the encoder's spinning thread then holds the
# second core when FAISS searches, and FAISS's when the next question is encoded: 4 to 8 ms a question.
# 10,000 spins still bridge the gaps inside one encode or one search. Each runtime reads the variable
# once, as it loads: faiss's just below, torch's later (index.embedder imports torch lazily). A value
# the user set is kept; no result changes, only who waits for a core.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import faiss  # after the line above, which its OpenMP runtime reads as it loads

try:
    import fcntl
except ImportError:  # not on POSIX: no file locks, leftovers are still removed when no lock is possible
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# 2: the manifest holds the .faiss file's sha256. Format 1 files (no checksum) are still read, checked by
# count and dimension as before, and get a checksum the next time the collection changes.
MANIFEST_FORMAT = 2
_READABLE_FORMATS = {1, 2}
# Exact search is cheap up to here (about 7 ms a query at 100k, 14 ms at 200k, on one core); beyond, HNSW.
FLAT_LIMIT = 200_000
HNSW_M = 32
# Measured at 1M embedding-like vectors (bench/speed.py), recall@10 against exact search / one query:
# efSearch 128: 0.945 / 0.4 ms; 384: 0.976 / 0.9 ms; 512: 0.983 / 1.3 ms; 768: 0.991 / 2.1 ms.
HNSW_EF_SEARCH = 768
HNSW_EF_CONSTRUCTION = 80


@dataclass(frozen=True)
class Manifest:
    model: str
    dim: int
    generation: int
    count: int
    kind: str
    format: int = MANIFEST_FORMAT
    sha256: str | None = None


def _new_index(dim: int, expected_size: int) -> tuple[faiss.Index, str]:
    if expected_size <= FLAT_LIMIT:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), "flat"
    hnsw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    hnsw.hnsw.efSearch = HNSW_EF_SEARCH
    return faiss.IndexIDMap2(hnsw), "hnsw"


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run FAISS on the calling thread alone. For one query its threads cost more than they save: a
    flat search (a BLAS product) takes 0.3 ms on one thread and 1 ms on two at 10k vectors, 7 and 17 ms
    at 100k (2 cores). The setting is per calling thread (OpenMP's nthreads-var), so builds elsewhere
    keep their threads."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


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
            # faiss's Python wrapper takes an id array here; its type stubs know only an IDSelector.
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))  # type: ignore[arg-type]
        self.generation = generation
        return True

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if len(self) == 0 or k <= 0:
            return []
        with _one_thread():
            scores, ids = self._index.search(
                query.reshape(1, -1).astype(np.float32, copy=False), min(k, len(self))
            )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    # -- persistence ------------------------------------------------------------------------------

    def save(self, base: Path) -> None:
        base.parent.mkdir(parents=True, exist_ok=True)
        digest: list[str] = []

        def write_index(tmp: str) -> None:
            faiss.write_index(self._index, tmp)
            digest.append(_sha256(Path(tmp)))

        with _file_lock(base, exclusive=True) as locked:
            if locked:
                remove_leftovers(base)
            # Written by FAISS straight to the file: serialising in memory first would hold two more
            # copies of the index (3 GB more at a million sentences).
            _atomic_write(base.with_suffix(".faiss"), write_index)
            # The new vectors in place under the old manifest: its checksum no longer matches them.
            crash_point("vectors:before-manifest")
            manifest = Manifest(self.model, self.dim, self.generation, len(self), self.kind, sha256=digest[0])
            text = json.dumps(manifest.__dict__, indent=1)
            _atomic_write(
                base.with_suffix(".json"),
                lambda tmp: Path(tmp).write_text(text),
                crash_at="vectors:manifest-before-rename",
            )

    @classmethod
    def load(cls, base: Path, model: str, generation: int, *, read_only: bool = False) -> VectorIndex | None:
        """The saved index when it matches `generation` and its checksum; None when missing, stale,
        damaged or replaced. `read_only`: create and delete nothing."""
        if not read_only:
            with _file_lock(base, exclusive=True, wait=False) as locked:
                if locked:  # no writer is busy with this index: temporary files left are leftovers
                    remove_leftovers(base)
        with _file_lock(base, exclusive=False, create=not read_only):
            return cls._load(base, model, generation)

    @classmethod
    def _load(cls, base: Path, model: str, generation: int) -> VectorIndex | None:
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
        if manifest.generation != generation or manifest.format not in _READABLE_FORMATS:
            return None
        path = base.with_suffix(".faiss")
        if manifest.format >= 2:
            try:
                actual = _sha256(path)
            except OSError:
                return None
            if actual != manifest.sha256:
                log.warning("the vector index %s is not the one its manifest records; rebuilding it", path)
                return None
        try:
            index = faiss.read_index(str(path))  # no in-memory copy of the file
        except (OSError, RuntimeError):
            log.warning("unreadable vector index %s; rebuilding it", base)
            return None
        if index.ntotal != manifest.count or index.d != manifest.dim:
            return None
        if manifest.kind == "hnsw":
            faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH  # type: ignore[attr-defined]
        return cls(model, manifest.dim, generation, index, manifest.kind)


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def leftovers(base: Path) -> list[Path]:
    """Temporary files of `base`'s index that an interrupted save left (see `_atomic_write`)."""
    if not base.parent.is_dir():
        return []
    found: list[Path] = []
    for suffix in (".faiss", ".json"):
        found.extend(base.parent.glob(f"{base.name}{suffix}*.tmp"))
    return found


def remove_leftovers(base: Path) -> None:
    """Delete them; call only while holding `base`'s lock (or where no lock can be had)."""
    for path in leftovers(base):
        try:
            path.unlink(missing_ok=True)
            log.info("removed %s, left by an interrupted save", path)
        except OSError:  # a read-only directory: nothing to be done about it here
            return


@contextmanager
def _file_lock(base: Path, *, exclusive: bool, wait: bool = True, create: bool = True) -> Iterator[bool]:
    """`<base>.lock`, held across processes while the block runs. Yields whether it is held: not where
    there is no lock file and none may be made (`create=False`, a read-only directory), nor
    (`wait=False`) while another process holds it."""
    if fcntl is None:
        yield True  # no POSIX file locks here: go ahead unlocked
        return
    path = base.with_suffix(".lock")
    fd = -1
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY) if create else (os.O_RDONLY,):
        try:
            fd = os.open(path, flags, 0o644)
            break
        except OSError:
            continue
    if fd < 0:
        yield False
        return
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, mode if wait else mode | fcntl.LOCK_NB)
        except OSError:  # held elsewhere (LOCK_NB), or a file system without locks
            locked = False
        else:
            locked = True
        yield locked
    finally:
        os.close(fd)  # which releases the lock


def _atomic_write(
    path: Path, write: Callable[[str], object], crash_at: str = "vectors:before-rename"
) -> None:
    """`write(temporary path)`, fsync, then rename over `path`: readers see the old file or the new one.
    `crash_at` names the moment between the two for the crash tests (index.faults)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        crash_point(crash_at)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
