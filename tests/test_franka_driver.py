"""robokit.drivers.franka through the real pylibfranka against franka-sim (PyPI), a MuJoCo FR3 that
speaks the libfranka network protocol on 127.0.0.1, loading robokit's own FR3 MJCF.

franka-sim pins numpy 1.26 and mujoco 3.2, so it gets a venv of its own, made once and cached in
~/.cache/robokit (or $ROBOKIT_FRANKA_SIM_VENV).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pf = pytest.importorskip("pylibfranka", reason="pip install 'robokit[real]'")

from robokit.control import FR3_HOME_Q  # noqa: E402
from robokit.drivers.franka import FrankaArm, FrankaConfig, RobotError  # noqa: E402
from robokit.types import Command, SafetyBox  # noqa: E402

FRANKA_SIM = "franka-sim==1.1.7"
ASSETS = Path(__file__).parents[1] / "envs" / "sim" / "assets"
pytestmark = pytest.mark.timeout(600)


def franka_sim_python() -> Path:
    venv = Path(
        os.environ.get("ROBOKIT_FRANKA_SIM_VENV", Path.home() / ".cache" / "robokit" / "franka-sim-1.1.7")
    )
    ready = venv / "robokit-ready"
    if not ready.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", FRANKA_SIM], check=True, timeout=900)
        ready.write_text(FRANKA_SIM)
    return venv / "bin" / "python"


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def franka_sim():
    env = {
        **os.environ,
        "FR3_MJCF": str(ASSETS / "fr3.xml"),
        "FRANKA_HAND_MJCF": str(ASSETS / "franka_hand.xml"),
    }
    server = subprocess.Popen(
        [str(franka_sim_python()), str(Path(__file__).with_name("franka_sim_server.py")), "1337"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if not wait_for_port("127.0.0.1", 1337, 60):
            server.kill()
            pytest.fail(f"franka-sim did not start: {server.communicate()[0][-3000:]}")
        yield "127.0.0.1"
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


#: franka-sim reports O_T_EE with no end effector configured (F_T_EE = identity) and, for the same
#: joints, 0.107 m above robokit's own flange frame; the box is set around its home pose.
BOX = SafetyBox(low=(0.2, -0.3, 0.35), high=(0.7, 0.3, 0.85))


@pytest.fixture
def arm(franka_sim):
    robot = FrankaArm(FrankaConfig(ip=franka_sim, safety_box=BOX))
    robot.connect()
    robot.home()
    yield robot
    robot.close()


def test_connects_reads_state_and_homes_smoothly(arm):
    state = arm.state()
    np.testing.assert_allclose(state.q, FR3_HOME_Q, atol=0.01)
    assert abs(np.linalg.norm(state.tcp_quat) - 1.0) < 1e-9 and np.all(np.isfinite(state.wrench))
    timing = arm.tick_timing()
    assert timing["ticks"] > 1000 and 0.0009 < timing["p50"] < 0.0011


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
    robot = FrankaArm(FrankaConfig(ip=franka_sim, safety_box=SafetyBox((0.2, -0.3, 0.01), (0.7, 0.3, 0.3))))
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
