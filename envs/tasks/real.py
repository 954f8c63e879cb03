"""Tasks on the real arm, where no simulator knows the truth: success comes from the robot's own
state (a goal region for the TCP) until a reward classifier (robokit.rewards) says it from images."""

from __future__ import annotations

from typing import Any

import numpy as np

from robokit.envs.tasks.base import Task
from robokit.types import RobotState, SafetyBox


class ReachTask(Task):
    """Bring the TCP into a goal box. Useful on its own and to check the real pipeline end to end."""

    name = "reach"
    uses_gripper = False

    def __init__(self, robot, goal: SafetyBox, start_tcp=None, start_spread: float = 0.03):
        self.robot, self.goal = robot, goal
        self.start_tcp, self.start_spread = start_tcp, start_spread

    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Nothing to place: a person (or a reset policy) sets the scene on a real robot."""

    def object_state(self) -> np.ndarray:
        return np.zeros(0, np.float32)

    def success(self) -> bool:
        return self.goal.contains(self.robot.state().tcp_pos)

    def dense_reward(self, robot: RobotState) -> float:
        if self.goal.contains(robot.tcp_pos):
            return 1.0
        centre = (np.asarray(self.goal.low) + np.asarray(self.goal.high)) / 2
        return float(np.exp(-10.0 * np.linalg.norm(robot.tcp_pos - centre)) * 0.9)


class ClassifierTask(Task):
    """A task whose success only a reward classifier can tell (robokit.rewards.classifier): the env is wrapped
    in ClassifierReward, which rewards and ends episodes; the arm controls the gripper."""

    name = "classifier"
    uses_gripper = True

    def __init__(self, start_tcp=None, start_spread: float = 0.03):
        self.start_tcp, self.start_spread = start_tcp, start_spread

    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Nothing to place: a person or a backward (reset) policy sets the scene on a real robot."""

    def object_state(self) -> np.ndarray:
        return np.zeros(0, np.float32)

    def success(self) -> bool:
        return False  # the classifier's verdict is ClassifierReward's, in info["classifier_success"]

    def dense_reward(self, robot: RobotState) -> float:
        return 0.0
