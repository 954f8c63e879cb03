"""robokit.drivers.franka through the real pylibfranka against franka-sim (tests/franka_sim.py)."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

pf = pytest.importorskip("pylibfranka", reason="pip install 'robokit[real]'")

from robokit.control.impedance import FR3_HOME_Q  # noqa: E402
from robokit.drivers.franka import FrankaArm, FrankaConfig, RobotError  # noqa: E402
from robokit.drivers.franka_bench import Recorder, bench_robot, peak_acceleration  # noqa: E402
from robokit.types import Command, SafetyBox  # noqa: E402

pytestmark = pytest.mark.timeout(600)


#: franka-sim reports O_T_EE with no end effector configured and, for the same joints, 0.107 m above
#: the flange (at joint 7's frame): its TCP offset is -0.107 m. The box is set around its home pose,
#: within reach (the reach check refuses the one these tests used before, 0.2-0.7 x 0.35-0.85 z).
SIM_TCP_OFFSET = -0.107
BOX = SafetyBox(low=(0.3, -0.25, 0.4), high=(0.6, 0.25, 0.75))


@pytest.fixture
def arm(franka_sim):
    robot = FrankaArm(FrankaConfig(ip=franka_sim, tcp_offset=SIM_TCP_OFFSET, safety_box=BOX))
    robot.connect()
    robot.home()
    yield robot
    robot.close()


def test_an_arm_in_a_with_block_is_closed_even_when_the_block_raises(franka_sim):
    with (
        pytest.raises(RuntimeError, match="inside"),
        FrankaArm(FrankaConfig(ip=franka_sim, tcp_offset=SIM_TCP_OFFSET, safety_box=BOX)) as robot,
    ):
        assert robot._process.is_alive() and np.all(np.isfinite(robot.state().q))
        raise RuntimeError("inside the block")
    assert not robot._process.is_alive()  # the torque loop stopped with the block


def test_connects_reads_state_and_homes_smoothly(arm):
    state = arm.state()
    np.testing.assert_allclose(state.q, FR3_HOME_Q, atol=0.01)
    assert abs(np.linalg.norm(state.tcp_quat) - 1.0) < 1e-9 and np.all(np.isfinite(state.wrench))
    time.sleep(0.5)
    timing = arm.tick_timing()
    # the loop runs, paced by the server's 1 ms cycle: a sanity bound, not a speed target (the
    # shared machine's load moves the median; a CI run under load measured 1.15 ms, and a homing
    # of about 1 s ran 899 ticks beside a training run)
    assert timing["ticks"] > 1000 and 0.0005 < timing["p50"] < 0.003
    assert 0.0 <= timing["missed_share"] < 0.5 and 0.5 < timing["success_rate"] <= 1.0


def test_tracks_a_cartesian_target(arm):
    start = arm.state()
    goal = start.tcp_pos + np.array([0.05, 0.03, -0.05])
    for _ in range(25):
        state = arm.step(Command(goal, start.tcp_quat, 0.0))
    error = np.linalg.norm(state.tcp_pos - goal)
    assert error < 0.003, f"tracking error {error * 1000:.2f} mm"


def test_a_target_outside_the_safety_box_keeps_the_tcp_inside(arm):
    start = arm.state()
    box = arm.safety_box
    worst = 0.0
    for target in ([0.4, 0.0, -0.3], [1.2, 0.0, 0.6], [0.4, -0.8, 0.6]):
        for _ in range(25):
            state = arm.step(Command(np.array(target), start.tcp_quat, 0.0))
            outside = np.maximum(np.asarray(box.low) - state.tcp_pos, state.tcp_pos - np.asarray(box.high))
            worst = max(worst, float(outside.max()))
    assert worst < 0.002, f"the TCP left the safety box by {worst * 1000:.1f} mm"


def test_the_arm_holds_its_pose_when_targets_stop(arm):
    start = arm.state()
    arm.step(Command(start.tcp_pos + np.array([0.08, 0.0, 0.0]), start.tcp_quat, 0.0))
    time.sleep(arm.config.watchdog_s + 0.5)  # no more targets: the watchdog holds the measured pose
    held = arm.state().tcp_pos
    time.sleep(1.0)
    drift = np.linalg.norm(arm.state().tcp_pos - held)
    assert drift < 0.001, f"drifted {drift * 1000:.2f} mm in 1 s without targets"


def test_the_gripper_closes_and_opens_without_blocking_the_arm(arm):
    start = arm.state()
    began = time.monotonic()
    for _ in range(30):
        arm.step(Command(start.tcp_pos, start.tcp_quat, 1.0))
    assert time.monotonic() - began < 30 * 0.1 + 0.5  # steps kept their 10 Hz while the hand moved
    assert arm.state().gripper_width < 0.01
    for _ in range(30):
        arm.step(Command(start.tcp_pos, start.tcp_quat, 0.0))
    assert arm.state().gripper_width > 0.07


def test_a_peer_that_accepts_and_never_answers_fails_within_the_deadline():
    listener = socket.socket()
    listener.bind(("127.0.0.2", 1337))  # libfranka's port; the whole 127/8 is loopback
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    robot = FrankaArm(FrankaConfig(ip="127.0.0.2", connect_timeout_s=2.0))
    began = time.monotonic()
    try:
        with pytest.raises(RobotError, match=r"no answer from a Franka at 127\.0\.0\.2 within 2 s"):
            robot.connect()
        assert time.monotonic() - began < 5.0
    finally:
        listener.close()


def test_a_safety_box_without_the_home_pose_is_refused_with_the_fix(franka_sim):
    robot = FrankaArm(
        FrankaConfig(
            ip=franka_sim,
            tcp_offset=SIM_TCP_OFFSET,
            safety_box=SafetyBox((0.3, -0.25, 0.4), (0.6, 0.25, 0.6)),
        )
    )
    robot.connect()
    try:
        with pytest.raises(RobotError, match="widen the safety box or change home_q"):
            robot.home()
    finally:
        robot.close()


def test_no_robot_at_the_address_is_one_sentence():
    robot = FrankaArm(FrankaConfig(ip="127.0.0.3", connect_timeout_s=5.0))
    with pytest.raises(RobotError, match=r"cannot use the Franka at 127\.0\.0\.3") as caught:
        robot.connect()
    assert "\n" not in str(caught.value)


def test_a_reflex_while_homing_is_recovered_and_the_arm_still_gets_home(franka_sim):
    """The loop stalls (as under load) in the middle of homing: the arm aborts the motion, the
    driver recovers it, and homing goes on from where the arm stopped (it used to be forgotten, and
    home() then failed with "did not reach its home posture in time")."""
    import os
    import signal
    import threading

    robot = FrankaArm(
        FrankaConfig(ip=franka_sim, tcp_offset=SIM_TCP_OFFSET, safety_box=BOX, max_recoveries=3)
    )
    robot.connect()
    try:
        start = robot.home()
        for _ in range(15):  # 10 cm aside, so that homing takes a while
            robot.step(Command(start.tcp_pos + np.array([0.0, 0.1, -0.05]), start.tcp_quat, 0.0))

        def stall() -> None:
            time.sleep(0.3)  # into the homing motion
            os.kill(robot._process.pid, signal.SIGSTOP)
            time.sleep(0.2)
            os.kill(robot._process.pid, signal.SIGCONT)

        staller = threading.Thread(target=stall)
        staller.start()
        state = robot.home()
        staller.join()
        assert len(robot.recoveries) == 1, robot.recoveries
        np.testing.assert_allclose(state.q, FR3_HOME_Q, atol=0.01)
    finally:
        robot.close()


def test_a_stalled_control_loop_is_recovered_a_bounded_number_of_times(franka_sim):
    """A loop that misses its ticks (here: its process stopped for 0.2 s) makes the arm abort the
    motion (communication_constraints_violation), as a reflex does: the driver recovers it three
    times, then stops the arm with one sentence."""
    import os
    import signal

    robot = FrankaArm(
        FrankaConfig(ip=franka_sim, tcp_offset=SIM_TCP_OFFSET, safety_box=BOX, max_recoveries=3)
    )
    robot.connect()
    try:
        start = robot.home()
        for stall in range(1, 5):
            os.kill(robot._process.pid, signal.SIGSTOP)
            time.sleep(0.2)
            os.kill(robot._process.pid, signal.SIGCONT)
            time.sleep(0.5)
            if stall <= 3:
                state = robot.step(Command(start.tcp_pos, start.tcp_quat, 0.0))
                assert len(robot.recoveries) == stall, robot.recoveries
                assert robot.tick_timing()["missed"] >= 100 * stall  # the stall's cycles are counted
                assert np.linalg.norm(state.tcp_pos - start.tcp_pos) < 0.01
        with pytest.raises(RobotError, match="stopped with a reflex 4 times"):
            robot.step(Command(start.tcp_pos, start.tcp_quat, 0.0))
    finally:
        robot.close()


@pytest.mark.parametrize(
    "pos, quat, gripper, field",
    [
        ([np.nan, 0.0, 0.5], [1.0, 0.0, 0.0, 0.0], 0.0, "tcp_pos"),
        ([0.4, 0.0, np.inf], [1.0, 0.0, 0.0, 0.0], 0.0, "tcp_pos"),
        ([0.4, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0], 0.0, "tcp_quat"),
        ([0.4, 0.0, 0.5], [np.nan, 0.0, 0.0, 1.0], 0.0, "tcp_quat"),
        ([0.4, 0.0, 0.5], [1.0, 0.0, 0.0], 0.0, "tcp_quat"),
        ([0.4, 0.0, 0.5], [1.0, 0.0, 0.0, 0.0], np.nan, "gripper"),
    ],
)
def test_a_non_finite_or_degenerate_command_is_one_sentence_and_the_loop_goes_on(
    arm, pos, quat, gripper, field
):
    with pytest.raises(ValueError, match=f"command {field}"):
        arm.step(Command(np.array(pos), np.array(quat), gripper))
    start = arm.state()
    goal = start.tcp_pos + np.array([0.02, 0.0, 0.0])
    for _ in range(15):
        state = arm.step(Command(goal, start.tcp_quat, 0.0))
    assert np.linalg.norm(state.tcp_pos - goal) < 0.003 and not arm.motion_reflexes


def test_a_call_after_close_or_after_the_loop_died_says_why(franka_sim):
    robot = FrankaArm(FrankaConfig(ip=franka_sim, tcp_offset=SIM_TCP_OFFSET, safety_box=BOX))
    robot.connect()
    robot.close()
    for call in (robot.state, lambda: robot.step(Command(np.array([0.4, 0, 0.5]), np.array([1.0, 0, 0, 0])))):
        with pytest.raises(RobotError, match="control process has stopped: the arm was closed; call connect"):
            call()
    robot.connect()
    try:
        robot._process.kill()  # a crash: the process is gone without a word
        robot._process.join(5)
        with pytest.raises(RobotError, match=r"control process has stopped: .*call connect"):
            robot.state()
    finally:
        robot.close()


def test_state_from_another_thread_never_takes_a_message_meant_for_homing(arm):
    stop = threading.Event()
    errors = []

    def reader():
        while not stop.is_set():
            try:
                arm.state()
            except Exception as err:
                errors.append(err)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        start = arm.state()
        for _ in range(5):
            arm.step(Command(start.tcp_pos + np.array([0.05, 0.0, 0.0]), start.tcp_quat, 0.0))
        arm.home()  # its "homed" message arrives while the readers poll the pipe
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    np.testing.assert_allclose(arm.state().q, FR3_HOME_Q, atol=0.01)


def test_a_silent_gripper_peer_is_one_sentence_within_the_deadline_and_ctrl_c_still_works(tmp_path):
    """A port that accepts and never answers: pylibfranka's Gripper() would block holding the GIL;
    in its own process it cannot freeze the program, and Ctrl-C ends the waiting program at once."""
    import signal
    import subprocess
    import sys

    listener = socket.socket()
    listener.bind(("127.0.0.3", 1338))  # the hand's port
    listener.listen()
    accepted = []  # held open, never answered

    def accept_all():
        while True:
            try:
                accepted.append(listener.accept())
            except OSError:
                return

    threading.Thread(target=accept_all, daemon=True).start()
    try:
        from robokit.drivers.franka_gripper import FrankaGripper, GripperError

        began = time.monotonic()
        ticks = []
        ticker = threading.Thread(target=lambda: [ticks.append(time.sleep(0.01)) for _ in range(100)])
        ticker.start()  # this process's other threads keep running meanwhile
        with pytest.raises(
            GripperError, match=r"no answer from a Franka Hand at 127\.0\.0\.3 within 2 s.*gripper: false"
        ):
            FrankaGripper("127.0.0.3").connect(timeout_s=2.0)
        ticker.join()
        assert time.monotonic() - began < 6.0 and len(ticks) == 100  # 2 s deadline + a process start
        # Ctrl-C as in a terminal: a shell's background job inherits SIGINT ignored, and Python then
        # never installs its handler (the test would hang for a reason of its launcher's)
        script = (
            "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from robokit.drivers.franka_gripper import FrankaGripper\nFrankaGripper('127.0.0.3').connect(60)"
        )
        waiting = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
        time.sleep(3.0)
        waiting.send_signal(signal.SIGINT)
        _, err = waiting.communicate(timeout=30)
        assert "KeyboardInterrupt" in err
    finally:
        listener.close()


def test_no_hand_at_all_is_one_sentence_that_names_the_setting():
    from robokit.drivers.franka_gripper import FrankaGripper, GripperError

    with pytest.raises(GripperError, match=r"no Franka Hand at 127\.0\.0\.4 .*set `gripper: false`"):
        FrankaGripper("127.0.0.4").connect(timeout_s=10.0)


#: the driver's reference accelerates at 75% of the configured limit (ACCEL_SHARE) because the TCP,
#: following it through the impedance law, peaks above it: a 20 cm step's measured peak is 0.86 of
#: the limit on a quiet machine, and a CI run measured 1.0005 at an 80% share (missed cycles add
#: jolts), hence 5% for a loaded machine (figures over the 20-sample span peak_acceleration had
#: then). It was 1.10-1.35 with the reference at the limit, 3.1-4.2 before the reference was shaped
#: per tick. Speed: up to 0.56 m/s against 0.5 when coming in from 20 cm outside the box
TRACKING = 1.05
#: an arm that starts outside the box and comes in peaked at 1.01-1.10 of the limit (measured 3.04 and
#: 3.30 m/s^2): its reference starts from rest at the limit while the arm settles after homing
COMING_IN_TRACKING = 1.15
SPEED_TRACKING = 1.15


def test_a_20cm_step_keeps_speed_and_acceleration_within_the_limits_and_does_not_overshoot(arm):
    limits = arm.config.limits
    start = arm.state()
    goal = start.tcp_pos + np.array([0.0, 0.2, 0.0])
    recorder = Recorder(arm)
    for _ in range(15):
        arm.step(Command(goal, start.tcp_quat, 0.0))
    t, pos, vel = recorder.stop()
    assert np.linalg.norm(vel, axis=1).max() <= limits.max_linear_speed * SPEED_TRACKING
    assert peak_acceleration(t, vel) <= limits.max_linear_accel * TRACKING
    overshoot = (pos[:, 1] - goal[1]).max()
    assert overshoot < 0.002, f"overshoot {overshoot * 1000:.1f} mm"  # 4.5-9.7 mm before
    assert np.linalg.norm(pos[-1] - goal) < 0.003 and not arm.motion_reflexes


def test_targets_that_stop_at_speed_brake_within_the_deceleration_limit(arm):
    limits = arm.config.limits
    start = arm.state()
    recorder = Recorder(arm)
    # the target runs ahead at 0.49 m/s, then stops coming: the arm stops at the last target
    for i in range(1, 7):
        arm.step(Command(start.tcp_pos - np.array([0.0, 0.049 * i, 0.0]), start.tcp_quat, 0.0))
    last = start.tcp_pos[1] - 0.049 * 6
    time.sleep(0.6)
    # a far goal, then silence: after watchdog_s the arm brakes from 0.5 m/s at the limit
    far = start.tcp_pos[1] + 0.25
    arm.step(Command(start.tcp_pos + np.array([0.0, 0.25, 0.0]), start.tcp_quat, 0.0))
    silent_from = time.monotonic()
    time.sleep(1.5)
    t, pos, vel = recorder.stop()
    first = t < silent_from - 0.05
    assert pos[first, 1].min() > last - 0.002, "the arm ran past the last target"
    # then the reference brakes at the limit from where it is (v^2 / 2a past it); the arm, which
    # trails it at speed, follows it to rest without a jolt and without running on and coming back
    # beyond a few millimetres (it ran 24.6 mm on and came back at 13 m/s^2 when the reference
    # stopped dead; now 3-5 mm, from the impedance law's 1 cm error clip while it trails)
    after = t >= silent_from - 0.1
    come_back = pos[after, 1].max() - pos[-1, 1]
    assert come_back < 0.01, f"ran on and came back {come_back * 1000:.1f} mm"
    assert np.linalg.norm(vel[-1]) < 0.01  # at rest within 1.5 s
    assert pos[:, 1].max() < far and peak_acceleration(t, vel) <= limits.max_linear_accel * TRACKING
    assert not arm.motion_reflexes, arm.recoveries


@pytest.mark.parametrize("gap", [0.05, 0.2])
def test_an_arm_that_starts_outside_the_box_comes_in_at_the_limits(franka_sim, gap):
    with FrankaArm(FrankaConfig(ip=franka_sim, tcp_offset=SIM_TCP_OFFSET, safety_box=BOX)) as robot:
        home = robot.home()
    low = BOX.low
    below = SafetyBox(low=low, high=(BOX.high[0], BOX.high[1], float(home.tcp_pos[2]) - gap))
    robot = FrankaArm(FrankaConfig(ip=franka_sim, tcp_offset=SIM_TCP_OFFSET, safety_box=below))
    robot.connect()
    try:
        recorder = Recorder(robot)
        for _ in range(20):  # the policy asks to stay where the arm is: the target is clipped into the box
            state = robot.step(Command(home.tcp_pos, home.tcp_quat, 0.0))
        t, _, vel = recorder.stop()
        assert below.contains(state.tcp_pos, tolerance=0.006) and not robot.motion_reflexes
        assert np.linalg.norm(vel, axis=1).max() <= robot.config.limits.max_linear_speed * SPEED_TRACKING
        assert peak_acceleration(t, vel) <= robot.config.limits.max_linear_accel * COMING_IN_TRACKING
    finally:
        robot.close()


def test_bench_robot_reports_tracking_overshoot_limits_and_ticks(arm):
    rows = {(r["case"], r["metric"]): r["value"] for r in bench_robot(arm, laps=1)}
    assert 0 < rows["circle_5cm", "tracking_rms"] < 5.0  # mm
    assert rows["step_20cm", "overshoot"] < 2.0 and rows["step_20cm", "final_error"] < 3.0
    assert 0.5 < rows["step_20cm", "peak_speed_of_limit"] <= SPEED_TRACKING
    assert 0.5 < rows["step_20cm", "peak_accel_of_limit"] <= TRACKING
    # the top corners of the box at full speed: joints stay under the loop's guard (0.85 of the limits)
    assert 0.1 < rows["top_corners", "peak_joint_speed_of_limit"] < 0.85
    assert rows["top_corners", "motion_reflexes"] == 0
    assert (
        rows["loop", "command_success_rate"] > 0.5
        and rows["loop", "recoveries"] == rows["loop", "stall_recoveries"]
    )
