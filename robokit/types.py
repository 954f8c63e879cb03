"""The values and interfaces every robokit part shares: arm state, commands, frames, Robot, Camera."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class Camera(Protocol):
    """A camera that returns its newest frame, or raises if that frame is older than `max_age_s`."""

    name: str
    width: int
    height: int

    def read(self, max_age_s: float = 0.1) -> Frame: ...

    def close(self) -> None: ...


class StaleFrameError(RuntimeError):
    """The newest frame a camera holds is older than the caller allows."""
