"""The FR3's kinematics (forward, Jacobian, inverse) and the reach check of a safety box.

Franka's published Denavit-Hartenberg parameters (Craig's convention: each joint's frame is
RotX(alpha) TransX(a) RotZ(q) TransZ(d) from the last) and joint limits, the same for the FR3 as in
Franka's datasheet. A safety box is only safe if the arm can be in every point of it, with the
gripper pointing down as the tasks hold it, and can cross it at the reference's top speed without
its joints passing their velocity limits (the firmware stops the arm with joint_velocity_violation,
near the edge of reach, where a TCP speed takes large joint speeds): `box_reach_problems` samples the
box on a grid, solves the inverse kinematics at each point and says which points fail and why, and
`joint_speed_shares` lets the control loop slow the TCP reference wherever its joints would pass a
share of their limits.
"""

from __future__ import annotations

import itertools

import numpy as np

from robokit.control.impedance import FR3_HOME_Q

#: (a, d, alpha) per joint, then the flange (m, m, rad); Franka's FCI documentation.
FR3_DH = np.array(
    [
        [0.0, 0.333, 0.0],
        [0.0, 0.0, -np.pi / 2],
        [0.0, 0.316, np.pi / 2],
        [0.0825, 0.0, np.pi / 2],
        [-0.0825, 0.384, -np.pi / 2],
        [0.0, 0.0, np.pi / 2],
        [0.088, 0.0, np.pi / 2],
    ]
)
FLANGE_D = 0.107
#: FR3 joint position and velocity limits (rad, rad/s), Franka's datasheet.
FR3_Q_MIN = np.array([-2.7437, -1.7837, -2.9007, -3.0421, -2.8065, 0.5445, -3.0159])
FR3_Q_MAX = np.array([2.7437, 1.7837, 2.9007, -0.1518, 2.8065, 4.5169, 3.0159])
FR3_DQ_MAX = np.array([2.62, 2.62, 2.62, 2.62, 5.26, 4.18, 5.26])
#: how far inside its position limits a joint of a reaching posture must stay (rad; 2 degrees)
JOINT_MARGIN = 0.035
#: the Franka Hand's TCP, along the flange's z axis, as Desk configures it (m)
HAND_TCP_OFFSET = 0.1034


def _link(a: float, d: float, alpha: float, q: float) -> np.ndarray:
    ca, sa, cq, sq = np.cos(alpha), np.sin(alpha), np.cos(q), np.sin(q)
    return np.array(
        [
            [cq, -sq, 0.0, a],
            [sq * ca, cq * ca, -sa, -d * sa],
            [sq * sa, cq * sa, ca, d * ca],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def joint_frames(q: np.ndarray, tcp_offset: float = HAND_TCP_OFFSET) -> list[np.ndarray]:
    """The 4x4 pose of each joint's frame (its z is the joint's axis), then of the TCP."""
    pose, frames = np.eye(4), []
    for (a, d, alpha), angle in zip(FR3_DH, q, strict=True):
        pose = pose @ _link(a, d, alpha, angle)
        frames.append(pose)
    tcp = np.eye(4)
    tcp[2, 3] = FLANGE_D + tcp_offset
    frames.append(pose @ tcp)
    return frames


def tcp_pose(q: np.ndarray, tcp_offset: float = HAND_TCP_OFFSET) -> np.ndarray:
    """The TCP's 4x4 pose in the base frame."""
    return joint_frames(q, tcp_offset)[-1]


def jacobian(q: np.ndarray, tcp_offset: float = HAND_TCP_OFFSET) -> np.ndarray:
    """The 6x7 geometric Jacobian of the TCP (linear rows first), in the base frame."""
    frames = joint_frames(q, tcp_offset)
    tip = frames[-1][:3, 3]
    axes = np.array([f[:3, 2] for f in frames[:7]])
    origins = np.array([f[:3, 3] for f in frames[:7]])
    return np.vstack([np.cross(axes, tip - origins).T, axes.T])


def solve_ik(
    pos: np.ndarray,
    rotation: np.ndarray,
    q_start: np.ndarray | None = None,
    tcp_offset: float = HAND_TCP_OFFSET,
    iterations: int = 300,
) -> tuple[np.ndarray, bool]:
    """Joint angles within the limits (JOINT_MARGIN inside) that put the TCP at this pose, and whether
    they do within 1 mm and 0.01 rad: damped least squares, the spare joint pulled towards q_start."""
    rest = np.array(FR3_HOME_Q if q_start is None else q_start, float)
    low, high = FR3_Q_MIN + JOINT_MARGIN, FR3_Q_MAX - JOINT_MARGIN
    q = np.clip(rest.copy(), low, high)
    for _ in range(iterations):
        pose = tcp_pose(q, tcp_offset)
        rot_err = 0.5 * sum(np.cross(pose[:3, i], rotation[:3, i]) for i in range(3))
        err = np.concatenate([pos - pose[:3, 3], rot_err])
        if np.linalg.norm(err[:3]) < 1e-3 and np.linalg.norm(err[3:]) < 1e-2:
            return q, True
        jac = jacobian(q, tcp_offset)
        step_err = err * min(1.0, 0.1 / max(np.linalg.norm(err[:3]), 1e-9))  # 10 cm at a time
        inverse = jac.T @ np.linalg.inv(jac @ jac.T + 1e-4 * np.eye(6))
        null = (np.eye(7) - np.linalg.pinv(jac) @ jac) @ (0.1 * (rest - q))
        q = np.clip(q + inverse @ step_err + null, low, high)
    return q, False


def reach(
    pos: np.ndarray, rotation: np.ndarray, tcp_offset: float = HAND_TCP_OFFSET, tries: int = 12
) -> tuple[np.ndarray, bool]:
    """solve_ik from home, then from postures around it (a local solver stalls on a joint limit
    where a nearby posture reaches; far-off postures, elbow down, are not what the impedance law's
    pull towards home would take): whether one reaches, and the posture."""
    seeds = np.array(FR3_HOME_Q) + np.random.default_rng(0).normal(0.0, 0.4, size=(tries - 1, 7))
    best = None
    for seed in [np.array(FR3_HOME_Q), *seeds]:
        q, reached = solve_ik(pos, rotation, seed, tcp_offset, iterations=150)
        if reached:
            return q, True
        best = q if best is None else best
    return best, False


def joint_speed_shares(jacobian_6x7: np.ndarray, share: float = 1.0) -> np.ndarray:
    """The 7x3 map from a TCP velocity (m/s, orientation held) to each joint's speed as a share of
    `share` times its limit, through the Jacobian's pseudo-inverse (the least joint motion)."""
    return np.linalg.pinv(jacobian_6x7)[:, :3] / (share * FR3_DQ_MAX)[:, None]


def worst_direction_speed(q: np.ndarray, share: float, tcp_offset: float = HAND_TCP_OFFSET) -> float:
    """The TCP speed (m/s) this posture allows in its worst direction with every joint under
    `share` of its velocity limit; it falls to zero at the edge of reach."""
    shares = joint_speed_shares(jacobian(q, tcp_offset), share)
    return float(1.0 / np.max(np.linalg.norm(shares, axis=1)))


def box_reach_problems(
    low,
    high,
    tcp_offset: float = HAND_TCP_OFFSET,
    rotation: np.ndarray | None = None,
    share: float = 0.7,
    min_speed: float = 0.1,
    points: int = 5,
    max_problems: int = 5,
) -> list[str]:
    """What is wrong with a safety box, one phrase per failing point of a points^3 grid over it
    (corners, face centres, centre): out of reach with the TCP held as at home (`rotation`, by
    default that of FR3_HOME_Q), or so near the edge of reach that with every joint under `share`
    of its velocity limit the TCP could move there at less than min_speed (m/s) in some direction.
    Empty when the arm can serve the whole box; the search stops at max_problems."""
    if rotation is None:
        rotation = tcp_pose(np.array(FR3_HOME_Q), tcp_offset)[:3, :3]
    axes = [np.linspace(lo, hi, points) for lo, hi in zip(low, high, strict=True)]
    problems = []
    for point in itertools.product(*axes):
        if len(problems) >= max_problems:
            break
        q, reached = reach(np.array(point), rotation, tcp_offset)
        name = "(" + ", ".join(f"{v:.2f}" for v in point) + ")"
        if not reached:
            problems.append(f"{name} is out of reach (or a joint would be within 2 degrees of its limit)")
        elif (speed := worst_direction_speed(q, share, tcp_offset)) < min_speed:
            problems.append(f"{name} is at the edge of reach (the arm could move there at {speed:.2f} m/s)")
    return problems
