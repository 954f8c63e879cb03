"""The Cartesian impedance law, shared by the simulated arm (every physics substep) and the real one (1 kHz).

It is an operational-space impedance: the TCP error is turned into a mass-normalised acceleration
and mapped to joint torques through the arm's task-space inertia,

    F   = Lambda(q) (-Kp clip(e) - Kd (v - v_ref))        Lambda = (J M^-1 J^T)^-1
    tau = J^T F + N^T (k_n (q_rest - q) - d_n dq) + c(q, dq)

(Khatib 1987, eq. 13 with the dynamically consistent null space of eq. 22). Gravity is absent on
purpose: the FR3 firmware compensates it and so does the simulated arm (MuJoCo gravcomp), so the
torque commanded on either excludes it, while the Coriolis term c is added here, as libfranka's
torque interface expects. Clipping the reference error (SERL clips ~1 cm and ~0.05 rad) bounds the
force the arm can build up against an obstacle, which is what keeps contact-rich tasks safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from robokit.control.spatial import orientation_error

#: FR3 joint torque limits (N m), from Franka's datasheet.
FR3_TORQUE_LIMITS = np.array([87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0])
#: Franka's "ready" posture: TCP about 0.31 m in front of the base, 0.49 m up, pointing down.
FR3_HOME_Q = (0.0, -0.785398, 0.0, -2.356194, 0.0, 1.570796, 0.785398)
_RIDGE = 1e-6 * np.eye(6)


@dataclass(frozen=True)
class ImpedanceGains:
    """Gains of the impedance law; stiffness is per unit task-space mass (1/s^2)."""

    translational_stiffness: float = 900.0
    rotational_stiffness: float = 600.0
    damping_ratio: float = 1.0
    translational_clip: float | None = 0.01
    """Per-axis bound on the position error (m); None turns the clipping off."""
    rotational_clip: float | None = 0.05
    """Per-axis bound on the orientation error (rad); None turns the clipping off."""
    nullspace_stiffness: float = 10.0
    """Pull of the redundant joint towards the rest posture (N m / rad)."""

    @cached_property
    def kp(self) -> np.ndarray:
        return np.array([self.translational_stiffness] * 3 + [self.rotational_stiffness] * 3)

    @cached_property
    def kd(self) -> np.ndarray:
        return 2.0 * self.damping_ratio * np.sqrt(self.kp)

    @cached_property
    def error_clip(self) -> np.ndarray:
        """Per-axis bound on the 6-D error (inf where clipping is off)."""
        lin = np.inf if self.translational_clip is None else self.translational_clip
        rot = np.inf if self.rotational_clip is None else self.rotational_clip
        return np.array([lin] * 3 + [rot] * 3)


class ArmDynamics(NamedTuple):
    """What the arm model gives at one instant (base frame): the inputs of the impedance law."""

    tcp_pos: np.ndarray  # (3,)
    tcp_quat: np.ndarray  # (4,) w x y z
    tcp_twist: np.ndarray  # (6,) linear, angular
    jacobian: np.ndarray  # (6, 7) TCP Jacobian, linear rows first
    mass_matrix: np.ndarray  # (7, 7)
    coriolis: np.ndarray  # (7,) Coriolis and centrifugal torque, no gravity
    q: np.ndarray  # (7,)
    dq: np.ndarray  # (7,)


def pose_error(
    arm: ArmDynamics, target_pos: np.ndarray, target_quat: np.ndarray, gains: ImpedanceGains
) -> np.ndarray:
    """The (clipped) 6-D error of the TCP from its target: position, then rotation vector."""
    error = np.empty(6)
    error[:3] = arm.tcp_pos - target_pos
    error[3:] = orientation_error(arm.tcp_quat, target_quat)
    bound = gains.error_clip
    # minimum/maximum rather than np.clip: this runs every physics substep and np.clip is 2x slower
    return np.minimum(np.maximum(error, -bound, out=error), bound, out=error)


def impedance_torque(
    arm: ArmDynamics,
    target_pos: np.ndarray,
    target_quat: np.ndarray,
    gains: ImpedanceGains,
    rest_q: np.ndarray,
    target_twist: np.ndarray | None = None,
    torque_limit: np.ndarray = FR3_TORQUE_LIMITS,
) -> np.ndarray:
    """Joint torques (N m, gravity excluded) that pull the TCP towards the target pose."""
    J = arm.jacobian
    j_minv = J @ np.linalg.inv(arm.mass_matrix)
    # A tiny ridge keeps Lambda finite at kinematic singularities.
    lam = np.linalg.inv(j_minv @ J.T + _RIDGE)
    velocity_error = arm.tcp_twist if target_twist is None else arm.tcp_twist - target_twist
    accel = -gains.kp * pose_error(arm, target_pos, target_quat, gains) - gains.kd * velocity_error
    # Dynamically consistent null space: N^T = I - J^T (M^-1 J^T Lambda)^T = I - J^T Lambda J M^-1.
    kn = gains.nullspace_stiffness
    posture = kn * (rest_q - arm.q) - 2.0 * np.sqrt(kn) * arm.dq
    tau = J.T @ (lam @ (accel - j_minv @ posture)) + posture + arm.coriolis
    return np.minimum(np.maximum(tau, -torque_limit), torque_limit)


def joint_speed_guard(
    dq: np.ndarray,
    mass_matrix: np.ndarray,
    speed_limits: np.ndarray,
    share: float = 0.85,
    time_s: float = 0.02,
) -> np.ndarray:
    """Torque (N m) that brakes each joint moving faster than `share` of its velocity limit, removing
    the excess within about `time_s`: a backstop under the firmware's joint_velocity_violation for
    whatever the reference's own joint-speed cap misses (tracking transients, contact)."""
    excess = np.sign(dq) * np.maximum(np.abs(dq) - share * speed_limits, 0.0)
    return -np.diag(mass_matrix) * excess / time_s
