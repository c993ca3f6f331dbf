"""The arithmetic the bundled reader reads in (`VERBATIM_READER_PRECISION`). Kept apart from the reader,
with nothing but the standard library, so the settings can name it without importing torch."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Precision = Literal["auto", "float32", "bfloat16", "int8"]
CPU_FLAGS = Path("/proc/cpuinfo")


def native_bfloat16(cpuinfo: Path = CPU_FLAGS) -> bool:
    """Whether this CPU computes bfloat16 products in hardware (AMX or AVX-512 BF16). Read from the
    kernel's flags rather than torch, so naming the reader never imports torch; elsewhere than Linux,
    no."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return not {"amx_bf16", "avx512_bf16"}.isdisjoint(value.split())
    return False


def resolve_precision(precision: Precision) -> Literal["float32", "bfloat16", "int8"]:
    """`auto` reads in bfloat16 where the CPU has it natively (as fast as int8 there, and within a few
    hundredths of float32's readings), else in float32; the answer thresholds are fitted on these
    readings. int8 is faster where bfloat16 is not native but reads up to a logit away (README)."""
    if precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return precision
