"""`robokit train`'s launcher options (no Ray imported here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FIELDS = ("launcher", "ray_address", "learner_gpus", "learner_cpus", "actor_cpus", "actor_restarts")


@dataclass(frozen=True)
class LaunchFlags:
    launcher: Literal["local", "ray"] = "local"
    """Where the learner and its --actors run: processes on this machine, or Ray actors placed by
    Ray on a Ray cluster (pip install 'robokit[ray]'); the data go over robokit's link either way."""
    ray_address: str | None = None
    """--launcher ray: an existing cluster (the address `ray start --head` prints, or 'auto');
    default: a local Ray cluster started for this run and stopped after it."""
    learner_gpus: float = 0.0
    """--launcher ray: GPUs the learner asks Ray for (it is placed on a machine that has them)."""
    learner_cpus: float = 1.0
    actor_cpus: float = 0.5
    """--launcher ray: CPUs each actor asks Ray for (a 10 Hz simulated actor uses about half a core)."""
    actor_restarts: int = 3
    """--launcher ray: how often Ray restarts an actor whose process dies."""
