"""Runs `robokit ...` as a user does: a fresh interpreter, output captured."""

from __future__ import annotations

import os
import subprocess
import sys


def robokit(*args, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "300"}  # rich wraps at 80 columns without a terminal
    return subprocess.run(
        [sys.executable, "-m", "robokit.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
    )
