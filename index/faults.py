"""Fault injection for the crash tests: `VERBATIM_CRASH_AT=<point>` makes the process die with SIGKILL there.

Real crashes are not reproducible on demand; naming the dangerous points lets the tests kill the process
exactly between two writes and then prove that nothing was left half done.
"""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    if os.environ.get("VERBATIM_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
