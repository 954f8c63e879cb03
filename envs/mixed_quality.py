"""Offline data of mixed quality, its quality depending on the state: the situation FamO2O is for
(robokit.agents.famo2o). Each episode's behaviour is drawn from a mix chosen by where the object
starts: on the good half of its start area mostly the scripted expert, on the poor half mostly a
noisy expert, a wrong-way expert (its moves in the table plane mirrored) and random actions. The
best balance between following the data and following the critic then differs by state.

    summary = record_mixed_quality("PickCube-v0", episodes=200, out=Path("data/mixed"))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robokit.data.datasets import check_output_dir, write_dataset
from robokit.envs.experts import make_expert
from robokit.envs.recording import record_episode
from robokit.envs.registration import make

SOURCES = ("expert", "noisy", "wrong_way", "random")
#: the chance of each source per episode, on each half of the start area
MIXES = {"good": (0.7, 0.3, 0.0, 0.0), "poor": (0.1, 0.3, 0.3, 0.3)}
NOISY = 0.6
"""The noisy expert's action noise (std, in action units)."""


def start_area(task) -> tuple[tuple[float, float], tuple[float, float]]:
    """(x range, y range) the task's object starts in."""
    from robokit.envs.tasks.pick_cube import CUBE_X, CUBE_Y, PickCube
    from robokit.envs.tasks.relocate import DIRECTIONS, REGIONS, START_SPREAD, Relocate

    if isinstance(task, PickCube):
        return CUBE_X, CUBE_Y
    if isinstance(task, Relocate):
        x, y = (float(v) for v in REGIONS[DIRECTIONS[task.direction][0]])
        return (x - START_SPREAD, x + START_SPREAD), (y - START_SPREAD, y + START_SPREAD)
    raise ValueError(f"mixed-quality data are made for PickCube and Relocate, not {type(task).__name__}.")


def centre_y(task) -> float:
    """The y of the centre of the area the task's object starts in."""
    return sum(start_area(task)[1]) / 2


def half_of(task, y: float) -> str:
    """The good half: an object starting on the robot's left of the start area's centre (y above it)."""
    return "good" if y > centre_y(task) else "poor"


def start_half(task) -> str:
    """The half of the start area the object is on now (at an episode's start)."""
    return half_of(task, float(task.object_state()[1]))


class MixedBehaviour:
    """Draws, at each episode's start, one source for the whole episode from the mix of the half
    the object starts in; then acts as it (run_episode resets it after the env)."""

    def __init__(self, env, seed: int, mixes: dict | None = None):
        self.env, self.rng, self.mixes = env, np.random.default_rng(seed), mixes or MIXES
        self.expert = make_expert(env, seed=seed)
        self.source, self.half, self.counts = "expert", "good", {}

    def reset(self) -> None:
        self.half = start_half(self.env.unwrapped.task)
        self.source = SOURCES[self.rng.choice(len(SOURCES), p=self.mixes[self.half])]
        self.expert.noise = NOISY if self.source == "noisy" else 0.0
        self.expert.reset()
        key = (self.half, self.source)
        self.counts[key] = self.counts.get(key, 0) + 1

    def __call__(self, obs: dict) -> np.ndarray:
        if self.source == "random":
            return self.rng.uniform(-1.0, 1.0, self.env.action_space.shape).astype(np.float32)
        action = self.expert(obs)
        if self.source == "wrong_way":
            action[:2] = -action[:2]
        return action


@dataclass(frozen=True)
class MixedSummary:
    path: Path
    episodes: int
    success_by_half: dict[str, float]
    counts: dict[str, int]


def record_mixed_quality(
    env_id: str, episodes: int, out: Path, seed: int = 0, mixes: dict | None = None
) -> MixedSummary:
    """Record `episodes` mixed-quality episodes (episode i from seed + i) as a Minari dataset;
    `mixes` ({"good": probabilities of SOURCES, "poor": ...}) replaces MIXES."""
    if episodes < 1:
        raise ValueError(f"--episodes {episodes} records nothing: ask for at least 1 episode.")
    if "Vision" in env_id:
        raise ValueError(f"mixed-quality data are state data: use {env_id.replace('Vision', '')}.")
    out = check_output_dir(out)
    env = make(env_id)
    try:
        behaviour = MixedBehaviour(env, seed, mixes)
        mixes = behaviour.mixes
        kept, outcomes = [], {"good": [], "poor": []}
        for i in range(episodes):
            episode = record_episode(env, behaviour, seed + i)
            kept.append(episode)
            outcomes[behaviour.half].append(episode.success)
        description = (
            f"{episodes} mixed-quality episodes of {env_id}: per episode a behaviour drawn from "
            f"{dict(zip(SOURCES, mixes['good'], strict=True))} when the object starts on the good half, "
            f"{dict(zip(SOURCES, mixes['poor'], strict=True))} on the poor half"
        )
        spaces = (env.observation_space, env.action_space)
        who = "robokit mixed-quality behaviour"
        path = write_dataset(out, kept, *spaces, env=env, algorithm_name=who, description=description)
    finally:
        env.close()
    success = {half: float(np.mean(v)) if v else float("nan") for half, v in outcomes.items()}
    counts = {f"{half}/{source}": n for (half, source), n in sorted(behaviour.counts.items())}
    return MixedSummary(path, episodes, success, counts)
