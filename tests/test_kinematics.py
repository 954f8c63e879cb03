"""robokit.control.kinematics (the FR3's kinematics and the reach check of a safety box), the
reference's joint-speed cap and the loop's joint speed guard. The forward kinematics is checked
against MuJoCo's FR3 (the simulated arm's model), not against itself."""

from __future__ import annotations

import numpy as np
import pytest

from robokit.control.impedance import FR3_HOME_Q, joint_speed_guard
from robokit.control.kinematics import (
    FR3_DQ_MAX,
    FR3_Q_MAX,
    FR3_Q_MIN,
    HAND_TCP_OFFSET,
    box_reach_problems,
    jacobian,
    joint_speed_shares,
    reach,
    tcp_pose,
    worst_direction_speed,
)
from robokit.control.reference import ReferenceLimits, TcpReference
from robokit.types import SafetyBox

HOME = np.array(FR3_HOME_Q)


def test_forward_kinematics_matches_the_simulated_fr3_in_random_postures():
    import mujoco

    from robokit.envs.sim.arm import SimArmConfig, SimFrankaArm
    from robokit.envs.sim.scene import ASSETS, World

    world = World.from_task_xml(ASSETS / "pick_cube.xml")
    arm = SimFrankaArm(world, SimArmConfig())
    rng = np.random.default_rng(0)
    for _ in range(5):
        q = rng.uniform(FR3_Q_MIN + 0.2, FR3_Q_MAX - 0.2)
        world.data.qpos[world.arm_qpos] = q
        mujoco.mj_forward(world.model, world.data)
        np.testing.assert_allclose(tcp_pose(q)[:3, 3], arm.state().tcp_pos, atol=1e-4)


def test_the_jacobian_is_the_derivative_of_the_tcp_position():
    q, eps = HOME + 0.1, 1e-6
    numeric = np.array(
        [(tcp_pose(q + eps * e)[:3, 3] - tcp_pose(q - eps * e)[:3, 3]) / (2 * eps) for e in np.eye(7)]
    )
    np.testing.assert_allclose(jacobian(q)[:3], numeric.T, atol=1e-6)


def test_reach_solves_a_reachable_pose_within_the_joint_limits_and_not_an_unreachable_one():
    rotation = tcp_pose(HOME)[:3, :3]
    q, reached = reach(np.array([0.5, 0.2, 0.1]), rotation)
    assert reached and np.all(q > FR3_Q_MIN) and np.all(q < FR3_Q_MAX)
    np.testing.assert_allclose(tcp_pose(q)[:3, 3], [0.5, 0.2, 0.1], atol=1e-3)
    assert not reach(np.array([1.2, 0.0, 0.3]), rotation)[1]  # 1.2 m away: past any posture


def test_the_edge_of_reach_allows_less_tcp_speed_than_home():
    rotation = tcp_pose(HOME)[:3, :3]
    far, reached = reach(np.array([0.78, 0.0, 0.2]), rotation)
    assert reached and worst_direction_speed(far, 0.7) < 0.5 * worst_direction_speed(HOME, 0.7)


def test_a_box_past_the_arms_reach_is_refused_naming_the_points():
    # the box franka-sim's tests used before the check (tcp at joint 7's frame): its far top corners
    # drove joint 4 past 2.62 rad/s and the loop into three reflexes
    old = (0.2, -0.3, 0.35), (0.7, 0.3, 0.85)
    problems = box_reach_problems(*old, tcp_offset=-0.107, points=3, max_problems=27)
    assert any("(0.70, 0.30, 0.85) is out of reach" in p for p in problems), problems
    assert "(0.45, 0.00, 0.60)" not in " ".join(problems)  # its centre is fine
    assert len(box_reach_problems(*old, tcp_offset=-0.107)) == 5  # a sentence names at most five
    assert box_reach_problems((0.3, -0.25, 0.4), (0.6, 0.25, 0.75), tcp_offset=-0.107) == []


def test_the_default_real_arm_box_is_in_reach_and_a_config_with_a_box_out_of_reach_is_one_sentence(tmp_path):
    from robokit.drivers.franka import FrankaConfig
    from robokit.envs.real import load_config

    config = FrankaConfig(ip="172.16.0.2")
    assert config.safety_box.contains(tcp_pose(HOME, HAND_TCP_OFFSET)[:3, 3])  # home inside, in reach
    path = tmp_path / "robot.yaml"
    path.write_text(
        "robot: {ip: 172.16.0.2, safety_box: {low: [0.25, -0.35, 0.01], high: [0.75, 0.35, 0.55]}}\n"
        "task: {name: reach, goal_box: {low: [0.5, -0.05, 0.2], high: [0.6, 0.05, 0.3]}}\n"
    )
    with pytest.raises(ValueError, match=r"robot.safety_box .* out of reach.*Shrink the box") as caught:
        load_config(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_the_reference_slows_to_what_the_joint_speed_shares_allow():
    box = SafetyBox(low=(-5.0, -5.0, -5.0), high=(5.0, 5.0, 5.0))
    reference = TcpReference(box, ReferenceLimits(max_linear_speed=0.5, max_linear_accel=3.0), 900.0)
    reference.reset(np.zeros(3), np.array([1.0, 0.0, 0.0, 0.0]))
    reference.set_goal(np.array([1.0, 0.0, 0.0]), reference.quat)
    shares = np.zeros((7, 3))
    shares[3, 0] = 1.0 / 0.2  # a joint that reaches its allowed speed when the TCP moves 0.2 m/s in x
    speeds = [np.linalg.norm(reference.advance(0.001, shares)[2][:3]) for _ in range(500)]
    assert max(speeds) <= 0.2 + 1e-9 and speeds[-1] > 0.19
    # at home the real shares leave the full 0.5 m/s forward, and cap it where the joints need it
    home_shares = joint_speed_shares(jacobian(HOME), 0.7)
    assert np.max(np.abs(home_shares @ np.array([1.0, 0.0, 0.0]))) * 0.5 < 1.0


def test_the_joint_speed_guard_brakes_only_joints_past_their_share():
    mass = np.diag(np.arange(1.0, 8.0))
    dq = 0.5 * FR3_DQ_MAX
    assert np.all(joint_speed_guard(dq, mass, FR3_DQ_MAX) == 0.0)
    dq[3], dq[5] = 0.95 * FR3_DQ_MAX[3], -0.95 * FR3_DQ_MAX[5]
    tau = joint_speed_guard(dq, mass, FR3_DQ_MAX)
    assert tau[3] < 0.0 < tau[5] and np.count_nonzero(tau) == 2
