"""A numpy ring buffer of transitions over dict observations, storing each image frame once.

Vector observations are kept as (obs, next_obs) pairs. Image observations are not: transition i's
next frame is transition i+1's frame, so frames live in one ring indexed like the transitions, and
only an episode's last next-frame, which no later transition starts from, is kept aside.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robokit.types import Batch, EnvSpec


class ReplayBuffer:
    def __init__(self, spec: EnvSpec, capacity: int):
        if capacity < 2:
            raise ValueError(f"replay capacity {capacity} is too small: use at least 2 transitions.")
        self.spec, self.capacity = spec, capacity
        self.image_keys = spec.image_keys
        self.vector_keys = tuple(k for k, _, _ in spec.observations if k not in self.image_keys)
        shapes = {k: (shape, dtype) for k, shape, dtype in spec.observations}
        self.obs = {k: np.zeros((capacity, *shapes[k][0]), shapes[k][1]) for k in shapes}
        self.next_vectors = {k: np.zeros((capacity, *shapes[k][0]), shapes[k][1]) for k in self.vector_keys}
        self.final_frames: dict[int, dict[str, np.ndarray]] = {}  # slot -> next frames of an episode end
        self.actions = np.zeros((capacity, spec.action_dim), np.float32)
        self.rewards = np.zeros(capacity, np.float32)
        self.masks = np.zeros(capacity, np.float32)
        self.episode_ends = np.zeros(capacity, bool)
        self.pointer = 0
        self.size = 0
        self._pending_frames: dict[str, np.ndarray] | None = None  # next frames of the last insert

    def __len__(self) -> int:
        return self.size

    def insert(self, obs, action, reward, terminated: bool, truncated: bool, next_obs) -> None:
        """Add one transition; `terminated` zeroes the bootstrap mask, either flag ends the episode."""
        i = self.pointer
        for k in self.vector_keys:
            self.obs[k][i] = obs[k]
            self.next_vectors[k][i] = next_obs[k]
        for k in self.image_keys:
            self.obs[k][i] = obs[k]
        self.final_frames.pop(i, None)
        self.actions[i] = action
        self.rewards[i] = reward
        self.masks[i] = 0.0 if terminated else 1.0
        episode_end = bool(terminated or truncated)
        self.episode_ends[i] = episode_end
        if self.image_keys:
            frames = {k: np.array(next_obs[k]) for k in self.image_keys}
            if episode_end:
                self.final_frames[i] = frames
        self.pointer = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def _valid_slots(self) -> np.ndarray:
        """Slots whose next frame is stored: all, except the newest one while its episode goes on
        (its next frame is the next insert's frame, not written yet)."""
        newest = (self.pointer - 1) % self.capacity
        slots = np.arange(self.size) if self.size < self.capacity else np.arange(self.capacity)
        if self.image_keys and self.size and not self.episode_ends[newest]:
            slots = slots[slots != newest]
        return slots

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        slots = self._valid_slots()
        if slots.size == 0:
            raise ValueError("cannot sample from an empty replay buffer: insert transitions first.")
        idx = rng.choice(slots, size=n)
        return self.gather(idx)

    def gather(self, idx: np.ndarray) -> Batch:
        obs = {k: self.obs[k][idx] for k in self.obs}
        next_obs = {k: self.next_vectors[k][idx] for k in self.vector_keys}
        if self.image_keys:
            following = (idx + 1) % self.capacity
            for k in self.image_keys:
                frames = self.obs[k][following]
                for row, slot in enumerate(idx):
                    if self.episode_ends[slot]:
                        frames[row] = self.final_frames[int(slot)][k]
                next_obs[k] = frames
        return {
            "observations": obs,
            "actions": self.actions[idx],
            "rewards": self.rewards[idx],
            "masks": self.masks[idx],
            "next_observations": next_obs,
        }

    # -- persistence ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        arrays = {f"obs/{k}": v for k, v in self.obs.items()}
        arrays |= {f"next/{k}": v for k, v in self.next_vectors.items()}
        ends = sorted(self.final_frames)
        arrays["final_slots"] = np.asarray(ends, np.int64)
        for k in self.image_keys:
            arrays[f"final/{k}"] = (
                np.stack([self.final_frames[s][k] for s in ends]) if ends else self.obs[k][:0]
            )
        arrays |= {
            "actions": self.actions,
            "rewards": self.rewards,
            "masks": self.masks,
            "episode_ends": self.episode_ends,
            "counters": np.array([self.pointer, self.size, self.capacity], np.int64),
        }
        return arrays

    def save(self, path: Path) -> None:
        """Write to `path` (.npz) atomically: a reader finds the old file or the whole new one."""
        path = Path(path)
        tmp = path.with_name(path.name + ".partial")
        with open(tmp, "wb") as f:
            np.savez(f, **self.state_dict())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, spec: EnvSpec) -> ReplayBuffer:
        with np.load(path) as data:
            pointer, size, capacity = (int(x) for x in data["counters"])
            buffer = cls(spec, capacity)
            for k in buffer.obs:
                if f"obs/{k}" not in data or data[f"obs/{k}"].shape != buffer.obs[k].shape:
                    raise ValueError(
                        f"{path} holds observations that do not match this env ({k}): "
                        "resume with the env and config the buffer was recorded with."
                    )
                buffer.obs[k][:] = data[f"obs/{k}"]
            for k in buffer.vector_keys:
                buffer.next_vectors[k][:] = data[f"next/{k}"]
            for row, slot in enumerate(data["final_slots"]):
                buffer.final_frames[int(slot)] = {k: data[f"final/{k}"][row] for k in buffer.image_keys}
            buffer.actions[:] = data["actions"]
            buffer.rewards[:] = data["rewards"]
            buffer.masks[:] = data["masks"]
            buffer.episode_ends[:] = data["episode_ends"]
            buffer.pointer, buffer.size = pointer, size
        return buffer

    @classmethod
    def from_episodes(cls, spec: EnvSpec, episodes, capacity: int | None = None) -> ReplayBuffer:
        """A buffer holding every transition of `episodes` (robokit.data.datasets.Episode)."""
        episodes = list(episodes)
        total = sum(len(ep) for ep in episodes)
        buffer = cls(spec, max(capacity or total, 2))
        for ep in episodes:
            check_episode_matches(ep, spec)
            for t in range(len(ep)):
                buffer.insert(
                    {k: v[t] for k, v in ep.observations.items()},
                    ep.actions[t],
                    ep.rewards[t],
                    bool(ep.terminations[t]),
                    bool(ep.truncations[t]) or t == len(ep) - 1,
                    {k: v[t + 1] for k, v in ep.observations.items()},
                )
        return buffer


def check_episode_matches(episode, spec: EnvSpec) -> None:
    """One sentence if a recorded episode's arrays do not fit the env the agent trains on."""
    expected = {k: shape for k, shape, _ in spec.observations}
    got = {k: tuple(v.shape[1:]) for k, v in episode.observations.items()}
    if got != expected or episode.actions.shape[1:] != (spec.action_dim,):
        raise ValueError(
            f"the demo dataset's observations {got} and actions {episode.actions.shape[1:]} do not "
            f"match the env's {expected} and ({spec.action_dim},): record demos with the same env id "
            "and camera size."
        )
