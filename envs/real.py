"""The real FrankaEnv, built from a YAML file (robot IP, cameras, safety box, home pose, task), not
by editing code. `robokit robot-check`, `robokit eval --config` and `robokit actor --config` use it.

robot:
  ip: 172.16.0.2
  safety_box: {low: [0.305, -0.3, 0.02], high: [0.6, 0.3, 0.5]}   # in the arm's reach: checked
  tcp_offset: 0.1034                                        # the Franka Hand's TCP (Desk)
  home_q: [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]   # optional
cameras:                                                   # optional; observation key -> camera
  front: {serial: "123456789", width: 640, height: 480, crop: [80, 0, 560, 480], size: 128}
task:
  name: reach
  goal_box: {low: [0.5, -0.05, 0.2], high: [0.6, 0.05, 0.3]}
  start_tcp: [0.45, 0.0, 0.3]      # each episode: home, then here plus a random start_spread offset
env: {action_scale: 0.03, max_episode_steps: 100}

A task whose success a reward classifier tells (`robokit train-classifier`), gripper included:
task: {name: classifier, classifier: clf/pick, start_tcp: [0.45, 0.0, 0.3], start_spread: 0.03}
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml

from robokit.drivers.franka import FrankaArm, FrankaConfig
from robokit.drivers.realsense import RealSenseCamera, RealSenseConfig
from robokit.envs.franka_env import PROPRIO_DIM, EnvConfig, FrankaEnv
from robokit.envs.tasks.real import ClassifierTask, ReachTask
from robokit.types import EnvSpec, SafetyBox

SECTIONS = {"robot", "cameras", "task", "env"}
TASKS = {"reach": ReachTask, "classifier": ClassifierTask}


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _check_keys(where: str, got: dict, allowed: set[str], path: Path) -> None:
    unknown = sorted(set(got) - allowed)
    if unknown:
        raise ValueError(
            f"{path}: unknown key {unknown[0]!r} in {where}: use one of {', '.join(sorted(allowed))}."
        )


def _box(value: Any, where: str, path: Path) -> SafetyBox:
    if not (isinstance(value, dict) and set(value) == {"low", "high"}):
        raise ValueError(f"{path}: {where} must be {{low: [x, y, z], high: [x, y, z]}}.")
    return SafetyBox(tuple(float(v) for v in value["low"]), tuple(float(v) for v in value["high"]))


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(
            f"robot config {path} does not exist: pass the YAML file that describes the robot."
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(
            f"{path} is not valid YAML ({err.__class__.__name__}): fix the line it names."
        ) from None
    _check_keys("the file", raw, SECTIONS, path)
    return raw


def load_cameras(path: Path) -> dict[str, RealSenseConfig]:
    """The checked cameras section of a config file ({key: RealSenseConfig})."""
    path = Path(path)
    cameras = {}
    for key, camera in (_read(path).get("cameras") or {}).items():
        _check_keys(f"cameras.{key}", camera, _fields(RealSenseConfig), path)
        options = {**camera, "name": key, "serial": str(camera.get("serial", ""))}
        if "crop" in options:
            options["crop"] = tuple(int(v) for v in options["crop"])
        if "playback" in options:
            options["playback"] = (path.parent / options["playback"]).resolve()
        cameras[key] = RealSenseConfig(**options)
    return cameras


def load_config(path: Path) -> dict[str, Any]:
    """The parsed and checked file: robot (FrankaConfig), cameras ({key: RealSenseConfig}), task, env."""
    path = Path(path)
    raw = _read(path)
    robot = dict(raw.get("robot") or {})
    _check_keys("robot", robot, _fields(FrankaConfig), path)
    if "ip" not in robot:
        raise ValueError(f"{path}: robot.ip is missing: give the arm's FCI address, e.g. 172.16.0.2.")
    if "safety_box" in robot:
        robot["safety_box"] = _box(robot["safety_box"], "robot.safety_box", path)
    for key in ("home_q", "collision_torques", "collision_forces"):
        if key in robot:
            robot[key] = tuple(float(v) for v in robot[key])
    cameras = load_cameras(path)
    task = dict(raw.get("task") or {"name": "reach"})
    if task.get("name") not in TASKS:
        raise ValueError(
            f"{path}: task.name {task.get('name')!r} is unknown: use one of {', '.join(sorted(TASKS))}."
        )
    if task["name"] == "reach":
        task["goal_box"] = _box(task.get("goal_box"), "task.goal_box", path)
    else:
        if "classifier" not in task:
            raise ValueError(
                f"{path}: task.classifier is missing: give the folder `robokit train-classifier` wrote."
            )
        task["classifier"] = (path.parent / str(task["classifier"])).resolve()
        if not task["classifier"].is_dir():
            raise FileNotFoundError(
                f"{path}: task.classifier {task['classifier']} does not exist: train one with "
                "`robokit train-classifier --out` or fix the path (relative to this file)."
            )
    env = dict(raw.get("env") or {})
    _check_keys("env", env, _fields(EnvConfig) | {"max_episode_steps"}, path)
    try:
        robot = FrankaConfig(**robot)
    except ValueError as err:  # the safety box's reach check: the sentence names the points
        raise ValueError(f"{path}: robot.{err}") from None
    return {"robot": robot, "cameras": cameras, "task": task, "env": env}


def make_real_env(path: Path, **env_overrides) -> gym.Env:
    """Connect the arm and cameras a config file names, and wrap them in FrankaEnv (`env_overrides`
    replace EnvConfig fields of the file's env section, e.g. terminate_on_success=False)."""
    config = load_config(path)
    arm = FrankaArm(config["robot"])
    cameras = {key: RealSenseCamera(c) for key, c in config["cameras"].items()}
    arm.connect()
    try:
        for camera in cameras.values():
            camera.connect()
        task_options = config["task"]
        start = task_options.get("start_tcp")
        start = (tuple(start) if start else None, float(task_options.get("start_spread", 0.03)))
        if task_options["name"] == "reach":
            task = ReachTask(arm, task_options["goal_box"], *start)
        else:
            task = ClassifierTask(*start)
        env_options = {**config["env"], **env_overrides}
        steps = int(env_options.pop("max_episode_steps", 100))
        env_config = EnvConfig(privileged_state=False, max_frame_age_s=0.5, **env_options)
        env = gym.wrappers.TimeLimit(FrankaEnv(arm, cameras, task, env_config), max_episode_steps=steps)
        if task_options["name"] == "classifier":
            from robokit.rewards.classifier import RewardClassifier
            from robokit.rewards.wrapper import ClassifierReward

            env = ClassifierReward(env, RewardClassifier.load(task_options["classifier"]))
        return env
    except BaseException:
        for camera in cameras.values():
            camera.close()
        arm.close()
        raise


def spec_of(path: Path) -> EnvSpec:
    """The observation and action spec of the env a config file describes, without opening anything
    (what a learner needs for a real robot)."""
    config = load_config(path)
    spaces = {"state": gym.spaces.Box(-np.inf, np.inf, (PROPRIO_DIM,), np.float32)}
    for key, camera in config["cameras"].items():
        probe = RealSenseCamera(camera)
        spaces[key] = gym.spaces.Box(0, 255, (probe.height, probe.width, 3), np.uint8)
    uses_gripper = TASKS[config["task"]["name"]].uses_gripper
    actions = gym.spaces.Box(-1.0, 1.0, (4 if uses_gripper else 3,), np.float32)
    return EnvSpec.from_spaces(gym.spaces.Dict(spaces), actions)
