"""Simulated tasks rewarded by a reward classifier instead of the simulator's success flag."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

from robokit.envs.registration import check_env_id, make
from robokit.rewards.classifier import RewardClassifier
from robokit.rewards.wrapper import ClassifierReward


def make_classifier_rewarded(env_id: str, classifier: RewardClassifier | Path, **kwargs) -> gym.Env:
    """`env_id` with its reward and termination from `classifier`. A state task renders the
    classifier's cameras (its Vision twin with the object features kept) for the classifier only,
    so its observations stay those of the state task; the simulator's success stays in the info."""
    env_id = check_env_id(env_id)
    if not isinstance(classifier, RewardClassifier):
        classifier = RewardClassifier.load(classifier)
    state_task = "Vision" not in env_id
    height, width, _ = next(iter(classifier.frame_shapes.values()))
    env = make(
        env_id.replace("-v0", "Vision-v0") if state_task else env_id,
        camera_size=(width, height),
        privileged_state=True if state_task else None,
        terminate_on_success=False,
        **kwargs,
    )
    return ClassifierReward(env, classifier, keep_images=not state_task)
