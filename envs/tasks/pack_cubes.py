"""PackCubes: put the red cube, then the blue cube, into the bin: a task in stages, told in words.

Its instructions are the skills a language-conditioned policy runs (YAY Robot's low level): "pick up
the red cube", "pick up the blue cube", "put it in the bin", and the fine corrections an operator
says ("move a bit to the left", "go lower", "open the gripper", ...). `instruction()` is what should
be done now, read from the simulator (the annotation of demos, and a perfect high-level policy).
Directions are the robot's: forward is +x (away from the base), left is +y, lower is -z.

Success needs both cubes resting in the bin, the red one first: a blue cube packed first fails the
episode's order (an operator's "pick up the red cube" is what saves it). `task.order` is the order
wanted; a user who wants the blue cube first today sets it to ("blue", "red"): a hierarchy trained
on red-first demos then fails until told otherwise (examples/language_corrections.py --order).
"""

from __future__ import annotations

import numpy as np

from robokit.envs.tasks.base import SimTask, reach_progress
from robokit.envs.tasks.told import CORRECTION_STEPS, GRIPPER, MOVES
from robokit.types import RobotState, SafetyBox

CUBE_HALF = 0.02
ORDER = ("red", "blue")
BIN_XY = np.array([0.5, 0.17])
BIN_INNER = 0.07  # half the bin's inside width
BIN_WALL = 0.03
CUBES_LOW, CUBES_HIGH = np.array([0.4, -0.2]), np.array([0.6, 0.02])
TCP_BOX = SafetyBox(low=(0.33, -0.25, 0.01), high=(0.65, 0.27, 0.4))
HELD_HEIGHT = 0.035  # a cube's centre above this, near the fingers, is held

PICK = {cube: f"pick up the {cube} cube" for cube in ORDER}
PLACE = "put it in the bin"
SKILLS = (*PICK.values(), PLACE)
INSTRUCTIONS = (*SKILLS, *MOVES, *GRIPPER)
SKILL_CORRECTION_STEPS = 40


def correction_steps(instruction: str) -> int:
    """How long an operator's correction runs: a fine one "a bit", a skill for 4 s, about what a pick
    takes from the hover (then the high-level policy, having seen it done or well started, takes
    over; at 2 s an instructor that prefers the other cube turned back to it mid-pick)."""
    return SKILL_CORRECTION_STEPS if instruction in SKILLS else CORRECTION_STEPS


class PackCubes(SimTask):
    name = "PackCubes"
    scene_file = "pack_cubes.xml"
    start_tcp = (0.5, -0.05, 0.2)
    object_state_dim = 6
    safety_box = TCP_BOX
    instructions = INSTRUCTIONS

    def __init__(self) -> None:
        super().__init__()
        self.packed: list[str] = []  # cubes in the order they came to rest in the bin
        self.order: tuple[str, ...] = ORDER

    def place_objects(self, rng, options) -> None:
        self.packed = []
        red = rng.uniform(CUBES_LOW, CUBES_HIGH)
        blue = red
        while np.linalg.norm(blue - red) < 0.08:  # apart enough for the fingers between them
            blue = rng.uniform(CUBES_LOW, CUBES_HIGH)
        self.world.set_free_body("red", np.array([red[0], red[1], CUBE_HALF]))
        self.world.set_free_body("blue", np.array([blue[0], blue[1], CUBE_HALF]))

    def cube_pos(self, cube: str) -> np.ndarray:
        return self.world.body_pos(cube)

    def object_state(self) -> np.ndarray:
        return np.concatenate([self.cube_pos("red"), self.cube_pos("blue")])

    def in_bin(self, cube: str) -> bool:
        pos = self.cube_pos(cube)
        inside = bool(np.all(np.abs(pos[:2] - BIN_XY) < BIN_INNER - CUBE_HALF + 0.005))
        return inside and pos[2] < BIN_WALL + CUBE_HALF

    def update(self) -> None:
        """Note cubes that have come to rest in the bin (called after each step)."""
        for cube in self.order:
            if cube not in self.packed and self.in_bin(cube):
                self.packed.append(cube)

    def success(self) -> bool:
        self.update()
        return self.packed == list(self.order)

    def next_cube(self) -> str | None:
        self.update()
        return next((cube for cube in self.order if cube not in self.packed), None)

    def held(self, cube: str) -> bool:
        pos = self.cube_pos(cube)
        return bool(pos[2] > HELD_HEIGHT and np.linalg.norm(pos - self.tcp_pos()) < 0.03)

    def instruction(self) -> str:
        """The skill to run now: pick the next cube in order, or put the held one in the bin."""
        cube = self.next_cube() or self.order[-1]
        return PLACE if self.held(cube) else PICK[cube]

    def dense_reward(self, robot: RobotState) -> float:
        if self.success():
            return 1.0
        cube = self.next_cube() or self.order[-1]
        pos = self.cube_pos(cube)
        reach = reach_progress(float(np.linalg.norm(robot.tcp_pos - pos)))
        carry = reach_progress(float(np.linalg.norm(pos[:2] - BIN_XY)), scale=5.0)
        stage = len(self.packed) if self.packed == list(self.order[: len(self.packed)]) else 0
        return float((stage + 0.2 * reach + 0.6 * carry) / (len(self.order) + 1))
