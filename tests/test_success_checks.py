"""Checked successes: a rejected claim earns nothing and ends the episode unterminated, a confirmed
one stands, the classifier unlearns what was rejected, and the verdicts survive a save."""

from __future__ import annotations

import numpy as np
import pytest
from test_rewards import FAST, SIZE, synthetic_frames

from robokit.envs.registration import make
from robokit.recipes.turns import train_episode
from robokit.rewards.classifier import LabelledFrames, RewardClassifier, evaluate_classifier, train_classifier
from robokit.rewards.success_checks import SuccessChecks, simulator_labeller
from robokit.rewards.wrapper import ClassifierReward


class Claims:
    """Stands in for a classifier that calls every frame a success (what a policy exploits)."""

    def check_frames(self, images):
        pass

    def __call__(self, images) -> bool:
        return True


class RecordingTurn:
    """A policy that holds still and keeps every transition it is given."""

    def __init__(self):
        self.transitions = []

    def start_episode(self):
        pass

    def act(self, obs, explore=True):
        return np.zeros(4, np.float32)

    def learn(self, transition):
        self.transitions.append(transition)


@pytest.mark.parametrize("cube_in_b", [False, True])
def test_a_rejected_claim_earns_nothing_and_a_confirmed_one_stands(cube_in_b):
    """A classifier claims a forward success ("the cube is in B") at the first step; the simulator
    rejects it with the cube in A and confirms it with the cube already in B."""
    vision = make("RelocateVision-v0", camera_size=(32, 32), terminate_on_success=False)
    env = ClassifierReward(vision, Claims(), keep_images=False)
    checks = SuccessChecks({"forward": Claims()})
    if cube_in_b:  # a backward episode's start places the cube in B; the forward one keeps it there
        env.reset(seed=0, options={"direction": "backward"})
    obs, _ = env.reset(seed=0, options={"direction": "forward", "keep_objects": cube_in_b})
    turn, steps = RecordingTurn(), {"forward": 0}
    info, terminated, episode_return = train_episode(env, obs, turn, "forward", steps, checks)
    env.close()
    (last,) = turn.transitions  # the claim came at the first step and ended the episode either way
    assert info["success"] is cube_in_b and terminated is cube_in_b
    assert last.reward == float(cube_in_b) and episode_return == float(cube_in_b)
    assert last.terminated is cube_in_b and last.truncated is not cube_in_b
    assert checks.asked == {"forward": 1} and checks.rejected == {"forward": int(not cube_in_b)}
    assert checks.frames("forward").images["front"].shape == (1, 32, 32, 3)
    assert "front" not in last.observation  # the policy still sees no images


def _square_frames(n: int, corner: bool, seed: int) -> LabelledFrames:
    """Success-looking frames (a bright square), the square in the top-left corner or elsewhere."""
    rng = np.random.default_rng(seed)
    front = rng.integers(0, 120, size=(n, SIZE, SIZE, 3), dtype=np.uint8)
    for i in range(n):
        y, x = rng.integers(0, 3, size=2) if corner else rng.integers(12, SIZE - 8, size=2)
        front[i, y : y + 8, x : x + 8] = 255
    wrist = rng.integers(0, 255, size=(n, SIZE, SIZE, 3), dtype=np.uint8)
    return LabelledFrames({"front": front, "wrist": wrist}, np.full(n, not corner), np.arange(n))


def test_fine_tuning_on_rejected_claims_unlearns_them_and_keeps_the_true_successes(tmp_path):
    """A classifier that sees success in any bright square is told that a square in the corner is
    not one: after the refresh it rejects fresh corner squares and still accepts the others."""
    classifier = train_classifier(synthetic_frames(), FAST)
    corner, elsewhere = _square_frames(40, True, 1), _square_frames(40, False, 2)
    before = classifier.probability(corner.images) >= classifier.threshold
    assert before.mean() > 0.8, before.mean()  # the hole a policy would exploit
    replay = {"forward": synthetic_frames()}  # what it was trained on
    checks = SuccessChecks({"forward": classifier}, labeller=lambda info: info["success"], replay=replay)
    for frames in (corner, elsewhere):
        for i in range(len(frames)):
            checks.check(
                "forward", {k: v[i] for k, v in frames.images.items()}, {"success": frames.labels[i]}
            )
    assert checks.refresh() == ["forward"]
    tuned = classifier.params
    assert checks.refresh() == [] and classifier.params is tuned  # no new verdict: no fine-tune
    fresh_corner, fresh_elsewhere = _square_frames(40, True, 3), _square_frames(40, False, 4)
    assert np.mean(classifier.probability(fresh_corner.images) >= classifier.threshold) < 0.1
    assert np.mean(classifier.probability(fresh_elsewhere.images) >= classifier.threshold) > 0.9
    unseen = synthetic_frames(episodes=10, seed=5)  # and it still knows its first task
    assert evaluate_classifier(classifier, unseen).accuracy >= 0.95
    # a resumed run gets the fine-tuned classifier and every verdict back
    checks.save(tmp_path)
    reloaded = SuccessChecks({"forward": RewardClassifier.load(tmp_path / "forward")})
    reloaded.load(tmp_path, checks.counts())
    probe = fresh_corner.images
    assert np.allclose(reloaded.classifiers["forward"].probability(probe), classifier.probability(probe))
    assert reloaded.counts() == checks.counts() and reloaded.labels == checks.labels
    assert reloaded.refresh() == []  # nothing new since the fine-tune the checkpoint holds
    assert np.array_equal(
        reloaded.frames("forward").images["front"], checks.frames("forward").images["front"]
    )


def test_one_kind_of_verdict_is_not_fine_tuned_on_and_no_success_info_is_one_sentence():
    classifier = train_classifier(synthetic_frames(), FAST)
    params = classifier.params
    checks = SuccessChecks({"forward": classifier}, labeller=lambda info: False)
    frames = _square_frames(3, True, 0)
    for i in range(3):
        checks.check("forward", {k: v[i] for k, v in frames.images.items()}, {})
    assert checks.refresh() == [] and classifier.params is params  # only rejections: nothing to balance
    with pytest.raises(ValueError, match="names no training data, which fine-tuning replays: retrain it"):
        classifier.training_frames()
    with pytest.raises(ValueError, match=r"in simulation, or with --labeller operator"):
        simulator_labeller({"classifier_success": True})
