"""The real FrankaEnv from a YAML file: the arm is franka-sim through pylibfranka, the camera is a
recording played through pyrealsense2. Config mistakes are one sentence each."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import REALSENSE_MISSING

pytest.importorskip("pylibfranka", reason="pip install 'robokit[real]'")
pytest.importorskip("pyrealsense2", reason=REALSENSE_MISSING, exc_type=ImportError)

from cli_run import robokit
from realsense_recording import record, recorded_frames

from robokit.envs.real import load_config, make_real_env

CONFIG = """
robot:
  ip: {ip}
  safety_box: {{low: [0.3, -0.25, 0.4], high: [0.6, 0.25, 0.75]}}
  tcp_offset: -0.107
cameras:
  front: {{serial: "000111", width: 64, height: 48, size: 32, playback: front.db3, loop: true}}
task:
  name: reach
  goal_box: {{low: [0.33, -0.03, 0.58], high: [0.39, 0.03, 0.64]}}
  start_tcp: [0.31, 0.0, 0.68]
  start_spread: 0.0
env: {{max_episode_steps: 30}}
"""


@pytest.fixture
def real_config(tmp_path, franka_sim):
    record(tmp_path / "front.db3", recorded_frames(60), pace_s=0.02)  # played on a loop
    path = tmp_path / "robot.yaml"
    path.write_text(CONFIG.format(ip=franka_sim))
    return path


def test_a_policy_drives_the_real_env_to_the_goal(real_config):
    env = make_real_env(real_config)
    try:
        obs, info = env.reset(seed=0)
        assert obs["front"].shape == (32, 32, 3) and obs["state"].shape == (7,)
        goal = np.array([0.36, 0.0, 0.61])
        for _ in range(30):
            action = np.clip((goal - obs["state"][:3]) / 0.03, -1, 1)  # the env's action scale
            obs, reward, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        assert info["success"] and terminated and reward == 1.0, obs["state"][:3]
    finally:
        env.close()


def test_robot_check_reports_motion_timing_and_cameras(real_config):
    result = robokit("robot-check", "--config", str(real_config))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "moved 1 cm along x and back" in result.stdout and "tick period p50" in result.stdout
    assert "camera front (000111): 32x32 frames arriving" in result.stdout


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("robot: {ip: 1.2.3.4, speed: 3}", "unknown key 'speed' in robot"),
        ("robot: {safety_box: {low: [0, 0, 0], high: [1, 1, 1]}}", "robot.ip is missing"),
        ("robot: {ip: 1.2.3.4}\ntask: {name: fly}", "task.name 'fly' is unknown"),
        ("robot: [ip", "is not valid YAML"),
        ("robot: {ip: 1.2.3.4, safety_box: {low: [0, 0, 1], high: [1, 1, 0]}}", "must be below high"),
        ("robot: {ip: 1.2.3.4}\ntask: {name: classifier}", "task.classifier is missing"),
    ],
)
def test_config_mistakes_are_one_sentence_with_the_fix(tmp_path, text, fix):
    path = tmp_path / "robot.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=fix):
        load_config(path)
    result = robokit("robot-check", "--config", str(path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and fix.split("'")[0] in lines[0], result.stderr


def test_a_real_robot_actor_feeds_a_learner_and_its_actions_reach_the_arm(real_config, tmp_path):
    import json
    import socket

    from robokit.runs import checkpoint

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = tmp_path / "run"
    budget = ["--max-env-steps", "40", "--start-after", "10", "--utd-ratio", "1", "--critic-ensemble", "2"]
    learner = subprocess.Popen(
        [sys.executable, "-m", "robokit.cli", "learner", "--robot-config", str(real_config)]
        + ["--listen", f"127.0.0.1:{port}", "--run-dir", str(run), *budget],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        actor = robokit(
            "actor", "--config", str(real_config), "--learner", f"127.0.0.1:{port}",
            "--spool-dir", str(tmp_path / "spool"), "--max-steps", "40", "--utd-ratio", "1",
            "--critic-ensemble", "2",
        )  # fmt: skip
        assert actor.returncode == 0, actor.stdout + actor.stderr[-2000:]
        assert "actor 0: 40 env steps; all acknowledged" in actor.stdout
        out, _ = learner.communicate(timeout=120)
        assert learner.returncode == 0, out[-3000:]
        assert "actor 0 connected" in out
    finally:
        if learner.poll() is None:
            learner.kill()
    latest = checkpoint.latest(run / "checkpoints")
    assert json.loads((latest / "counters.json").read_text())["env_steps"] == 40
    with np.load(latest / "buffer_online.npz") as buffer:
        tcp = buffer["obs/state"][: int(buffer["counters"][1]), :3]
        frames = buffer["obs/front"][: int(buffer["counters"][1])]
    assert len(tcp) == 40 and frames.shape[1:] == (32, 32, 3) and frames.any()
    assert np.ptp(tcp, axis=0).max() > 0.02  # the policy's actions moved the real (franka-sim) arm


def test_an_operator_labels_real_frames_with_key_presses(real_config, tmp_path):
    """The arm wanders; the 'operator' (a pipe) presses s at step 10, n at step 20 and q at step 25."""
    import os

    from robokit.data.datasets import read_episodes
    from robokit.envs.labelling import KeyLabels, Wander, record_labelled_real_frames

    read_end, write_end = os.pipe()
    labels = KeyLabels(os.fdopen(read_end, "r"))
    wander, steps = Wander(3, seed=1), []

    def policy(obs):
        steps.append(obs)
        keys = {10: b"s", 20: b"n", 25: b"q"}
        if len(steps) in keys:
            os.write(write_end, keys[len(steps)])
        return wander(obs)

    env = make_real_env(real_config, terminate_on_success=False)
    try:
        path = record_labelled_real_frames(env, 5, tmp_path / "frames", labels, policy)
    finally:
        env.close()
        os.close(write_end)
    first, second = read_episodes(path)  # 'q' ended the recording after two episodes
    assert len(first) == 20 and len(second) == 5
    label = first.infos["success"]
    assert not label[:10].any() and label[11:].all()  # frames after the key press are success
    assert not second.infos["success"].any()  # every episode starts labelled failure
    assert first.observations["front"].shape == (21, 32, 32, 3)
    result = robokit("record", "--config", str(real_config), "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "add --frames" in result.stderr


def test_an_operator_labels_real_frames_from_the_console_page(real_config, tmp_path):
    """`robokit record --config ... --frames --console 0`: the page shows the arm's camera and
    TCP; its Success button labels the frames from then on (as s does), its Stop ends the
    recording and keeps what was recorded (as q does)."""
    import json
    import os
    import re
    import time

    pytest.importorskip("uvicorn", reason="pip install 'robokit[console]'")
    from websockets.sync.client import connect

    from robokit.data.datasets import read_episodes

    out = tmp_path / "frames"
    args = ["record", "--config", str(real_config), "--frames", "--episodes", "50", "--console", "0"]
    printed = open(tmp_path / "record.txt", "w")  # noqa: SIM115
    recording = subprocess.Popen(
        [sys.executable, "-m", "robokit.cli", *args, "--out", str(out)], stdin=subprocess.PIPE,
        stdout=printed, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "300"},
    )  # fmt: skip
    try:
        url, deadline = None, time.time() + 120
        while url is None and time.time() < deadline and recording.poll() is None:
            found = re.search(r"operator console: (http://\S+/)", (tmp_path / "record.txt").read_text())
            url = found.group(1) if found else time.sleep(0.2)
        assert url, (tmp_path / "record.txt").read_text()
        with connect(url.replace("http://", "ws://") + "ws", origin=url.rstrip("/")) as ws:
            state = {}
            while not (state.get("actors") and state["actors"][0]["tcp"] and state.get("cameras")):
                message = ws.recv(timeout=30)
                state = json.loads(message) if isinstance(message, str) else state
            assert state["cameras"][0][:2] == [0, "front"]
            ws.send(json.dumps({"t": "control", "command": "success", "actor": 0}))
            time.sleep(1.0)  # frames go on being recorded, labelled success
            ws.send(json.dumps({"t": "control", "command": "stop", "actor": 0}))
            time.sleep(0.5)
        recording.wait(timeout=60)
    finally:
        if recording.poll() is None:
            recording.kill()
        printed.close()
    assert recording.returncode == 0, (tmp_path / "record.txt").read_text()[-2000:]
    episodes = read_episodes(out)
    assert 1 <= len(episodes) < 50  # stop ended the recording early, and what was recorded is kept
    labelled = [i for i, e in enumerate(episodes) if e.infos["success"].any()]
    assert labelled, "no frame was labelled success"
    labels = episodes[labelled[0]].infos["success"]
    first = int(np.argmax(labels))
    assert first > 0 and labels[first:].all(), labels  # from the click on, to the episode's end
    assert not any(e.infos["success"][0] for e in episodes)  # every episode starts labelled failure
    logged = (tmp_path / "console" / "interventions.jsonl").read_text()
    assert '"success"' in logged and '"stop"' in logged


def test_a_classifier_task_on_the_real_arm_is_rewarded_by_its_classifier(real_config, tmp_path):
    from robokit.rewards.classifier import ClassifierConfig, LabelledFrames, train_classifier
    from robokit.rewards.wrapper import ClassifierReward

    frames = np.random.default_rng(0).integers(0, 255, (12, 32, 32, 3), dtype=np.uint8)
    labelled = LabelledFrames({"front": frames}, np.arange(12) % 2 == 0, np.arange(12) // 2)
    config = ClassifierConfig(image_keys=("front",), downsample=1, steps=3, batch_size=4)
    train_classifier(labelled, config).save(tmp_path / "clf")
    text = real_config.read_text().replace("name: reach", "name: classifier\n  classifier: clf")
    (tmp_path / "robot.yaml").write_text(text)
    missing = tmp_path / "missing.yaml"
    missing.write_text(text.replace("classifier: clf", "classifier: nowhere"))
    with pytest.raises(FileNotFoundError, match=r"task.classifier .* does not exist: train one"):
        load_config(missing)
    env = make_real_env(tmp_path / "robot.yaml")
    try:
        assert isinstance(env, ClassifierReward) and env.action_space.shape == (4,)  # the gripper too
        env.reset()
        for _ in range(3):
            _, reward, terminated, _, info = env.step(np.zeros(4, np.float32))
            assert reward == float(info["classifier_success"]) and terminated == info["classifier_success"]
    finally:
        env.close()
