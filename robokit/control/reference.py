"""The TCP reference an arm tracks, the same for the simulated and the real arm.

A command (10 Hz) sets the reference's goal, clipped to the safety box; the reference then moves
towards it one control tick at a time (every 1 ms tick on the real arm, every physics substep in
simulation), so that its limits hold at every tick, not only at the commands: its speed is capped,
its velocity vector changes by at most max_linear_accel * dt per tick (turning around, starting and
stopping alike), and it brakes in time to stop at the goal and before the faces of the safety box
ahead. Orientation turns at a capped rate. `stop()` brakes to rest at the limits from wherever the
reference is going (the real arm does so when commands stop arriving). A reference that starts
outside the box (an arm moved there by hand) comes in at the same limits, never in a jump. Each tick
returns the reference pose and its velocity, the feed-forward twist of the impedance law.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robokit.control.spatial import quat_conj, quat_mul, quat_slerp_step, quat_to_rotvec
from robokit.types import Command, SafetyBox

CREEP_SPEED = 0.02  # m/s: the reference's speed in its last millimetres before a safety-box face


def checked_command(command: Command) -> tuple[np.ndarray, np.ndarray, float]:
    """(position, unit quaternion, gripper) of a command, or one sentence naming the bad field: a
    non-finite or degenerate command never reaches a control loop (the simulated or the real arm)."""
    try:
        pos = np.asarray(command.tcp_pos, dtype=float).reshape(-1)
        quat = np.asarray(command.tcp_quat, dtype=float).reshape(-1)
        gripper = float(command.gripper)
    except (TypeError, ValueError):
        raise ValueError(
            "the command's tcp_pos, tcp_quat and gripper must be numbers: pass a Command of 3 + 4 floats "
            "and a float"
        ) from None
    if pos.shape != (3,) or not np.isfinite(pos).all():
        raise ValueError(f"command tcp_pos {np.round(pos, 4).tolist()} is not 3 finite numbers (metres)")
    norm = float(np.linalg.norm(quat)) if quat.shape == (4,) and np.isfinite(quat).all() else 0.0
    if quat.shape != (4,) or not np.isfinite(quat).all() or norm < 1e-6:
        raise ValueError(
            f"command tcp_quat {np.round(quat, 4).tolist()} is not a quaternion (w, x, y, z) with a finite, "
            "nonzero norm"
        )
    if not np.isfinite(gripper):
        raise ValueError(f"command gripper {gripper} is not a finite number from 0 (open) to 1 (closed)")
    return pos, quat / norm, gripper


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


class TcpReference:
    def __init__(self, safety_box: SafetyBox, limits: ReferenceLimits, stiffness: float):
        self.safety_box, self.limits, self.stiffness = safety_box, limits, stiffness
        self.reset(np.zeros(3), np.array([1.0, 0.0, 0.0, 0.0]))

    def reset(self, pos: np.ndarray, quat: np.ndarray) -> None:
        """Start from (and hold) this pose, at rest."""
        self.pos, self.quat, self.vel = np.array(pos, float), np.array(quat, float), np.zeros(3)
        self.goal_pos, self.goal_quat = self.pos.copy(), self.quat.copy()

    def set_goal(self, pos: np.ndarray, quat: np.ndarray) -> None:
        """Head for this pose (clipped to the safety box; `quat` a unit quaternion)."""
        self.goal_pos = self.safety_box.clip(np.asarray(pos, dtype=float))
        self.goal_quat = np.asarray(quat, dtype=float)

    def stop(self) -> None:
        """Brake to rest at the acceleration limit from the current velocity, and hold there."""
        accel, speed = self.limits.max_linear_accel, float(np.linalg.norm(self.vel))
        run_on = self.vel * (speed / (2.0 * accel)) if accel and speed > 0 else np.zeros(3)
        self.goal_pos = self.pos + run_on
        if self.safety_box.contains(self.pos):
            self.goal_pos = self.safety_box.clip(self.goal_pos)
        self.goal_quat = self.quat.copy()

    def advance(
        self, dt: float, joint_shares: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Move the reference one tick of `dt` seconds; (position, quaternion, twist) after it.
        `joint_shares` (7x3, kinematics.joint_speed_shares) maps a TCP velocity to the joints'
        speeds as shares of what they may reach: the reference heads for the goal no faster than
        keeps each under 1 (it slows near the edge of reach, at the acceleration limit)."""
        accel = self.limits.max_linear_accel
        if accel is None:  # no rate limit at all: the reference is the goal (step responses)
            self.vel = np.zeros(3)
            self.pos = self.goal_pos.copy()
        else:
            self.vel = self._next_velocity(accel, dt, joint_shares)
            inside = self.safety_box.contains(self.pos)
            end = self.pos + self.vel * dt
            if inside:  # the last word: a reference inside the box never leaves it
                end = self.safety_box.clip(end)
                self.vel = (end - self.pos) / dt
            self.pos = end
        end_quat = quat_slerp_step(self.quat, self.goal_quat, self.limits.max_angular_speed * dt)
        omega = quat_to_rotvec(quat_mul(end_quat, quat_conj(self.quat))) / dt
        self.quat = end_quat
        return self.pos.copy(), self.quat.copy(), np.concatenate([self.vel, omega])

    def _next_velocity(self, accel: float, dt: float, joint_shares: np.ndarray | None) -> np.ndarray:
        """Towards the goal at a capped speed, braking in time for the goal and the faces ahead; the
        velocity vector changes by at most accel * dt."""
        delta = self.goal_pos - self.pos
        dist = float(np.linalg.norm(delta))
        wanted = np.zeros(3)
        if dist > 1e-12:
            speed = min(self.limits.max_linear_speed, _stoppable(dist, accel, dt))
            if joint_shares is not None:
                worst = float(np.max(np.abs(joint_shares @ (delta / dist))))
                speed = min(speed, 1.0 / max(worst, 1e-9))
            wanted = self._brake_for_faces(delta * (speed / dist), accel, dt)
        change = wanted - self.vel
        size = float(np.linalg.norm(change))
        if size > accel * dt:
            change *= accel * dt / size
        return self.vel + change

    def _brake_for_faces(self, velocity: np.ndarray, accel: float, dt: float) -> np.ndarray:
        """`velocity` with each component slowed so that the reference can stop before the face it
        heads for (only while inside the box: from outside it comes in)."""
        if not self.safety_box.contains(self.pos):
            return velocity
        # faces are braked for at half the acceleration limit, so that the arm, which trails the
        # reference by about decel / Kp (the impedance law's tracking error under constant
        # deceleration), settles without passing the face; brake that much earlier, then creep
        # the last of it, never faster than a stop right at the face allows
        decel = 0.5 * accel
        lag = decel / self.stiffness
        face = np.where(velocity > 0, self.safety_box.high, self.safety_box.low)
        gap = np.abs(face - self.pos)
        cap = [
            max(_stoppable(max(g - lag, 0.0), decel, dt), min(CREEP_SPEED, _stoppable(g, decel, dt)))
            for g in gap
        ]
        return np.sign(velocity) * np.minimum(np.abs(velocity), cap)


def _stoppable(dist: float, accel: float, dt: float) -> float:
    """The largest speed from which the reference can still stop within `dist`: one tick at that
    speed, then braking at `accel` (v dt + v^2 / (2 a) <= dist)."""
    if dist <= accel * dt * dt:
        return dist / dt
    return accel * (np.sqrt(dt * dt + 2.0 * dist / accel) - dt)
