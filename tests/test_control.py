"""The impedance law on its own (synthetic arm states) and on the simulated FR3 (tracking specs)."""

from __future__ import annotations

import numpy as np
import pytest

from robokit.control.impedance import ArmDynamics, ImpedanceGains, impedance_torque, pose_error
from robokit.control.reference import ReferenceLimits, TcpReference
from robokit.control.spatial import orientation_error, quat_mul, rotvec_to_quat
from robokit.envs.sim.arm import SimArmConfig, SimFrankaArm
from robokit.envs.sim.scene import ASSETS, World
from robokit.types import Command, SafetyBox

DOWN = np.array([0.0, 1.0, 0.0, 0.0])  # gripper pointing down


def synthetic_arm(tcp_pos=(0.4, 0.0, 0.3), twist=None, seed=0) -> ArmDynamics:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((7, 7))
    return ArmDynamics(
        tcp_pos=np.array(tcp_pos),
        tcp_quat=DOWN.copy(),
        tcp_twist=np.zeros(6) if twist is None else np.asarray(twist, float),
        jacobian=rng.standard_normal((6, 7)),
        mass_matrix=a @ a.T + 7 * np.eye(7),
        coriolis=rng.standard_normal(7) * 0.1,
        q=np.zeros(7),
        dq=np.zeros(7),
    )


def test_at_target_and_rest_the_law_only_cancels_coriolis():
    arm = synthetic_arm()
    tau = impedance_torque(arm, arm.tcp_pos, arm.tcp_quat, ImpedanceGains(), rest_q=np.zeros(7))
    np.testing.assert_allclose(tau, arm.coriolis, atol=1e-9)


def test_error_clipping_bounds_the_commanded_force():
    arm = synthetic_arm()
    gains = ImpedanceGains(translational_clip=0.01)
    far = impedance_torque(arm, arm.tcp_pos + [0.5, 0, 0], DOWN, gains, np.zeros(7))
    near = impedance_torque(arm, arm.tcp_pos + [0.01, 0, 0], DOWN, gains, np.zeros(7))
    np.testing.assert_allclose(far, near, atol=1e-9)
    unclipped = ImpedanceGains(translational_clip=None)
    assert not np.allclose(
        impedance_torque(arm, arm.tcp_pos + [0.5, 0, 0], DOWN, unclipped, np.zeros(7)), near
    )
    err = pose_error(arm, arm.tcp_pos + [0.5, -0.5, 0.002], DOWN, gains)
    np.testing.assert_allclose(err[:3], [-0.01, 0.01, -0.002])


def test_commanded_acceleration_is_stiffness_times_error_towards_the_target():
    arm = synthetic_arm()
    gains = ImpedanceGains()
    target = arm.tcp_pos + [0.005, 0.0, 0.0]
    no_limit = np.full(7, np.inf)
    tau = impedance_torque(arm, target, DOWN, gains, np.zeros(7), torque_limit=no_limit) - arm.coriolis
    # With the arm at rest, the TCP acceleration tau produces is J M^-1 tau = Kp * (target - x).
    accel = arm.jacobian @ np.linalg.solve(arm.mass_matrix, tau)
    np.testing.assert_allclose(accel, [gains.translational_stiffness * 0.005, 0, 0, 0, 0, 0], atol=1e-3)


def test_torques_respect_the_fr3_limits():
    arm = synthetic_arm(twist=[50, 0, 0, 0, 0, 0])
    gains = ImpedanceGains(translational_stiffness=1e6, translational_clip=None)
    tau = impedance_torque(arm, arm.tcp_pos + [1, 1, 1], DOWN, gains, np.zeros(7))
    assert np.all(np.abs(tau[:4]) <= 87.0) and np.all(np.abs(tau[4:]) <= 12.0)


def test_orientation_error_is_the_rotation_vector_between_poses():
    turn = np.array([0.0, 0.0, 0.3])
    rotated = quat_mul(rotvec_to_quat(turn), DOWN)
    np.testing.assert_allclose(orientation_error(rotated, DOWN), turn, atol=1e-12)
    np.testing.assert_allclose(orientation_error(DOWN, rotated), -turn, atol=1e-12)
    np.testing.assert_allclose(orientation_error(-DOWN, DOWN), 0.0, atol=1e-12)  # double cover


# --- on the simulated FR3 ------------------------------------------------------------------------


def sim_arm(**config) -> tuple[SimFrankaArm, np.ndarray, np.ndarray]:
    arm = SimFrankaArm(World.from_task_xml(ASSETS / "pick_cube.xml"), SimArmConfig(**config))
    state = arm.home()
    return arm, state.tcp_pos.copy(), state.tcp_quat.copy()


def test_holds_a_commanded_pose_within_2mm_at_rest():
    arm, home, quat = sim_arm()
    target = home + np.array([0.05, -0.05, -0.1])
    for _ in range(30):  # 3 s
        state = arm.step(Command(target, quat))
    errors = []
    for _ in range(10):
        state = arm.step(Command(target, quat))
        errors.append(np.linalg.norm(state.tcp_pos - target))
    assert max(errors) < 0.002, f"max hold error {max(errors) * 1000:.2f} mm"
    assert np.linalg.norm(state.tcp_vel) < 0.01


def test_follows_a_target_moving_1cm_per_step_with_lag_under_5mm():
    arm, home, quat = sim_arm()
    lags = []
    for i in range(1, 21):
        target = home + np.array([0.0, 0.01 * i, -0.005 * i])
        state = arm.step(Command(target, quat))
        lags.append(np.linalg.norm(state.tcp_pos - target))
    steady = lags[5:]
    assert max(steady) < 0.005, f"steady lag {max(steady) * 1000:.2f} mm"


def test_settles_a_5cm_step_within_half_a_second_without_overshoot():
    unclipped = ImpedanceGains(translational_clip=None, rotational_clip=None)
    hz = 50.0  # read the arm every 20 ms to see the transient
    arm, home, quat = sim_arm(control_hz=hz, gains=unclipped, max_linear_accel=None)
    target = home + np.array([0.05, 0.0, 0.0])
    x = np.array([arm.step(Command(target, quat)).tcp_pos[0] - home[0] for _ in range(50)])
    overshoot = x.max() - 0.05
    outside = np.nonzero(np.abs(x - 0.05) > 0.002)[0]
    settle_s = (outside.max() + 1) / hz if outside.size else 0.0
    assert overshoot < 0.005, f"overshoot {overshoot * 1000:.2f} mm"
    assert settle_s < 0.5, f"settling time {settle_s:.2f} s"


@pytest.mark.parametrize("control_hz", [10.0, 50.0])
@pytest.mark.parametrize(
    "goal",
    [(2.0, 0.0, 0.3), (0.5, -2.0, 0.3), (0.5, 0.0, -1.0), (0.5, 0.0, 3.0), (-1.0, 1.0, 1.0)],
)
def test_commands_outside_the_safety_box_never_leave_it(goal, control_hz):
    box = SafetyBox(low=(0.3, -0.2, 0.1), high=(0.6, 0.2, 0.5))  # home (0.307, 0, 0.487) is inside
    arm, _, quat = sim_arm(safety_box=box, control_hz=control_hz)
    for _ in range(int(3 * control_hz)):
        state = arm.step(Command(np.array(goal), quat))
        assert box.contains(state.tcp_pos, tolerance=0.002), state.tcp_pos
    # and it does reach the box face the goal lies beyond
    clipped = box.clip(np.array(goal))
    assert np.linalg.norm(state.tcp_pos - clipped) < 0.01


def test_rate_limit_bounds_reference_speed():
    arm, home, quat = sim_arm(max_linear_speed=0.1)
    state = arm.step(Command(home + np.array([0.3, 0.0, 0.0]), quat))
    assert state.tcp_pos[0] - home[0] < 0.1 / 10 + 0.002


NEAR_BOX = SafetyBox(low=(0.3, -0.2, 0.1), high=(0.6, 0.2, 0.5))


def reference_at(pos=(0.45, 0.0, 0.3), box=NEAR_BOX):
    reference = TcpReference(box, ReferenceLimits(max_linear_speed=0.5, max_linear_accel=3.0), 900.0)
    reference.reset(np.array(pos), DOWN)
    return reference


def run_ticks(reference, ticks: int, dt: float = 0.001) -> np.ndarray:
    """The reference's velocity after each of `ticks` ticks."""
    return np.array([reference.advance(dt)[2][:3] for _ in range(ticks)])


def test_reference_velocity_changes_by_at_most_accel_times_dt_at_every_tick_even_when_commands_reverse():
    """Random exploration reverses the commanded direction every step; the reference's velocity
    changes by at most 3 m/s^2 * 1 ms per tick, at the commands and between them alike."""
    wide = SafetyBox(low=(-5.0, -5.0, -5.0), high=(5.0, 5.0, 5.0))  # no face in reach to brake for
    reference, rng = reference_at(box=wide), np.random.default_rng(0)
    velocities = [np.zeros(3)]
    for _ in range(100):
        reference.set_goal(reference.pos + rng.choice([-0.03, 0.03], size=3), DOWN)
        velocities.extend(run_ticks(reference, 100))
    velocities = np.array(velocities)
    assert np.linalg.norm(np.diff(velocities, axis=0), axis=1).max() <= 3.0 * 0.001 + 1e-9
    assert np.linalg.norm(velocities, axis=1).max() <= 0.5 + 1e-9
    # and in a box it is near, the same commands never take the reference out of it
    reference = reference_at()
    for _ in range(100):
        reference.set_goal(reference.pos + rng.choice([-0.03, 0.03], size=3), DOWN)
        for _ in range(100):
            reference.advance(0.001)
            assert reference.safety_box.contains(reference.pos)


def test_reference_reaches_a_goal_exactly_and_stops_there():
    reference = reference_at()
    goal = np.array([0.55, 0.1, 0.2])
    reference.set_goal(goal, DOWN)
    run_ticks(reference, 3000)
    np.testing.assert_allclose(reference.pos, goal, atol=1e-9)
    np.testing.assert_allclose(reference.vel, 0.0, atol=1e-9)
    # a small step (1 cm, as a policy commands) takes about 2 sqrt(d / a) = 0.115 s from rest
    reference.set_goal(goal + [0.01, 0.0, 0.0], DOWN)
    run_ticks(reference, 125)
    np.testing.assert_allclose(reference.pos, goal + [0.01, 0.0, 0.0], atol=1e-6)


def test_a_stop_at_speed_overruns_by_what_the_deceleration_limit_implies():
    wide = SafetyBox(low=(-5.0, -5.0, -5.0), high=(5.0, 5.0, 5.0))
    reference = reference_at(box=wide)
    reference.set_goal(reference.pos + [2.0, 0.0, 0.0], DOWN)
    run_ticks(reference, 400)  # at 0.5 m/s
    at, speed = reference.pos.copy(), float(np.linalg.norm(reference.vel))
    assert speed == pytest.approx(0.5)
    reference.stop()
    velocities = run_ticks(reference, 1000)
    overrun = reference.pos[0] - at[0]
    assert overrun == pytest.approx(speed**2 / (2 * 3.0), abs=0.002)  # 42 mm at 3 m/s^2
    assert np.linalg.norm(np.diff(velocities, axis=0), axis=1).max() <= 3.0 * 0.001 + 1e-9
    np.testing.assert_allclose(reference.vel, 0.0, atol=1e-9)


def test_a_reference_outside_the_box_comes_in_at_its_limits():
    reference = reference_at(pos=(0.45, 0.0, 0.7))  # 20 cm above the box
    reference.set_goal(reference.pos, DOWN)  # asked to stay: the goal is clipped into the box
    velocities = run_ticks(reference, 2000)
    assert np.linalg.norm(np.diff(velocities, axis=0), axis=1).max() <= 3.0 * 0.001 + 1e-9
    assert np.linalg.norm(velocities, axis=1).max() <= 0.5 + 1e-9
    assert reference.safety_box.contains(reference.pos) and reference.pos[2] == pytest.approx(0.5)


def test_bad_rates_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="500-1000 Hz"):
        SimArmConfig(physics_hz=100)
    with pytest.raises(ValueError, match="must divide"):
        SimArmConfig(control_hz=7)
    with pytest.raises(ValueError, match="below high"):
        SafetyBox(low=(0, 0, 1), high=(1, 1, 0))


def test_turns_to_a_commanded_orientation_at_the_rate_limit():
    arm, home, quat = sim_arm(max_angular_speed=1.0)
    goal = quat_mul(rotvec_to_quat(np.array([0.0, 0.0, 0.4])), quat)
    first = arm.step(Command(home, goal))
    assert np.linalg.norm(orientation_error(first.tcp_quat, quat)) < 0.1 + 0.02  # 1 rad/s for 0.1 s
    for _ in range(20):
        state = arm.step(Command(home, goal))
    assert np.linalg.norm(orientation_error(state.tcp_quat, goal)) < 0.01


def test_rotation_matrices_become_the_right_quaternions():
    import mujoco

    from robokit.control.spatial import matrix_to_quat, rotvec_to_quat

    rng = np.random.default_rng(0)
    for _ in range(500):
        q = rotvec_to_quat(rng.normal(size=3) * 2.0)
        matrix = np.zeros(9)
        mujoco.mju_quat2Mat(matrix, q)
        expected = q if q[0] >= 0 else -q
        np.testing.assert_allclose(matrix_to_quat(matrix.reshape(3, 3)), expected, atol=1e-9)
