"""A tiny, fast task that any working agent learns in seconds: drive a point to a goal, sparse reward."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class PointGoal(gym.Env):
    """A 2-D point starting near the origin; reward 1 and termination within 0.15 of (0.35, 0.35)."""

    def __init__(self, max_steps: int = 25):
        self.observation_space = gym.spaces.Dict({"state": gym.spaces.Box(-1.0, 1.0, (2,), np.float32)})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.goal = np.array([0.35, 0.35])
        self.max_steps = max_steps

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-0.2, 0.2, 2)
        self.t = 0
        return {"state": self.pos.astype(np.float32)}, {"success": False}

    def step(self, action):
        self.pos = np.clip(self.pos + 0.1 * np.clip(action, -1, 1), -1, 1)
        self.t += 1
        success = bool(np.linalg.norm(self.pos - self.goal) < 0.15)
        truncated = self.t >= self.max_steps and not success
        return (
            {"state": self.pos.astype(np.float32)},
            float(success),
            success,
            truncated,
            {"success": success},
        )
