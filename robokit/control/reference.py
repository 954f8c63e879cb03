"""The TCP reference an arm tracks between two commands, the same for the simulated and the real arm.

Each command (10 Hz) is clipped to the safety box, then the reference moves towards it with capped
speed and acceleration, braking in time for the box's face ahead; orientation turns at a capped
rate. The acceleration bound is on the velocity vector, so a command that reverses direction (as
random exploration does every step) turns the reference around over several periods instead of
flipping its velocity at once. Within the control period the reference is interpolated (every
physics substep in simulation, every 1 ms tick on the real arm), with the period's constant velocity
as the feed-forward twist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robokit.control.spatial import quat_conj, quat_mul, quat_slerp_step, quat_to_rotvec, rotvec_to_quat
from robokit.types import SafetyBox

CREEP_SPEED = 0.02  # m/s: the reference's speed in its last millimetres before a safety-box face


@dataclass(frozen=True)
class ReferenceLimits:
    max_linear_speed: float = 0.5
    """Bound on how fast the commanded TCP reference may move (m/s)."""
    max_linear_accel: float | None = 3.0
    """Bound on the change of the reference's velocity vector (m/s^2), also used to brake before the
    goal and before a face of the safety box; None turns rate limiting off, speed included, so the
    reference jumps (to measure the impedance law's own step response)."""
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
        self.vel = np.zeros(3)

    def reset(self, pos: np.ndarray, quat: np.ndarray) -> None:
        """Start from (and hold) this pose, at rest."""
        self.pos, self.quat, self.vel = np.array(pos, float), np.array(quat, float), np.zeros(3)

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
        """How far the reference moves this period: its velocity heads for the goal at a capped speed,
        changes by at most accel * period, and brakes in time to stop at the goal and before the
        faces of the safety box ahead, so that the arm cannot overshoot through them."""
        accel = self.limits.max_linear_accel
        if accel is None:
            return delta
        dist = float(np.linalg.norm(delta))
        wanted = np.zeros(3)
        if dist > 1e-12:
            speed = min(self.limits.max_linear_speed, self._stoppable(dist, accel, period))
            wanted = self._brake_for_faces(delta * (speed / dist), accel, period)
        change = wanted - self.vel
        size = float(np.linalg.norm(change))
        if size > accel * period:
            change *= accel * period / size
        velocity = self._brake_for_faces(self.vel + change, accel, period)
        end = self.safety_box.clip(self.pos + velocity * period)  # the last word: never leave the box
        self.vel = (end - self.pos) / period
        return end - self.pos

    def _brake_for_faces(self, velocity: np.ndarray, accel: float, period: float) -> np.ndarray:
        """`velocity` with each component slowed so that it can stop before the face it heads for,
        and creeping the last millimetres too slowly to overshoot."""
        # While the reference decelerates at `accel`, the arm trails it by accel / Kp (the tracking
        # error of the impedance law under constant acceleration), so brake that much earlier.
        lag = accel / self.stiffness
        face = np.where(velocity > 0, self.safety_box.high, self.safety_box.low)
        room = np.maximum(np.abs(face - self.pos) - lag, 0.0)
        cap = [max(self._stoppable(r, accel, period), CREEP_SPEED) for r in room]
        return np.sign(velocity) * np.minimum(np.abs(velocity), cap)

    @staticmethod
    def _stoppable(dist: float, accel: float, period: float) -> float:
        """The largest speed from which the reference can still stop within `dist`: one period at
        that speed, then braking at `accel` (v T + v^2 / (2 a) <= dist). A goal within a T^2 is
        reached in one period, since stopping there takes one period's change of velocity."""
        if dist <= accel * period * period:
            return dist / period
        return accel * (np.sqrt(period * period + 2.0 * dist / accel) - period)
