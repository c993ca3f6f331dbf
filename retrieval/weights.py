"""The fitted weights, as data: `weights.json`, rewritten by `bench/quality.py --tune` and read only here.

It holds the ranker (a weight per model feature), the ranker-only answerability model and its
thresholds, and the reading stage (`retrieval.reading.ReadingModel`'s fields). Refitting writes the file
and clears the cache, so everything reads the new weights on its next call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

WEIGHTS_FILE = Path(__file__).with_name("weights.json")


@dataclass(frozen=True)
class Fitted:
    ranker: Mapping[str, float]
    ranker_bias: float
    answer: Mapping[str, float]  # the ranker-only answerability model (no reader)
    answer_bias: float
    min_confidence: float  # answer from this answerability (no reader)
    min_lead_confidence: float  # below it, show the closest passage from this one
    reading: Mapping[str, float] = field(default_factory=dict)  # ReadingModel's fitted fields


@lru_cache(maxsize=1)
def fitted() -> Fitted:
    return Fitted(**json.loads(WEIGHTS_FILE.read_text(encoding="utf-8")))


def save(weights: Fitted) -> None:
    data = asdict(weights)
    WEIGHTS_FILE.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    fitted.cache_clear()
