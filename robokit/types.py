"""The values and interfaces every robokit part shares: arm state, commands, frames, Robot, Camera."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

# Quaternions are (w, x, y, z) throughout, as MuJoCo and libfranka's Eigen order them.

Params = Any
"""A pytree of network parameters."""
Batch = dict[str, Any]
"""Keys: observations (dict of arrays), actions, rewards, masks (0 where the episode terminated),
next_observations; every leaf has the batch as its leading axis."""


@dataclass(frozen=True)
class EnvSpec:
    """What an agent must know of an env: each observation array's shape and dtype, and the action size."""

    observations: tuple[tuple[str, tuple[int, ...], str], ...]
    action_dim: int

    @classmethod
    def from_spaces(cls, observation_space, action_space) -> EnvSpec:
        obs = tuple(
            (key, tuple(int(n) for n in space.shape), str(space.dtype))
            for key, space in sorted(observation_space.spaces.items())
        )
        return cls(observations=obs, action_dim=int(action_space.shape[0]))

    @property
    def observation_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _, _ in self.observations)

    @property
    def image_keys(self) -> tuple[str, ...]:
        return tuple(key for key, shape, dtype in self.observations if dtype == "uint8" and len(shape) == 3)

    def example_observation(self, batch: int = 1) -> dict[str, np.ndarray]:
        return {key: np.zeros((batch, *shape), dtype=dtype) for key, shape, dtype in self.observations}


class Transition(NamedTuple):
    """One env step as an actor sees it (an action chunk's step stands for `env_steps` env steps)."""

    observation: dict[str, np.ndarray]
    action: np.ndarray
    reward: float
    terminated: bool
    truncated: bool
    next_observation: dict[str, np.ndarray]
    env_steps: int = 1


@dataclass(frozen=True)
class TransitionBatch:
    """Transitions as columns, each observation frame once: transition i starts from
    frames[k][obs_index[i]] and ends in frames[k][next_index[i]]. This is the one shape a transition
    has from an actor's `send` to the replay buffer's insert, over either link. `source` names the
    actor (spool) that sent it: a buffer pairs a batch's last frames with that source's next batch.
    `first_row` is its first transition's place among all its source has delivered (the zmq link
    numbers them; -1: not numbered), so an audit can find duplicates and gaps in a buffer."""

    frames: dict[str, np.ndarray]
    obs_index: np.ndarray
    next_index: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    env_steps: np.ndarray
    source: int = 0
    first_row: int = -1

    def __len__(self) -> int:
        return len(self.obs_index)

    @classmethod
    def from_rows(cls, rows: list[Transition], keys: tuple[str, ...], source: int = 0) -> TransitionBatch:
        """Columns of `rows`; an observation object that is one row's next and the following row's
        observation (the same dict, as an actor passes it on) becomes one frame."""
        frames: list[dict] = []
        position: dict[int, int] = {}

        def index(obs: dict) -> int:
            if id(obs) not in position:
                position[id(obs)] = len(frames)
                frames.append(obs)
            return position[id(obs)]

        obs_index = [index(r.observation) for r in rows]
        next_index = [index(r.next_observation) for r in rows]
        return cls(
            frames={k: np.stack([np.asarray(f[k]) for f in frames]) for k in keys},
            obs_index=np.asarray(obs_index, np.int32),
            next_index=np.asarray(next_index, np.int32),
            actions=np.asarray([r.action for r in rows], np.float32),
            rewards=np.asarray([r.reward for r in rows], np.float32),
            terminated=np.asarray([r.terminated for r in rows], bool),
            truncated=np.asarray([r.truncated for r in rows], bool),
            env_steps=np.asarray([r.env_steps for r in rows], np.int32),
            source=source,
        )

    @classmethod
    def from_episode(cls, observations: dict, actions, rewards, terminated, truncated) -> TransitionBatch:
        """An episode's T transitions over its T + 1 observations (step t: frame t to frame t + 1)."""
        steps = len(actions)
        return cls(
            frames=dict(observations),
            obs_index=np.arange(steps, dtype=np.int32),
            next_index=np.arange(1, steps + 1, dtype=np.int32),
            actions=np.asarray(actions, np.float32),
            rewards=np.asarray(rewards, np.float32),
            terminated=np.asarray(terminated, bool),
            truncated=np.asarray(truncated, bool),
            env_steps=np.ones(steps, np.int32),
        )

    def rows(self):
        """Each transition as a Transition (observations as views into the frames)."""
        for i in range(len(self)):
            a, b = self.obs_index[i], self.next_index[i]
            yield Transition(
                {k: v[a] for k, v in self.frames.items()},
                self.actions[i],
                float(self.rewards[i]),
                bool(self.terminated[i]),
                bool(self.truncated[i]),
                {k: v[b] for k, v in self.frames.items()},
                int(self.env_steps[i]),
            )

    def take(self, rows: np.ndarray) -> TransitionBatch:
        """The transitions at `rows` (in that order), with the frames they use."""
        used = np.unique(np.concatenate([self.obs_index[rows], self.next_index[rows]]))
        renumber = np.full(max(len(next(iter(self.frames.values()))), 1), -1, np.int32)
        renumber[used] = np.arange(len(used), dtype=np.int32)
        return TransitionBatch(
            frames={k: v[used] for k, v in self.frames.items()},
            obs_index=renumber[self.obs_index[rows]],
            next_index=renumber[self.next_index[rows]],
            actions=self.actions[rows],
            rewards=self.rewards[rows],
            terminated=self.terminated[rows],
            truncated=self.truncated[rows],
            env_steps=self.env_steps[rows],
            source=self.source,
        )


@dataclass(frozen=True)
class SafetyBox:
    """Axis-aligned box (metres, robot base frame) that the TCP may never be commanded outside."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]

    def __post_init__(self) -> None:
        if any(lo >= hi for lo, hi in zip(self.low, self.high, strict=True)):
            raise ValueError(
                f"safety box low {self.low} must be below high {self.high} on every axis: "
                "swap or widen the bounds."
            )

    def clip(self, position: np.ndarray) -> np.ndarray:
        return np.clip(position, self.low, self.high)

    def distance_to_face(self, position: np.ndarray, direction: np.ndarray) -> float:
        """Distance from `position` (inside) along the unit `direction` to the box's surface."""
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = np.where(direction > 0, self.high, self.low)
            t = (bound - position) / direction
        t = t[np.isfinite(t) & (direction != 0)]
        return float(max(t.min(), 0.0)) if t.size else float("inf")

    def contains(self, position: np.ndarray, tolerance: float = 0.0) -> bool:
        lo = np.asarray(self.low) - tolerance
        hi = np.asarray(self.high) + tolerance
        return bool(np.all(position >= lo) and np.all(position <= hi))


@dataclass(frozen=True)
class Command:
    """A TCP target for the next control period, plus the gripper closure (0 open .. 1 closed)."""

    tcp_pos: np.ndarray
    tcp_quat: np.ndarray
    gripper: float = 0.0


@dataclass(frozen=True)
class RobotState:
    """What an arm reports each control period (base frame, SI units)."""

    tcp_pos: np.ndarray
    tcp_quat: np.ndarray
    tcp_vel: np.ndarray  # 6: linear then angular, base frame
    q: np.ndarray
    dq: np.ndarray
    wrench: np.ndarray  # 6: external force then torque at the TCP, base frame
    gripper_width: float  # metres between the fingers
    stamp: float  # seconds (sim time for the sim arm, monotonic clock for the real arm)


@dataclass(frozen=True)
class Frame:
    """One camera image: RGB uint8 (H, W, 3), optional depth in metres, and its capture time."""

    rgb: np.ndarray
    depth: np.ndarray | None = None
    stamp: float = 0.0
    meta: dict = field(default_factory=dict)


class Device:
    """What every Robot and Camera inherits: `with device:` connects and always closes, also when
    the block raises (an arm left connected keeps its torque loop running)."""

    def connect(self) -> None:
        """Open the device (nothing to do for a simulated one)."""

    def close(self) -> None:
        """Release the device; safe to call twice."""

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@runtime_checkable
class Robot(Protocol):
    """An arm behind one interface, simulated or real. It enforces its own safety box and rate limits."""

    safety_box: SafetyBox
    control_hz: float

    def state(self) -> RobotState: ...

    def step(self, command: Command) -> RobotState:
        """Track `command` for exactly one control period and return the state at its end."""
        ...

    def home(self) -> RobotState: ...

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Robot: ...

    def __exit__(self, *exc_info) -> None: ...


@runtime_checkable
class Camera(Protocol):
    """A camera that returns its newest frame, or raises if that frame is older than `max_age_s`."""

    name: str
    width: int
    height: int

    def read(self, max_age_s: float = 0.1) -> Frame: ...

    def close(self) -> None: ...

    def __enter__(self) -> Camera: ...

    def __exit__(self, *exc_info) -> None: ...


class StaleFrameError(RuntimeError):
    """The newest frame a camera holds is older than the caller allows."""
