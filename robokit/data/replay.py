"""A numpy ring buffer of transitions over dict observations, storing each image frame once.

Vector observations are kept as (obs, next_obs) pairs. Image observations are not: a transition's
observation frame is stored in its own slot, and its next frame is found through `next_slot`: the
slot of the transition that starts from it (the same actor's next step), or -1 where that frame is
kept aside (an episode's end, or the newest step of each actor until its next batch arrives and is
shown, by content, to continue it). Frames are paired per `TransitionBatch.source`, so actors whose
batches interleave never borrow each other's frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robokit.types import Batch, EnvSpec, Transition, TransitionBatch

NOT_SAMPLED = -2  # next_slot of a slot whose next frame is unknown (a buffer saved in an old format)


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
        self.next_slot = np.full(capacity, -1, np.int64)
        self.aside: dict[int, dict[str, np.ndarray]] = {}  # slot -> next frames kept aside
        self.tails: dict[int, int] = {}  # source -> its newest slot, while its episode goes on
        self.actions = np.zeros((capacity, spec.action_dim), np.float32)
        self.rewards = np.zeros(capacity, np.float32)
        self.masks = np.zeros(capacity, np.float32)
        self.episode_ends = np.zeros(capacity, bool)
        # where each slot came from: its actor spool and its place in what that spool delivered
        # (-1: not numbered, e.g. demos), for `robokit audit`
        self.sources = np.full(capacity, -1, np.int64)
        self.rows = np.full(capacity, -1, np.int64)
        self.pointer = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def insert(
        self, obs, action, reward, terminated: bool, truncated: bool, next_obs, source: int = 0
    ) -> None:
        """Add one transition of `source` (see insert_batch)."""
        row = Transition(obs, np.asarray(action, np.float32), reward, terminated, truncated, next_obs)
        self.insert_batch(TransitionBatch.from_rows([row], self.spec.observation_keys, source))

    def insert_batch(self, batch: TransitionBatch) -> None:
        """Add a batch's transitions in order; `terminated` zeroes the bootstrap mask, either flag
        ends the episode."""
        n = len(batch)
        rows = batch.first_row + np.arange(n) if batch.first_row >= 0 else np.full(n, -1)
        if n > self.capacity:  # only the newest fit
            batch = batch.take(np.arange(n - self.capacity, n))
            rows, n = rows[-self.capacity :], self.capacity
        slots = (self.pointer + np.arange(n)) % self.capacity
        self._forget(slots)
        f = batch.frames
        for k in self.vector_keys:
            self._put(self.obs[k], f[k], batch.obs_index)
            self._put(self.next_vectors[k], f[k], batch.next_index)
        for k in self.image_keys:
            self._put(self.obs[k], f[k], batch.obs_index)
        self.actions[slots] = batch.actions
        self.rewards[slots] = batch.rewards
        self.masks[slots] = np.where(batch.terminated, 0.0, 1.0)
        ends = batch.terminated | batch.truncated
        self.episode_ends[slots] = ends
        self.sources[slots] = batch.source
        self.rows[slots] = rows
        if self.image_keys:
            self._link_frames(batch, slots, ends)
        self.pointer = int((self.pointer + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def _put(self, store: np.ndarray, frames: np.ndarray, index: np.ndarray) -> None:
        """store[pointer + j] = frames[index[j]], in at most two contiguous runs (no temporary copy
        of image frames: this is the learner's hot path)."""
        start, n = self.pointer, len(index)
        first = min(n, self.capacity - start)
        for lo, hi, at in ((0, first, start), (first, n, 0)):
            if lo == hi:
                continue
            part = index[lo:hi]
            if part[-1] - part[0] == hi - lo - 1 and (np.diff(part) == 1).all():  # one episode's run
                store[at : at + hi - lo] = frames[part[0] : part[-1] + 1]
            else:
                np.take(frames, part, axis=0, out=store[at : at + hi - lo])

    def _forget(self, slots: np.ndarray) -> None:
        for slot in slots:
            self.aside.pop(int(slot), None)
        overwritten = set(slots.tolist())
        self.tails = {s: t for s, t in self.tails.items() if t not in overwritten}
        self.next_slot[slots] = -1

    def _link_frames(self, batch: TransitionBatch, slots: np.ndarray, ends: np.ndarray) -> None:
        """Point each slot at the slot that starts from its next frame; keep the rest aside."""
        first_start: dict[int, int] = {}
        for j in range(len(batch) - 1, -1, -1):
            first_start[int(batch.obs_index[j])] = j
        tail = self.tails.pop(batch.source, None)
        if tail is not None and self._continues(tail, batch):
            self.next_slot[tail] = slots[0]
            del self.aside[tail]
        for j, slot in enumerate(slots):
            later = first_start.get(int(batch.next_index[j]), -1)
            if later > j and not ends[j]:
                self.next_slot[slot] = slots[later]
            else:
                self.aside[int(slot)] = {
                    k: batch.frames[k][batch.next_index[j]].copy() for k in self.image_keys
                }
        if not ends[-1]:
            self.tails[batch.source] = int(slots[-1])

    def _continues(self, tail: int, batch: TransitionBatch) -> bool:
        """Whether the batch's first observation is the frame kept aside for `tail`."""
        kept = self.aside.get(tail)
        first = batch.obs_index[0]
        return kept is not None and all(
            np.array_equal(kept[k], batch.frames[k][first]) for k in self.image_keys
        )

    def _valid_slots(self) -> np.ndarray:
        slots = np.arange(self.size)
        return slots[self.next_slot[slots] != NOT_SAMPLED]

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
            following = self.next_slot[idx]
            for k in self.image_keys:
                frames = self.obs[k][np.maximum(following, 0)]
                for row in np.flatnonzero(following < 0):
                    frames[row] = self.aside[int(idx[row])][k]
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
        kept = sorted(self.aside)
        arrays["aside_slots"] = np.asarray(kept, np.int64)
        for k in self.image_keys:
            arrays[f"aside/{k}"] = np.stack([self.aside[s][k] for s in kept]) if kept else self.obs[k][:0]
        tails = sorted(self.tails.items())
        arrays |= {
            "next_slot": self.next_slot,
            "tails": np.asarray(tails, np.int64).reshape(-1, 2),
            "actions": self.actions,
            "rewards": self.rewards,
            "masks": self.masks,
            "episode_ends": self.episode_ends,
            "sources": self.sources,
            "rows": self.rows,
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
            for name in ("actions", "rewards", "masks", "episode_ends"):
                getattr(buffer, name)[:] = data[name]
            for name in ("sources", "rows"):  # absent in buffers saved before the audit
                if name in data:
                    getattr(buffer, name)[:] = data[name]
            buffer.pointer, buffer.size = pointer, size
            if "next_slot" in data:
                buffer.next_slot[:] = data["next_slot"]
                buffer.tails = {int(s): int(t) for s, t in data["tails"]}
                kept = data["aside_slots"]
                buffer.aside = {
                    int(s): {k: data[f"aside/{k}"][i] for k in buffer.image_keys} for i, s in enumerate(kept)
                }
            else:
                _load_implicit_successors(buffer, data)
        return buffer

    @classmethod
    def from_episodes(cls, spec: EnvSpec, episodes, capacity: int | None = None) -> ReplayBuffer:
        """A buffer holding every transition of `episodes` (robokit.data.datasets.Episode)."""
        episodes = list(episodes)
        total = sum(len(ep) for ep in episodes)
        buffer = cls(spec, max(capacity or total, 2))
        for ep in episodes:
            check_episode_matches(ep, spec)
            truncated = np.asarray(ep.truncations, bool).copy()
            truncated[-1] = True  # a recorded episode ends where its data ends
            buffer.insert_batch(
                TransitionBatch.from_episode(
                    ep.observations, ep.actions, ep.rewards, ep.terminations, truncated
                )
            )
        return buffer


def _load_implicit_successors(buffer: ReplayBuffer, data) -> None:
    """A buffer saved before frames were paired per actor: slot i's next frame was slot i + 1's, an
    episode end's was kept aside, and the newest slot's (its episode going on) was not stored yet."""
    slots = np.arange(buffer.capacity)
    buffer.next_slot[:] = np.where(buffer.episode_ends, -1, (slots + 1) % buffer.capacity)
    for row, slot in enumerate(data["final_slots"]):
        buffer.aside[int(slot)] = {k: data[f"final/{k}"][row] for k in buffer.image_keys}
    newest = (buffer.pointer - 1) % buffer.capacity
    if buffer.image_keys and buffer.size and not buffer.episode_ends[newest]:
        buffer.next_slot[newest] = NOT_SAMPLED


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
