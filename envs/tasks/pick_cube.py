"""PickCube: lift a 4 cm cube at least 5 cm off the table (SERL's franka_sim PickCube)."""

from __future__ import annotations

import numpy as np

from robokit.envs.tasks.base import SimTask, reach_progress
from robokit.envs.tasks.told import PICK_INSTRUCTIONS, pick_step
from robokit.types import RobotState

CUBE_HALF = 0.02
LIFT_HEIGHT = 0.05
CUBE_X, CUBE_Y = (0.42, 0.58), (-0.12, 0.12)


class PickCube(SimTask):
    name = "PickCube"
    scene_file = "pick_cube.xml"
    start_tcp = (0.5, 0.0, 0.2)
    object_state_dim = 3
    recolourable = ("cube",)
    instructions = PICK_INSTRUCTIONS  # the pick's steps and the fine corrections (envs/tasks/told.py)

    def place_objects(self, rng, options) -> None:
        xy = rng.uniform((CUBE_X[0], CUBE_Y[0]), (CUBE_X[1], CUBE_Y[1]))
        self.world.set_free_body("cube", np.array([xy[0], xy[1], CUBE_HALF]))

    def cube_pos(self) -> np.ndarray:
        return self.world.body_pos("cube")

    def object_state(self) -> np.ndarray:
        return self.cube_pos()

    def success(self) -> bool:
        return bool(self.cube_pos()[2] >= CUBE_HALF + LIFT_HEIGHT)

    def instruction(self) -> str:
        """The pick's step to run now, read from the simulator (the annotation of demos)."""
        return pick_step(self.tcp_pos(), self.cube_pos())

    def dense_reward(self, robot: RobotState) -> float:
        if self.success():
            return 1.0
        cube = self.cube_pos()
        reach = reach_progress(float(np.linalg.norm(robot.tcp_pos - cube)))
        lift = np.clip((cube[2] - CUBE_HALF) / LIFT_HEIGHT, 0.0, 1.0)
        return float(0.3 * reach + 0.6 * lift)
