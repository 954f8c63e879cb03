"""Scripted experts: state machines that solve each task from the simulator's true object poses.

They read the task's privileged state (env.unwrapped.task), so they serve the state and the Vision
variants alike. They are for recording demonstrations and for checking that each task is solvable.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from robokit.envs.tasks import PackCubes, PegInsert, PickCube, Relocate
from robokit.envs.tasks import pack_cubes as pc
from robokit.envs.tasks.told import GRIPPER, MOVES

OPEN, CLOSE = -1.0, 1.0


def toward(tcp: np.ndarray, target: np.ndarray, action_scale: float, max_speed: float = 1.0) -> np.ndarray:
    """The displacement action that moves the TCP to `target`, at most `max_speed` of full scale."""
    return np.clip((target - tcp) / action_scale, -max_speed, max_speed)


class ScriptedExpert:
    """Base: tracks a phase and how long the policy has been in it."""

    def __init__(self, env, noise: float = 0.0, seed: int | None = None):
        self.env = env.unwrapped
        self.task = self.env.task
        self.scale = self.env.config.action_scale
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.has_gripper = env.action_space.shape[0] > 3  # PegInsert's peg is held fast: no gripper
        self.reset()

    def reset(self) -> None:
        self.phase, self.steps_in_phase = 0, 0
        self.told, self.told_steps, self.last_grip = None, 0, OPEN

    def goto(self, phase: int) -> None:
        self.phase, self.steps_in_phase = phase, 0

    def follow(self, instruction: str, steps: int) -> None:
        """Run a fine correction (a move, or the gripper) for the next `steps` actions, then go on
        where the script was (a dropped object is seen and picked again)."""
        if instruction not in MOVES and instruction not in GRIPPER:
            raise ValueError(f"{type(self).__name__} follows the fine corrections only, not {instruction!r}.")
        self.told, self.told_steps = instruction, steps

    def __call__(self, obs=None) -> np.ndarray:
        if self.told is not None:
            grip = [GRIPPER.get(self.told, self.last_grip)] if self.has_gripper else []
            action = np.array([*MOVES.get(self.told, (0.0, 0.0, 0.0)), *grip])
            self.told_steps -= 1
            self.told = self.told if self.told_steps > 0 else None
        else:
            action = self.act(self.task.tcp_pos())
            self.steps_in_phase += 1
        self.last_grip = float(action[3]) if self.has_gripper else OPEN
        if self.noise > 0:
            action[:3] += self.noise * self.rng.standard_normal(3)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def act(self, tcp: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class PickAndPlace(ScriptedExpert):
    """Approach above the object, descend, grasp, lift; then (for Relocate) carry, lower, release."""

    hover = 0.08
    carry_height = 0.12

    def object_pos(self) -> np.ndarray:
        raise NotImplementedError

    def place_xy(self) -> np.ndarray | None:
        return None

    def act(self, tcp: np.ndarray) -> np.ndarray:
        obj = self.object_pos()
        near = lambda target, tol: bool(np.linalg.norm(tcp - target) < tol)  # noqa: E731
        if self.phase in (4, 5) and not near(obj, 0.04):  # dropped on the way: pick it again
            self.goto(0)
        if self.phase == 0:  # above the object, open
            target, grip = obj + [0.0, 0.0, self.hover], OPEN
            if near(target, 0.01):
                self.goto(1)
        elif self.phase == 1:  # down around it
            target, grip = obj.copy(), OPEN
            if near(target, 0.006) or self.steps_in_phase > 20:
                self.goto(2)
        elif self.phase == 2:  # close
            target, grip = obj.copy(), CLOSE
            if self.steps_in_phase >= 3:
                self.goto(3)
        elif self.phase == 3:  # lift
            target, grip = np.array([tcp[0], tcp[1], self.carry_height]), CLOSE
            if obj[2] < 0.03 and self.steps_in_phase > 6:  # the grasp slipped: start again
                self.goto(0)
            elif near(target, 0.02) and self.place_xy() is not None:
                self.goto(4)
        elif self.phase == 4:  # carry over the goal
            goal = self.place_xy()
            target, grip = np.array([goal[0], goal[1], self.carry_height]), CLOSE
            if near(target, 0.01):
                self.goto(5)
        elif self.phase == 5:  # lower
            goal = self.place_xy()
            target, grip = np.array([goal[0], goal[1], 0.025]), CLOSE
            if near(target, 0.006) or self.steps_in_phase > 15:
                self.goto(6)
        else:  # release and back off
            target, grip = np.array([tcp[0], tcp[1], 0.12 if self.steps_in_phase > 2 else tcp[2]]), OPEN
        return np.concatenate([toward(tcp, target, self.scale), [grip]])


class PickCubeExpert(PickAndPlace):
    def object_pos(self) -> np.ndarray:
        return self.task.cube_pos()


class RelocateExpert(PickAndPlace):
    def object_pos(self) -> np.ndarray:
        return self.task.object_pos()

    def place_xy(self) -> np.ndarray:
        return self.task.goal_xy


class PegInsertExpert(ScriptedExpert):
    """Align the peg over the hole, then push it straight down, slowly."""

    def act(self, tcp: np.ndarray) -> np.ndarray:
        hole = self.task.hole_pos()
        tip_to_tcp = tcp - self.task.peg_tip()
        above = hole + tip_to_tcp + [0.0, 0.0, 0.02]
        if self.phase == 0:
            if np.linalg.norm((tcp - above)[:2]) < 0.002 and abs(tcp[2] - above[2]) < 0.01:
                self.goto(1)
            return toward(tcp, above, self.scale)
        bottom = hole + tip_to_tcp - [0.0, 0.0, 0.03]
        return toward(tcp, bottom, self.scale, max_speed=0.5)


class PackCubesExpert(ScriptedExpert):
    """Runs each of PackCubes' instructions as a skill: the task's own instruction (the next step of
    the plan), or the one set in `instruction` (an operator's correction) while it is not None."""

    hover, carry_height, release_height = 0.08, 0.12, 0.075
    place_offset: ClassVar[dict[str, float]] = {"red": -0.03, "blue": 0.03}  # side by side in the bin

    def __init__(self, env, noise: float = 0.0, seed: int | None = None, aim_error: float = 0.0):
        self.aim_error = aim_error
        super().__init__(env, noise, seed)

    def reset(self) -> None:
        super().reset()
        self.instruction: str | None = None
        self.instruction_steps = 0
        self.running, self.grip, self.cube = None, OPEN, "red"
        self.aims: dict[str, np.ndarray] = {}

    def follow(self, instruction: str, steps: int) -> None:
        """Run `instruction` (an operator's correction) for the next `steps` actions; a correction
        also ends the pick skill's aiming error at the cube it was after (the operator put it right)."""
        self.instruction, self.instruction_steps = instruction, steps
        self.aims[self.cube] = np.zeros(2)

    def __call__(self, obs=None) -> np.ndarray:
        action = super().__call__(obs)
        if self.instruction is not None and self.instruction_steps > 0:
            self.instruction_steps -= 1
            if self.instruction_steps == 0:  # the correction lapsed: the plan takes over again
                self.instruction = None
        return action

    def act(self, tcp: np.ndarray) -> np.ndarray:
        instruction = self.instruction or self.task.instruction()
        if instruction != self.running:
            self.running = instruction
            self.goto(0)
        if instruction in pc.MOVES:
            return np.concatenate([np.array(pc.MOVES[instruction]), [self.grip]])
        if instruction in pc.GRIPPER:
            self.grip = pc.GRIPPER[instruction]
            return np.array([0.0, 0.0, 0.0, self.grip])
        if instruction == pc.PLACE:
            return self.place(tcp)
        self.cube = next(c for c, text in pc.PICK.items() if text == instruction)
        if self.cube not in self.aims:  # an imperfect policy's miss, 1-2 aim_errors off, until corrected
            direction = self.rng.normal(size=2)
            self.aims[self.cube] = (
                direction / np.linalg.norm(direction) * self.aim_error * self.rng.uniform(1, 2)
            )
        return self.pick(tcp, self.task.cube_pos(self.cube) + [*self.aims[self.cube], 0.0])

    def pick(self, tcp: np.ndarray, cube: np.ndarray) -> np.ndarray:
        """Above the cube with the gripper open, down around it, close, lift; a cube already in
        hand is lifted and held (told to pick what it holds, it does not let go)."""
        if self.phase < 2 and self.task.held(self.cube):
            self.goto(3)
            self.grip = CLOSE
        if self.phase == 0:
            target, self.grip = cube + [0.0, 0.0, self.hover], OPEN
            if tcp[2] < cube[2] + 0.04 and np.linalg.norm((tcp - cube)[:2]) > 0.01:
                target = np.array([tcp[0], tcp[1], cube[2] + self.hover])  # up first, then across
            if np.linalg.norm(tcp - target) < 0.01:
                self.goto(1)
        elif self.phase == 1:
            target = cube.copy()
            if np.linalg.norm(tcp - target) < 0.006 or self.steps_in_phase > 20:
                self.goto(2)
        elif self.phase == 2:
            target, self.grip = cube.copy(), CLOSE
            if self.steps_in_phase >= 3:
                self.goto(3)
        else:
            target = np.array([tcp[0], tcp[1], self.carry_height])
            if self.task.cube_pos(self.cube)[2] < 0.03 and self.steps_in_phase > 6:  # it slipped: again
                self.goto(0)
        return np.concatenate([toward(tcp, target, self.scale), [self.grip]])

    def place(self, tcp: np.ndarray) -> np.ndarray:
        """Carry over the bin, lower, open, back up."""
        goal = pc.BIN_XY + [0.0, self.place_offset[self.cube]]
        if self.phase == 0:
            target = np.array([goal[0], goal[1], self.carry_height])
            if np.linalg.norm(tcp - target) < 0.01:
                self.goto(1)
        elif self.phase == 1:
            target = np.array([goal[0], goal[1], self.release_height])
            if np.linalg.norm(tcp - target) < 0.006 or self.steps_in_phase > 15:
                self.goto(2)
        else:
            target, self.grip = np.array([tcp[0], tcp[1], tcp[2]]), OPEN
            if self.steps_in_phase > 2:
                target[2] = self.carry_height
        return np.concatenate([toward(tcp, target, self.scale), [self.grip]])


EXPERTS = {
    PickCube: PickCubeExpert,
    PegInsert: PegInsertExpert,
    Relocate: RelocateExpert,
    PackCubes: PackCubesExpert,
}


def make_expert(env, noise: float = 0.0, seed: int | None = None, **options) -> ScriptedExpert:
    """The scripted expert for a robokit sim env (call .reset() after each env.reset()); `options`
    are the expert's own (PackCubes: aim_error)."""
    task = env.unwrapped.task
    for task_type, expert in EXPERTS.items():
        if isinstance(task, task_type):
            return expert(env, noise=noise, seed=seed, **options)
    raise ValueError(f"no scripted expert for task {type(task).__name__}: only simulated tasks have one.")


def run_episode(env, expert: ScriptedExpert, seed: int | None = None, options: dict | None = None):
    """Roll the expert out for one episode; yields (obs, action, reward, terminated, truncated, info)."""
    obs, info = env.reset(seed=seed, options=options)
    expert.reset()
    yield obs, None, 0.0, False, False, info
    while True:
        action = expert(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        yield obs, action, reward, terminated, truncated, info
        if terminated or truncated:
            return
