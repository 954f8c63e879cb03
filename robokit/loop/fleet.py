"""Actor processes that `robokit train` starts on this machine, and restarts if one dies.

Each actor is `robokit actor ...` in its own process, with its own spool folder and log file; it
exits with the learner's process (see `exit_with_parent`), so no orphan keeps a spool folder busy.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from robokit.loop.build import ActorOptions

PERMANENT_EXIT = 2  # the actor's own one-sentence error (e.g. refused): restarting will not help
MAX_RESTARTS = 3


PARENT_VARIABLE = "ROBOKIT_EXIT_WITH_PARENT"


def exit_with_parent() -> None:
    """In an actor started by ActorProcesses: get SIGTERM when the learner's process dies.
    (Set here, in the child, so the parent can spawn without a fork that JAX's threads dislike.)"""
    parent = os.environ.get(PARENT_VARIABLE)
    if parent is None or sys.platform != "linux":
        return
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


class ActorProcesses:
    """One `robokit actor` process per ActorOptions (robokit.loop.build), each building its actor
    with `build_actor`."""

    def __init__(self, actors: list[ActorOptions], log_dir: Path):
        self.commands = [options.argv() for options in actors]
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.restarts = [0] * len(actors)
        self.processes: list[subprocess.Popen | None] = [self._start(i) for i in range(len(actors))]

    def _start(self, index: int) -> subprocess.Popen:
        log = open(self.log_dir / f"actor_{index}.log", "ab")  # noqa: SIM115 (owned by the child)
        return subprocess.Popen(
            [sys.executable, "-m", "robokit.cli", "actor", *self.commands[index]],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, PARENT_VARIABLE: str(os.getpid())},
        )

    def check(self) -> list[str]:
        """Restart actors that died (up to MAX_RESTARTS each); lines saying what happened."""
        lines = []
        for i, process in enumerate(self.processes):
            if process is None or process.poll() is None:
                continue
            code = process.returncode
            log = self.log_dir / f"actor_{i}.log"
            if code == 0:  # it finished its steps, or an operator stopped it: not a failure
                lines.append(f"actor {i} stopped (exit code 0) and stays down")
                self.processes[i] = None
            elif code == PERMANENT_EXIT or self.restarts[i] >= MAX_RESTARTS:
                last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                lines.append(f"actor {i} exited with code {code} and stays down: {last[0]}")
                self.processes[i] = None
            else:
                self.restarts[i] += 1
                lines.append(f"actor {i} exited with code {code}: restarting it ({self.restarts[i]}/3)")
                self.processes[i] = self._start(i)
        return lines

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM every actor (each flushes its spool), then SIGKILL what is left after the timeout."""
        live = [p for p in self.processes if p is not None and p.poll() is None]
        for process in live:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in live:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = [None] * len(self.processes)
