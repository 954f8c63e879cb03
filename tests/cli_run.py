"""Runs `robokit ...` as a user does: a fresh interpreter, output captured."""

from __future__ import annotations

import subprocess
import sys


def robokit(*args, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "robokit.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )
