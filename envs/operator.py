"""A simulated operator for PackCubes: it watches the simulator's truth and says what a person would,
at a person's pace, through whatever channel it is given (`robokit say`'s, an in-process link's).

    operator = SimulatedOperator(env.unwrapped.task, say=send, config=OperatorConfig())
    ...each control step:  operator.watch(info["instruction"])    # the instruction in force

What it says, in order of precedence: the policy runs the wrong cube ("pick up the red cube", or
"put it in the bin" when it holds the right one); it has held the right cube for `reaction_steps`
and still runs its pick ("put it in the bin"); its gripper is closed on nothing ("open the
gripper"); it takes an empty hand to the bin ("pick up the red cube"); the TCP hovers or descends
beside the cube it should grasp, more than `misalign` off in x or y ("move a bit to the left",
...); it has not moved for `stuck_steps` ("go higher"). A person reacts in about a second: a
condition must have been seen on `reaction_steps` of the last 2 x `reaction_steps` steps before it
is said (a policy that dithers between a right and a wrong skill is seen too), and at most one
correction goes out every `min_gap_steps`. `mistake_rate` makes it say a random other instruction
instead (people misspeak; tests use it to check that the policy survives bad advice).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robokit.envs.tasks import pack_cubes as pc


@dataclass(frozen=True)
class OperatorConfig:
    reaction_steps: int = 10
    """Steps a condition must hold before it is said (10: 1 s at 10 Hz)."""
    min_gap_steps: int = 20
    """Steps between two corrections at least (20: 2 s at 10 Hz)."""
    misalign: float = 0.015
    """How far (m) the TCP may hover beside the cube it should grasp before it is corrected."""
    near: float = 0.08
    """How far (m, in x and y) from that cube the TCP hovering low counts as beside it."""
    stuck_steps: int = 30
    mistake_rate: float = 0.0
    seed: int = 0


class SimulatedOperator:
    def __init__(self, task, say: Callable[[str], object], config: OperatorConfig | None = None):
        self.task, self.say, self.config = task, say, config or OperatorConfig()
        self.rng = np.random.default_rng(self.config.seed)
        self.reset()

    def reset(self) -> None:
        """A new episode: nothing seen yet."""
        self.seen: deque[str | None] = deque(maxlen=2 * self.config.reaction_steps)
        self.held_for = 0  # steps the cube to pack next has been held
        self.since_said = self.config.min_gap_steps
        self.still_for, self.last_tcp = 0, None
        self.said: list[str] = []

    def watch(self, instruction: str) -> str | None:
        """One control step: what the operator says now (already passed to `say`), or None."""
        self.since_said += 1
        self.seen.append(self.correction(instruction))
        counts = Counter(w for w in self.seen if w is not None)
        wanted, seen_for = counts.most_common(1)[0] if counts else (None, 0)
        ready = seen_for >= self.config.reaction_steps and self.since_said >= self.config.min_gap_steps
        if wanted is None or not ready:
            return None
        if self.rng.random() < self.config.mistake_rate:
            wanted = str(self.rng.choice([t for t in pc.INSTRUCTIONS if t != wanted]))
        self.say(wanted)
        self.said.append(wanted)
        self.since_said, self.still_for = 0, 0
        self.seen.clear()
        return wanted

    def correction(self, instruction: str) -> str | None:
        """What a person would say about the scene now, before reaction time and pacing."""
        task, tcp = self.task, self.task.tcp_pos()
        self.still_for = self.still_for + 1 if self._still(tcp) else 0
        cube = task.next_cube()
        if cube is None:
            return None
        target, empty = task.cube_pos(cube), not task.held(cube)
        self.held_for = 0 if empty else self.held_for + 1
        if instruction in pc.PICK.values() and instruction != pc.PICK[cube]:
            return pc.PICK[cube] if empty else pc.PLACE
        if instruction == pc.PICK[cube] and not empty and self.held_for >= self.config.reaction_steps:
            return pc.PLACE  # it has the cube and picks on: off to the bin with it
        closed_on_nothing = empty and self._gripper_closed() and tcp[2] > target[2] + 0.01
        if closed_on_nothing and instruction in (pc.PLACE, pc.PICK[cube], *pc.MOVES):
            return "open the gripper"
        if instruction == pc.PLACE and empty:  # off to the bin with nothing in hand
            return pc.PICK[cube]
        if not empty or instruction not in (pc.PICK[cube], *pc.MOVES, *pc.GRIPPER):
            return "go higher" if self.still_for >= self.config.stuck_steps else None
        offset = target[:2] - tcp[:2]
        near = np.abs(offset).max() < self.config.near and tcp[2] < target[2] + 0.1
        if near and np.abs(offset).max() > self.config.misalign:
            axis = int(np.argmax(np.abs(offset)))
            if axis == 1:
                return "move a bit to the left" if offset[1] > 0 else "move a bit to the right"
            return "move a bit forward" if offset[0] > 0 else "move a bit back"
        return "go higher" if self.still_for >= self.config.stuck_steps else None

    def _still(self, tcp: np.ndarray) -> bool:
        still = self.last_tcp is not None and float(np.linalg.norm(tcp - self.last_tcp)) < 0.002
        self.last_tcp = tcp.copy()
        return still

    def _gripper_closed(self) -> bool:
        world = self.task.world
        return float(world.data.qpos[world.finger_qpos].sum()) < 0.03
