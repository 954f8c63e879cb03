"""PegInsert: push a held 24 mm square peg 20 mm deep into a hole with 2.5 mm clearance per side."""

from __future__ import annotations

import mujoco
import numpy as np

from robokit.envs.tasks.base import SimTask, reach_progress
from robokit.types import RobotState

PEG_HALF = 0.012
PEG_HALF_LENGTH = 0.03
HOLE_HALF = 0.0145
INSERT_DEPTH = 0.02
BOARD_X, BOARD_Y = (0.45, 0.58), (-0.08, 0.08)


class PegInsert(SimTask):
    name = "PegInsert"
    scene_file = "peg_insert.xml"
    start_tcp = (0.51, 0.0, 0.2)
    object_state_dim = 3
    uses_gripper = False
    # Closes the fingers onto the peg's 24 mm: opening per finger 0.04 * (1 - 0.7) = 12 mm.
    fixed_gripper = 0.7

    def customize(self, spec: mujoco.MjSpec) -> None:
        # The peg is part of the hand (held rigidly, as SERL's insertion tasks hold their part);
        # its centre is the TCP, so its tip is PEG_HALF_LENGTH below the TCP.
        # The scene's main default, not the hand's class, whose material names the attach prefixed.
        peg = spec.body("fr3_hand").add_geom(spec.find_default("main"))
        peg.name = "peg"
        peg.type = mujoco.mjtGeom.mjGEOM_BOX
        peg.size = [PEG_HALF, PEG_HALF, PEG_HALF_LENGTH]
        peg.pos = [0.0, 0.0, 0.1034]
        peg.mass = 0.05
        peg.rgba = [0.9, 0.6, 0.1, 1.0]

    def place_objects(self, rng, options) -> None:
        xy = rng.uniform((BOARD_X[0], BOARD_Y[0]), (BOARD_X[1], BOARD_Y[1]))
        self.world.set_mocap("board", np.array([xy[0], xy[1], 0.0]))

    def hole_pos(self) -> np.ndarray:
        return self.world.data.site("hole").xpos.copy()

    def peg_tip(self) -> np.ndarray:
        return self.tcp_pos() - np.array([0.0, 0.0, PEG_HALF_LENGTH])

    def object_state(self) -> np.ndarray:
        return self.hole_pos()

    def success(self) -> bool:
        tip, hole = self.peg_tip(), self.hole_pos()
        inside = bool(np.all(np.abs(tip[:2] - hole[:2]) < HOLE_HALF))
        return inside and bool(tip[2] <= hole[2] - INSERT_DEPTH)

    def dense_reward(self, robot: RobotState) -> float:
        if self.success():
            return 1.0
        target = self.hole_pos() - np.array([0.0, 0.0, INSERT_DEPTH])
        return 0.9 * reach_progress(float(np.linalg.norm(self.peg_tip() - target)), scale=5.0)
