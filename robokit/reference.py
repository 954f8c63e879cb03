"""The TCP reference an arm tracks between two commands, the same for the simulated and the real arm.

Each command (10 Hz) is clipped to the safety box, then the reference moves towards it with capped
speed and acceleration, braking in time for the box's face ahead; orientation turns at a capped
rate. Within the control period the reference is interpolated (every physics substep in simulation,
every 1 ms tick on the real arm), with the period's constant velocity as the feed-forward twist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robokit.spatial import quat_conj, quat_mul, quat_slerp_step, quat_to_rotvec, rotvec_to_quat
from robokit.types import SafetyBox

CREEP_SPEED = 0.02  # m/s: the reference's speed in its last millimetres before a safety-box face


@dataclass(frozen=True)
class ReferenceLimits:
    max_linear_speed: float = 0.5
    """Bound on how fast the commanded TCP reference may move (m/s)."""
    max_linear_accel: float | None = 3.0
    """Bound on the reference's acceleration and its braking before a face of the safety box (m/s^2);
    None turns rate limiting off, speed included, so the reference jumps (to measure the impedance
    law's own step response)."""
    max_angular_speed: float = 1.5
    """Bound on how fast the commanded TCP orientation may turn (rad/s)."""


@dataclass(frozen=True)
class Segment:
    """The reference's motion over one control period."""

    start_pos: np.ndarray
    delta: np.ndarray
    start_quat: np.ndarray
    turn: np.ndarray  # rotation vector over the period
    twist: np.ndarray  # (6,) constant velocity over the period

    def at(self, frac: float) -> tuple[np.ndarray, np.ndarray]:
        """Position and orientation a fraction `frac` (0..1) into the period."""
        pos = self.start_pos + frac * self.delta
        if not np.any(self.turn):
            return pos, self.start_quat
        return pos, quat_mul(rotvec_to_quat(frac * self.turn), self.start_quat)


class TcpReference:
    def __init__(self, safety_box: SafetyBox, limits: ReferenceLimits, stiffness: float):
        self.safety_box, self.limits, self.stiffness = safety_box, limits, stiffness
        self.pos = np.zeros(3)
        self.quat = np.array([1.0, 0.0, 0.0, 0.0])
        self.speed = 0.0

    def reset(self, pos: np.ndarray, quat: np.ndarray) -> None:
        """Start from (and hold) this pose, at rest."""
        self.pos, self.quat, self.speed = np.array(pos, float), np.array(quat, float), 0.0

    def hold(self) -> Segment:
        return Segment(self.pos, np.zeros(3), self.quat, np.zeros(3), np.zeros(6))

    def plan(self, goal_pos: np.ndarray, goal_quat: np.ndarray, period: float) -> Segment:
        """The next period's segment towards a commanded pose; the reference ends where it ends."""
        goal_pos = self.safety_box.clip(np.asarray(goal_pos, dtype=float))
        goal_quat = np.asarray(goal_quat, dtype=float)
        goal_quat = goal_quat / np.linalg.norm(goal_quat)
        delta = self._rate_limited_step(goal_pos - self.pos, period)
        end_quat = quat_slerp_step(self.quat, goal_quat, self.limits.max_angular_speed * period)
        turn = quat_to_rotvec(quat_mul(end_quat, quat_conj(self.quat)))
        segment = Segment(self.pos, delta, self.quat, turn, np.concatenate([delta, turn]) / period)
        self.pos, self.quat = self.pos + delta, end_quat
        return segment

    def _rate_limited_step(self, delta: np.ndarray, period: float) -> np.ndarray:
        """How far the reference moves this period: capped speed and acceleration, and braking in
        time for the face of the safety box ahead, so that the arm cannot overshoot through it."""
        dist = float(np.linalg.norm(delta))
        if dist < 1e-12:
            self.speed = 0.0
            return np.zeros(3)
        accel = self.limits.max_linear_accel
        if accel is None:
            return delta
        # While the reference decelerates at `accel`, the arm trails it by accel / Kp (the tracking
        # error of the impedance law under constant acceleration), so brake that much earlier...
        lag = accel / self.stiffness
        to_face = max(self.safety_box.distance_to_face(self.pos, delta / dist) - lag, 0.0)
        # ...able to stop before the face after this step: v T + v^2 / (2 a) <= to_face,
        # and creep the last millimetres too slowly to overshoot.
        braking = accel * (np.sqrt(period * period + 2.0 * to_face / accel) - period)
        speed = min(self.limits.max_linear_speed, self.speed + accel * period, max(braking, CREEP_SPEED))
        step = min(dist, speed * period)
        self.speed = step / period
        return delta * (step / dist)
