"""Quaternion and rotation helpers (w, x, y, z order), plain numpy, shared by control, sim and tasks."""

from __future__ import annotations

import numpy as np


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, angle in [0, pi]) of a unit quaternion."""
    if q[0] < 0.0:
        q = -q
    s = float(np.sqrt(q[1] * q[1] + q[2] * q[2] + q[3] * q[3]))
    if s < 1e-12:
        return 2.0 * q[1:]
    return (2.0 * np.arctan2(s, q[0]) / s) * q[1:]


def rotvec_to_quat(v: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.array([1.0, 0.5 * v[0], 0.5 * v[1], 0.5 * v[2]]) / np.sqrt(1 + 0.25 * angle**2)
    axis = v / angle
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def orientation_error(q_current: np.ndarray, q_target: np.ndarray) -> np.ndarray:
    """Rotation vector (world frame) that takes the target orientation to the current one."""
    # q_current * conj(q_target), written out: this runs every physics substep.
    aw, ax, ay, az = q_current
    bw, bx, by, bz = q_target
    w = aw * bw + ax * bx + ay * by + az * bz
    x = -aw * bx + ax * bw - ay * bz + az * by
    y = -aw * by + ax * bz + ay * bw - az * bx
    z = -aw * bz - ax * by + ay * bx + az * bw
    if w < 0.0:
        w, x, y, z = -w, -x, -y, -z
    s = (x * x + y * y + z * z) ** 0.5
    scale = 2.0 if s < 1e-12 else 2.0 * np.arctan2(s, w) / s
    return np.array([scale * x, scale * y, scale * z])


def quat_slerp_step(q_from: np.ndarray, q_to: np.ndarray, max_angle: float) -> np.ndarray:
    """Rotate `q_from` towards `q_to` by at most `max_angle` radians."""
    delta = quat_to_rotvec(quat_mul(q_to, quat_conj(q_from)))
    angle = float(np.linalg.norm(delta))
    if angle > max_angle:
        delta = delta * (max_angle / angle)
    return quat_mul(rotvec_to_quat(delta), q_from)


def yaw_quat(yaw: float, base: np.ndarray) -> np.ndarray:
    """`base` orientation turned by `yaw` radians about the world z axis."""
    return quat_mul(np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]), base)


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """Unit quaternion (w >= 0) of a 3x3 rotation matrix (Shepperd's method: the largest term first)."""
    trace = r[0, 0] + r[1, 1] + r[2, 2]
    if trace > 0.0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = np.array([0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s])
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + r[i, i] - r[j, j] - r[k, k])
        q = np.empty(4)
        q[0] = (r[k, j] - r[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (r[j, i] + r[i, j]) / s
        q[1 + k] = (r[k, i] + r[i, k]) / s
    q /= np.linalg.norm(q)
    return -q if q[0] < 0.0 else q
