"""Which arithmetic the bundled reader reads in: decided from the CPU's flags, named in the answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from verbatim.index.precision import native_bfloat16, resolve_precision
from verbatim.index.reader import BundledReader

INTEL_WITH_AMX = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n\n"
OLDER_X86 = "processor\t: 0\nbogomips\t: 4000.00\n\nflags\t\t: fpu sse sse2 avx avx2 fma\n"


@pytest.mark.parametrize(("cpuinfo", "native"), [(INTEL_WITH_AMX, True), (OLDER_X86, False)])
def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path: Path, cpuinfo: str, native: bool) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    assert native_bfloat16(path) is native


def test_no_cpu_flags_to_read_means_float32(tmp_path: Path) -> None:
    assert native_bfloat16(tmp_path / "absent") is False


def test_an_explicit_precision_is_kept_and_auto_picks_a_float() -> None:
    assert resolve_precision("int8") == "int8"
    assert resolve_precision("float32") == "float32"
    assert resolve_precision("auto") in {"float32", "bfloat16"}


def test_the_reader_name_says_its_precision_without_loading_it(tmp_path: Path) -> None:
    weights = tmp_path / "reader.safetensors"
    weights.write_bytes(b"not really weights")
    reader = BundledReader(weights, precision="int8")
    assert reader.name.startswith("verbatim-reader-minilm@") and reader.name.endswith("-int8")
    assert BundledReader(weights, precision="float32").name != reader.name
