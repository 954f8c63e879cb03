"""Relocate: carry a cube from region A to region B (forward) or from B back to A (backward).

The two directions make a forward task and its reset task, so that reset-free training can
alternate a forward and a backward policy without anyone placing the object by hand.
"""

from __future__ import annotations

import numpy as np

from robokit.envs.tasks.base import SimTask, reach_progress
from robokit.envs.tasks.told import PLACE_INSTRUCTIONS, pick_and_place_step
from robokit.types import RobotState, SafetyBox

OBJECT_HALF = 0.02
REGIONS = {"a": np.array([0.5, -0.15]), "b": np.array([0.5, 0.15])}
REGION_RADIUS = 0.05
START_SPREAD = 0.025
# The tray's floor, where the cube's centre can be (the rim's inner faces less half the cube), and
# the TCP's box: over all of that floor, so that a cube anywhere on it can be grasped, and never low
# enough (fingertips 5 mm below the TCP) for an open finger reaching past the 1.4 cm rim to catch it.
SCATTER_LOW, SCATTER_HIGH = np.array([0.31, -0.27]), np.array([0.65, 0.27])
TCP_BOX = SafetyBox(low=(0.3, -0.27, 0.025), high=(0.65, 0.27, 0.55))  # home is inside
DIRECTIONS = {"forward": ("a", "b"), "backward": ("b", "a")}


class Relocate(SimTask):
    name = "Relocate"
    scene_file = "relocate.xml"
    start_tcp = (0.5, 0.0, 0.2)
    object_state_dim = 5
    safety_box = TCP_BOX
    instructions = PLACE_INSTRUCTIONS  # pick, carry, lower, let go; fine corrections (tasks/told.py)

    def __init__(self, direction: str = "forward", scatter: bool = False) -> None:
        super().__init__()
        self.direction = self._check_direction(direction)
        self.scatter = scatter

    @staticmethod
    def _check_direction(direction: str) -> str:
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}: use 'forward' or 'backward'.")
        return direction

    @property
    def goal_xy(self) -> np.ndarray:
        return REGIONS[DIRECTIONS[self.direction][1]]

    def reset(self, rng, options) -> None:
        """Options: direction ('forward'/'backward'); keep_objects=True leaves the cube where it is."""
        if "direction" in options:
            self.direction = self._check_direction(options["direction"])
        super().reset(rng, options)

    def place_objects(self, rng, options) -> None:
        """The cube near the start region's centre; with `scatter`, anywhere on the tray's floor outside
        the goal region (demos for reset-free training, whose episodes start wherever the last one
        left the cube)."""
        if self.scatter:
            xy = self.goal_xy
            while np.linalg.norm(xy - self.goal_xy) <= 2 * REGION_RADIUS:
                xy = rng.uniform(SCATTER_LOW, SCATTER_HIGH)
        else:
            xy = REGIONS[DIRECTIONS[self.direction][0]] + rng.uniform(-START_SPREAD, START_SPREAD, size=2)
        self.world.set_free_body("object", np.array([xy[0], xy[1], OBJECT_HALF]))

    def object_pos(self) -> np.ndarray:
        return self.world.body_pos("object")

    def object_state(self) -> np.ndarray:
        return np.concatenate([self.object_pos(), self.goal_xy])

    def in_region(self, region: str) -> bool:
        """Whether the cube rests on the table inside `region` ('a' or 'b')."""
        pos = self.object_pos()
        near = float(np.linalg.norm(pos[:2] - REGIONS[region])) <= REGION_RADIUS
        return near and bool(pos[2] <= OBJECT_HALF + 0.01)

    def success(self) -> bool:
        return self.in_region(DIRECTIONS[self.direction][1])

    def instruction(self) -> str:
        """The pick and place's step to run now, read from the simulator (the annotation of demos)."""
        return pick_and_place_step(self.tcp_pos(), self.object_pos(), self.goal_xy)

    def dense_reward(self, robot: RobotState) -> float:
        if self.success():
            return 1.0
        obj = self.object_pos()
        reach = reach_progress(float(np.linalg.norm(robot.tcp_pos - obj)))
        carry = reach_progress(float(np.linalg.norm(obj[:2] - self.goal_xy)), scale=5.0)
        return float(0.2 * reach + 0.7 * carry)
