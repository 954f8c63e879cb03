"""FrankaEnv: one gymnasium env for the simulated and the real arm; only the robot and cameras differ.

Action: TCP displacement (x, y, z) in [-1, 1] scaled by `action_scale` metres per step, plus the
gripper closure in [-1, 1] (-1 open, 1 closed) when the task uses the gripper. The orientation is
held at the home orientation. Observation: a dict with "state" (TCP position, TCP linear velocity,
gripper width, then the task's object features in the state variant) and one uint8 image per camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np

from robokit.envs.tasks.base import Task
from robokit.types import Camera, Command, Robot, RobotState

PROPRIO_DIM = 7


@dataclass(frozen=True)
class EnvConfig:
    action_scale: float = 0.03
    """Metres the TCP target moves per step at full action."""
    reward_type: Literal["sparse", "dense"] = "sparse"
    terminate_on_success: bool = True
    privileged_state: bool = True
    """Append the task's object features to "state" (the state variant; off for Vision)."""
    max_frame_age_s: float = 0.1
    max_reset_steps: int = 30
    """Control steps allowed for driving the arm to the task's start pose at reset."""
    binary_gripper: bool = True
    """Close the gripper fully when the gripper action is > 0, else open it (Franka Hand-style grasp /
    release). Exploration noise then cannot loosen a grasp; False passes the closure through."""

    def __post_init__(self) -> None:
        if self.reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type {self.reward_type!r} is unknown: use 'sparse' or 'dense'.")


class FrankaEnv(gym.Env):
    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        robot: Robot,
        cameras: dict[str, Camera],
        task: Task,
        config: EnvConfig | None = None,
        render_camera: Camera | None = None,
        render_mode: str | None = None,
    ):
        self.robot, self.cameras, self.task = robot, dict(cameras), task
        self.config = config or EnvConfig()
        self.render_mode = render_mode
        self._render_camera = render_camera
        state_dim = PROPRIO_DIM + (task.object_state_dim if self.config.privileged_state else 0)
        spaces: dict[str, gym.Space] = {
            "state": gym.spaces.Box(-np.inf, np.inf, shape=(state_dim,), dtype=np.float32)
        }
        for key, cam in self.cameras.items():
            spaces[key] = gym.spaces.Box(0, 255, shape=(cam.height, cam.width, 3), dtype=np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        n_act = 4 if task.uses_gripper else 3
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(n_act,), dtype=np.float32)
        self._home_quat = np.array([1.0, 0.0, 0.0, 0.0])
        self._state: RobotState | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.task.reset(self.np_random, options or {})
        self._state = self.robot.home()
        self._home_quat = self._state.tcp_quat.copy()
        if self.task.start_tcp is not None:
            self._drive_to_start()
        return self._observe(), {"success": self.task.success()}

    def _drive_to_start(self) -> None:
        """Move the TCP from home to the task's (randomised) start, through the robot's own control
        path, as a real arm has to: the same code runs in simulation and on the robot."""
        offset = self.np_random.uniform(-self.task.start_spread, self.task.start_spread, size=2)
        start = np.asarray(self.task.start_tcp) + np.array([offset[0], offset[1], 0.0])
        gripper = 0.0 if self.task.uses_gripper else self.task.fixed_gripper
        for _ in range(self.config.max_reset_steps):
            self._state = self.robot.step(Command(start, self._home_quat, gripper))
            if (
                np.linalg.norm(self._state.tcp_pos - start) < 0.005
                and np.linalg.norm(self._state.tcp_vel) < 0.02
            ):
                break

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(
                f"action has shape {action.shape}, this env takes {self.action_space.shape}: "
                "pass one value per action dimension."
            )
        action = np.clip(action, -1.0, 1.0)
        target = self._state.tcp_pos + self.config.action_scale * action[:3]
        if not self.task.uses_gripper:
            gripper = self.task.fixed_gripper
        elif self.config.binary_gripper:
            gripper = 1.0 if action[3] > 0.0 else 0.0
        else:
            gripper = (action[3] + 1.0) / 2.0
        self._state = self.robot.step(Command(target, self._home_quat, float(gripper)))
        success = self.task.success()
        dense = self.config.reward_type == "dense"
        reward = self.task.dense_reward(self._state) if dense else float(success)
        terminated = success and self.config.terminate_on_success
        return self._observe(), reward, terminated, False, {"success": success}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        camera = self._render_camera or next(iter(self.cameras.values()), None)
        if camera is None:
            raise RuntimeError("this env has no camera to render from: make it with render_mode='rgb_array'.")
        return camera.read(self.config.max_frame_age_s).rgb

    def close(self) -> None:
        for cam in self.cameras.values():
            cam.close()
        if self._render_camera is not None:
            self._render_camera.close()
        self.robot.close()

    def _observe(self) -> dict[str, np.ndarray]:
        s = self._state
        parts = [s.tcp_pos, s.tcp_vel[:3], [s.gripper_width]]
        if self.config.privileged_state:
            parts.append(self.task.object_state())
        obs = {"state": np.concatenate(parts).astype(np.float32)}
        for key, cam in self.cameras.items():
            obs[key] = cam.read(self.config.max_frame_age_s).rgb
        return obs
