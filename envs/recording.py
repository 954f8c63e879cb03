"""Records scripted-expert episodes of a robokit sim env into a Minari dataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from robokit.data.datasets import Episode, EpisodeRecorder, check_output_dir, write_dataset
from robokit.envs.experts import make_expert, run_episode
from robokit.envs.registration import make

#: the expert's action noise, episode by episode, when recording classifier frames: clean runs,
#: fumbling ones, and ones that mostly wander
FRAME_NOISE = (0.0, 0.4, 1.5)


class _Driver:
    """A policy in the expert's place (run_episode resets it each episode)."""

    def __init__(self, policy: Callable[[dict], np.ndarray]) -> None:
        self.policy = policy

    def reset(self) -> None:
        pass

    def __call__(self, obs: dict) -> np.ndarray:
        return self.policy(obs)


@dataclass(frozen=True)
class RecordSummary:
    path: Path | None
    attempts: int
    successes: int
    recorded: int
    interrupted: bool = False

    @property
    def success_rate(self) -> float:
        return self.successes / max(self.attempts, 1)


def record_expert(
    env_id: str,
    episodes: int,
    out: Path,
    successes_only: bool = False,
    seed: int = 0,
    noise: float = 0.0,
    camera_size: int = 128,
    max_attempts_factor: int = 5,
    on_episode: Callable[[Episode], None] | None = None,
    env_kwargs: dict | None = None,
    frames: bool = False,
    make_env: Callable[[], gym.Env] | None = None,
    policy: Callable[[dict], np.ndarray] | None = None,
) -> RecordSummary:
    """Roll the task's expert for `episodes` episodes (successful ones, if asked) and save them.

    Episode i uses seed `seed + i`. With `successes_only`, failures are skipped and recording stops
    after `max_attempts_factor * episodes` attempts. Ctrl-C saves the episodes finished so far.
    `env_kwargs` go to the env (e.g. reward_type="dense"), so demos carry the reward training uses;
    `make_env` makes the env instead (e.g. one rewarded by a classifier), ignoring env_kwargs.

    `frames` records labelled frames for a reward classifier instead of demos: episodes run on past
    success to their time limit (so that success frames are many), the expert's noise cycles through
    FRAME_NOISE episode by episode (so that near misses and failures are many), and each frame keeps
    the simulator's per-step `success` as its label.

    `policy` (obs -> action) acts instead of the expert, e.g. a partly trained policy whose own
    failures, labelled by the simulator, are the hard negatives a reward classifier needs.
    """
    if episodes < 1:
        raise ValueError(f"--episodes {episodes} records nothing: ask for at least 1 episode.")
    out = check_output_dir(out)  # before spending minutes on episodes
    if frames and "Vision" not in env_id:
        raise ValueError(f"--frames records camera frames: use a Vision env (not {env_id}).")
    env = make_env() if make_env is not None else _recording_env(env_id, camera_size, frames, env_kwargs)
    expert = make_expert(env, noise=noise, seed=seed) if policy is None else _Driver(policy)
    kept: list[Episode] = []
    attempts = successes = 0
    interrupted = False
    try:
        while len(kept) < episodes and attempts < max_attempts_factor * episodes:
            if frames and policy is None:
                expert.noise = FRAME_NOISE[attempts % len(FRAME_NOISE)]
            episode = record_episode(env, expert, seed + attempts)
            attempts += 1
            successes += episode.success
            if episode.success or not successes_only:
                kept.append(episode)
            if on_episode is not None:
                on_episode(episode)
    except KeyboardInterrupt:
        interrupted = True
    who = (
        "a trained policy"
        if policy
        else f"robokit scripted expert (noise {FRAME_NOISE if frames else noise})"
    )
    description = (
        f"{len(kept)} {'policy' if policy else 'scripted-expert'} episodes of {env_id}"
        + (", successes only" if successes_only else "")
        + (", labelled frames (run past success)" if frames else "")
    )
    path = None
    if kept:
        path = write_dataset(
            out,
            kept,
            env.observation_space,
            env.action_space,
            env=env,
            algorithm_name=who,
            description=description,
        )
    env.close()
    return RecordSummary(path, attempts, successes, len(kept), interrupted)


def _recording_env(env_id: str, camera_size: int, frames: bool, env_kwargs: dict | None) -> gym.Env:
    kwargs = {"camera_size": camera_size} if "Vision" in env_id else {}
    if frames:
        kwargs["terminate_on_success"] = False  # frames run on past success
    return make(env_id, **kwargs, **(env_kwargs or {}))


def record_episode(env, expert, seed: int) -> Episode:
    """One episode of `expert` (or a policy's _Driver) from `env.reset(seed=seed)`."""
    recorder = EpisodeRecorder()
    for obs, action, reward, terminated, truncated, info in run_episode(env, expert, seed):
        if action is None:
            recorder.start(obs, info, seed=seed)
        else:
            recorder.add(action, obs, reward, terminated, truncated, info)
    return recorder.finish()


def record_alternating_frames(
    env_id: str,
    policies: dict[str, Callable[[dict], np.ndarray]],
    episodes: int,
    out: Path,
    seed: int = 0,
    camera_size: int = 64,
    on_episode: Callable[[str, Episode], None] | None = None,
    env_kwargs: dict | None = None,
) -> dict[str, Path | None]:
    """Labelled frames of the states reset-free training visits: a reset-free run's forward and
    backward policies take turns as `robokit train-reset-free` runs them (objects placed once, at
    the first reset), each episode runs to its time limit, and each frame is labelled by the
    simulator's success of its episode's direction. Writes out/forward and out/backward; Ctrl-C
    keeps the episodes finished so far."""
    from robokit.recipes.alternation import Alternation

    if episodes < 2:
        raise ValueError(f"--episodes {episodes}: alternating needs at least 2 (one per direction).")
    out = check_output_dir(out)
    env = make(env_id, camera_size=camera_size, terminate_on_success=False, **(env_kwargs or {}))
    kept: dict[str, list[Episode]] = {direction: [] for direction in policies}
    alternation = Alternation()
    try:
        for index in range(episodes):
            direction, options = alternation.next_episode()
            obs, info = env.reset(seed=seed if index == 0 else None, options=options)
            recorder, done = EpisodeRecorder(), False
            recorder.start(obs, info, seed=seed if index == 0 else None)
            while not done:
                action = policies[direction](obs)
                obs, reward, terminated, truncated, info = env.step(action)
                recorder.add(action, obs, reward, terminated, truncated, info)
                done = terminated or truncated
            kept[direction].append(recorder.finish())
            if on_episode is not None:
                on_episode(direction, kept[direction][-1])
    except KeyboardInterrupt:
        pass
    paths = {}
    out.mkdir(parents=True, exist_ok=True)
    for direction, eps in kept.items():
        paths[direction] = None
        if eps:
            paths[direction] = write_dataset(
                out / direction, eps, env.observation_space, env.action_space, env=env,
                algorithm_name="a reset-free run's policies, alternating",
                description=f"{len(eps)} {direction} episodes of {env_id}, objects placed once, frames",
            )  # fmt: skip
    env.close()
    return paths
