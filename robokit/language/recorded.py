"""Every step of an instructed env, kept as annotated episodes: what a run's corrections become (a
Minari dataset of the episodes an operator corrected, labels for finetuning the instructor).

    env = EpisodeLog(Instructed(...))                # inside any chunking wrapper
    ...run episodes; corrections through env.correct(...) as usual...
    write_dataset(folder, env.episodes, ...)        # infos: instruction_id, corrected, practice

A correction changes the instruction of the observation the policy is about to act on; the log
revises its newest step to match, so an episode's infos[t] is the instruction observation t carried.

An actor keeps its corrected episodes with CorrectionsLog: each episode in which it ran an
operator's correction is written, when it ends, as a Minari dataset of its own in a folder
(`robokit actor --corrections-dir`, by default the run's corrections/actor_<id>), written whole or
not at all; `robokit train-instructor --corrections FOLDER` reads them all.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from robokit.data.datasets import Episode, EpisodeRecorder, write_next_episode


class EpisodeLog(gym.Wrapper):
    """Keeps each finished episode of the env it wraps, in `episodes`."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.episodes: list[Episode] = []
        self.recorder, self.info = EpisodeRecorder(), {}

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.recorder.start(obs, info, seed=seed)
        self.info = info
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.recorder.add(action, obs, reward, terminated, truncated, info)
        self.info = info
        if terminated or truncated:
            self.episodes.append(self.recorder.finish())
        return obs, reward, terminated, truncated, info

    def correct(self, obs: dict, text: str, embedding, steps: int, practice: bool = False):
        """The instructed env's correct(), noted in the newest step."""
        obs, nearest, cosine = self.env.get_wrapper_attr("correct")(obs, text, embedding, steps, practice)
        self.info = {**self.info, **self.env.get_wrapper_attr("instruction_info")(text)}
        self.recorder.revise_last(obs, self.info)
        return obs, nearest, cosine


class CorrectionsLog(EpisodeLog):
    """An EpisodeLog that writes each episode an operator corrected (not practice) to `folder` as
    episode_<n>, a Minari dataset, when it ends, and keeps none in memory."""

    def __init__(self, env: gym.Env, folder: Path):
        super().__init__(env)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written = len(list(self.folder.glob("episode_*")))  # a restarted actor adds to them

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if self.episodes:
            episode = self.episodes.pop()
            corrected = np.asarray(episode.infos.get("corrected", [False]), bool)
            practice = np.asarray(episode.infos.get("practice", np.zeros_like(corrected)), bool)
            if np.any(corrected & ~practice):
                self._write(episode)
        return obs, reward, terminated, truncated, info

    def _write(self, episode: Episode) -> None:
        self.written = write_next_episode(
            self.folder, self.written, episode, self, algorithm_name="robokit actor + operator corrections",
            description="an episode of a run in which the actor ran an operator's correction",
        )  # fmt: skip
