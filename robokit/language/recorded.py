"""Every step of an instructed env, kept as annotated episodes: what a run's corrections become (a
Minari dataset of the episodes an operator corrected, labels for finetuning the instructor).

    env = EpisodeLog(Instructed(...))                # inside any chunking wrapper
    ...run episodes; corrections through env.correct(...) as usual...
    write_dataset(folder, env.episodes, ...)        # infos: instruction_id, corrected, practice

A correction changes the instruction of the observation the policy is about to act on; the log
revises its newest step to match, so an episode's infos[t] is the instruction observation t carried.
"""

from __future__ import annotations

import gymnasium as gym

from robokit.data.datasets import Episode, EpisodeRecorder


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
