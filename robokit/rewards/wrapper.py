"""The ClassifierReward wrapper: a reward classifier's verdict as an env's reward and episode end."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from robokit.rewards.classifier import RewardClassifier


class ClassifierReward(gym.Wrapper):
    """The reward is 1 and the episode ends when the classifier sees success in the camera frames.

    The env underneath must not end episodes on its own success (make it with
    terminate_on_success=False). Its own `success` info, where it has one (a simulator), is kept as
    the truth for evaluation; the classifier's verdict is in info["classifier_success"].
    With `keep_images=False` every camera is removed from the observation, so a state-based policy
    trains on a classifier's reward (the cameras render for the classifier only). `frames` holds the
    camera frames of the latest observation either way (what a labeller is shown).
    """

    def __init__(self, env: gym.Env, classifier: RewardClassifier, keep_images: bool = True):
        super().__init__(env)
        self.classifier = classifier
        spaces = dict(env.observation_space.spaces)
        sample = {k: np.zeros(space.shape, space.dtype) for k, space in spaces.items()}
        classifier.check_frames(sample)  # wrong cameras or frame sizes: one sentence, before any step
        cameras = tuple(k for k, space in spaces.items() if len(space.shape) == 3)
        self.dropped = () if keep_images else cameras
        self.observation_space = gym.spaces.Dict({k: v for k, v in spaces.items() if k not in self.dropped})
        self.cameras = cameras
        self.frames: dict[str, np.ndarray] = {}

    def _observe(self, obs: dict) -> dict:
        """Keeps the camera frames (for a labeller); the observation without the dropped cameras."""
        self.frames = {k: obs[k] for k in self.cameras}
        return {k: v for k, v in obs.items() if k not in self.dropped}

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        info = dict(info, classifier_success=self.classifier(obs))
        return self._observe(obs), info

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        success = self.classifier(obs)
        info = dict(info, classifier_success=success)
        return self._observe(obs), float(success), terminated or success, truncated, info
