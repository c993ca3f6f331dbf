"""Fault injection for the crash tests: `VERBATIM_CRASH_AT=<point>` makes the process die with SIGKILL there.

Real crashes are not reproducible on demand; naming the dangerous points lets the tests kill the process
exactly between two writes and then prove that nothing was left half done.
"""

from __future__ import annotations

import os
import signal

# Every point a write passes, in the order an add passes them; tests/test_faults.py kills at each.
CRASH_POINTS = (
    "meta:after-model",  # the first add records the model, then its dimension
    "add:before-commit",  # an article's rows written, the transaction not committed
    "add:after-commit",  # committed, the vector file not saved
    "delete:before-commit",
    "delete:after-commit",
    "rebuild:before-save",  # vectors rebuilt from SQLite in memory, nothing written
    "vectors:before-rename",  # the .faiss temporary file written and synced, not renamed
    "vectors:before-manifest",  # the new .faiss in place, the old manifest still beside it
    "vectors:manifest-before-rename",  # the manifest's temporary file written, not renamed
)


def crash_point(name: str) -> None:
    if os.environ.get("VERBATIM_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
