"""What robokit's tasks are told, in words: the fine corrections every instructed task shares, and the
steps of a pick (PickCube) or a pick and place (Relocate), read from the simulator's state.

The steps are annotations, as PackCubes' instruction() is: what should be done now, said the way an
operator would (YAY Robot's low-level skills). `robokit record --instructed --env PickCube-v0` keeps
them per step (infos["instruction_id"], the index in the task's `instructions`) and the observation
carries their embedding, so a low level and an instructor train on PickCube and Relocate as they do
on PackCubes. Directions are the robot's: forward is +x, left is +y, lower is -z.
"""

from __future__ import annotations

import numpy as np

#: fine corrections: the TCP's motion (action units; 0.25 moves 0.75 cm a step) while one is in force
MOVES = {
    "move a bit to the left": (0.0, 0.25, 0.0),
    "move a bit to the right": (0.0, -0.25, 0.0),
    "move a bit forward": (0.25, 0.0, 0.0),
    "move a bit back": (-0.25, 0.0, 0.0),
    "go lower": (0.0, 0.0, -0.25),
    "go higher": (0.0, 0.0, 0.25),
}
#: control steps a fine correction runs for: 4 x 0.75 cm = 3 cm, "a bit" (one action chunk of the
#: flow policy, robokit.agents.ogpo: a correction said at a chunk's start fills it)
CORRECTION_STEPS = 4
GRIPPER = {"open the gripper": -1.0, "close the gripper": 1.0}

APPROACH, DESCEND, LIFT = "move above the cube", "go down to the cube", "lift the cube"
CARRY, LOWER = "carry it to the goal", "put it down"
GRASP, RELEASE = "close the gripper", "open the gripper"
PICK_STEPS = (APPROACH, DESCEND, GRASP, LIFT)
PLACE_STEPS = (CARRY, LOWER, RELEASE)
PICK_INSTRUCTIONS = (*PICK_STEPS, RELEASE, *MOVES)
PLACE_INSTRUCTIONS = (*PICK_STEPS, *PLACE_STEPS, *MOVES)

CUBE_HALF = 0.02
CARRY_HEIGHT = 0.12  # the scripted experts carry at this TCP height (envs/experts.py)


def pick_step(tcp: np.ndarray, cube: np.ndarray) -> str:
    """Where a pick stands: across above the cube, down around it, close on it, lift it."""
    held = cube[2] > CUBE_HALF + 0.01 and float(np.linalg.norm(cube - tcp)) < 0.03
    if held:
        return LIFT
    if float(np.linalg.norm((tcp - cube)[:2])) > 0.015:
        return APPROACH
    return DESCEND if tcp[2] - cube[2] > 0.008 else GRASP


def pick_and_place_step(tcp: np.ndarray, cube: np.ndarray, goal_xy: np.ndarray) -> str:
    """Where a pick and place stands: the pick's steps, then carry over the goal, lower, let go."""
    over_goal = float(np.linalg.norm(cube[:2] - goal_xy)) < 0.02
    if over_goal and cube[2] < CUBE_HALF + 0.01:  # set down: let go (and the episode ends)
        return RELEASE
    step = pick_step(tcp, cube)
    if step != LIFT:
        return step
    if over_goal:
        return LOWER
    return CARRY if tcp[2] > CARRY_HEIGHT - 0.02 else LIFT
