"""Action chunks (one action = H env actions): the ActionChunk wrapper, and demos cut into chunks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from robokit.types import Transition


class ActionChunk(gym.Wrapper):
    """One action = a chunk of `horizon` env actions, flattened; they run one after another until the
    chunk ends or the episode does. The reward is the chunk's discounted return sum_h gamma^h r_h
    (a flow policy's TD target then adds gamma^H V(s_{t+H})); info["chunk_steps"] says how many ran."""

    def __init__(self, env: gym.Env, horizon: int, discount: float):
        super().__init__(env)
        if horizon < 1:
            raise ValueError(f"chunk horizon {horizon} must be at least 1.")
        self.horizon, self.discount = horizon, discount
        low, high = env.action_space.low, env.action_space.high
        self.action_space = gym.spaces.Box(
            np.tile(low, horizon), np.tile(high, horizon), dtype=env.action_space.dtype
        )

    def step(self, action):
        actions = np.asarray(action).reshape(self.horizon, -1)
        total, steps = 0.0, 0
        for single in actions:
            obs, reward, terminated, truncated, info = self.env.step(single)
            total += self.discount**steps * float(reward)
            steps += 1
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, dict(info, chunk_steps=steps)


def chunked(env, chunk: int | None, discount: float):
    """`env` taking action chunks of `chunk` steps (flow policies), or as it is."""
    return env if chunk is None else ActionChunk(env, chunk, discount)


def chunk_transitions(episode, horizon: int, discount: float):
    """Every step t of a recorded episode as a chunk transition: actions t .. t+H-1 (the last action
    repeated past the end), the discounted return of the steps that exist, and the observation
    after them."""
    steps = len(episode)
    for t in range(steps):
        end = min(t + horizon, steps)
        idx = [min(t + h, steps - 1) for h in range(horizon)]
        rewards = episode.rewards[t:end]
        terminated = bool(episode.terminations[t:end].any())
        yield Transition(
            {k: v[t] for k, v in episode.observations.items()},
            episode.actions[idx].reshape(-1),
            float(np.sum(discount ** np.arange(len(rewards)) * rewards)),
            terminated,
            end == steps and not terminated,
            {k: v[end] for k, v in episode.observations.items()},
            end - t,
        )
