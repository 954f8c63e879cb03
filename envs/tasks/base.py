"""What a task is to FrankaEnv: a reset distribution, an object observation, a success flag, a reward."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from robokit.envs.sim.scene import ASSETS
from robokit.types import RobotState, SafetyBox


class Task(ABC):
    """A manipulation task. Simulated tasks read the MuJoCo world; real ones read classifiers."""

    name: str
    uses_gripper: bool = True
    fixed_gripper: float = 0.0
    """Gripper closure sent every step when the policy does not control the gripper."""
    object_state_dim: int = 0
    recolourable: tuple[str, ...] = ()
    """Geoms whose colour visual randomisation may vary (envs/sim/looks.py); none whose colour
    carries meaning (PackCubes' red and blue)."""
    start_tcp: tuple[float, float, float] | None = None
    """Where each episode starts the TCP (the arm drives there from home at reset); None: at home."""
    start_spread: float = 0.03
    """Half-width (m) of the uniform random offset added to `start_tcp` in x and y."""
    safety_box: SafetyBox | None = None
    """The box a simulated task confines the TCP to (its cell's workspace); None: the arm's default.
    On the real arm the box is robot.yaml's."""

    @abstractmethod
    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Place the scene for a new episode (the arm is already home)."""

    @abstractmethod
    def object_state(self) -> np.ndarray:
        """Privileged object features for the state variant of the task."""

    @abstractmethod
    def success(self) -> bool: ...

    @abstractmethod
    def dense_reward(self, robot: RobotState) -> float:
        """A shaped reward in [0, 1], 1 only on success."""


class SimTask(Task):
    """A task whose scene is an MJCF file in the assets folder and whose truth is the MuJoCo state."""

    scene_file: str

    def __init__(self) -> None:
        self.world = None

    @property
    def scene_xml(self) -> Path:
        return ASSETS / self.scene_file

    def customize(self, spec: mujoco.MjSpec) -> None:
        """Edit the assembled scene before it compiles (e.g. put a tool in the hand)."""

    def bind(self, world) -> None:
        self.world = world

    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Reset the whole simulation (so that a seed fixes the episode), then place the objects.

        With options["keep_objects"] the objects stay where the last episode left them, which is
        what reset-free training needs.
        """
        keep = bool(options.get("keep_objects", False))
        self.world.reset(keep_free_bodies=keep)
        if not keep:
            self.place_objects(rng, options)

    @abstractmethod
    def place_objects(self, rng: np.random.Generator, options: dict[str, Any]) -> None: ...

    def tcp_pos(self) -> np.ndarray:
        return self.world.data.site_xpos[self.world.tcp_site].copy()


def reach_progress(distance: float, scale: float = 10.0) -> float:
    """1 at zero distance, falling smoothly towards 0 as the distance grows."""
    return float(1.0 - np.tanh(scale * distance))
