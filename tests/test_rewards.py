"""Reward classifiers: learning a visual success rule, failing on shuffled labels, thresholds,
episode splits, save/load, the env wrapper on the simulator, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from cli_run import robokit

from robokit.data.datasets import Episode, write_dataset
from robokit.rewards.classifier import (
    ClassifierConfig,
    LabelledFrames,
    RewardClassifier,
    Scores,
    best_threshold,
    evaluate_classifier,
    split_episodes,
    train_classifier,
)

SIZE = 32


def synthetic_frames(episodes=30, length=20, seed=0, shuffle=False) -> LabelledFrames:
    """Each episode turns successful at a random step; a success frame shows a bright square at a
    random place in the front camera (the wrist camera is noise only)."""
    rng = np.random.default_rng(seed)
    n = episodes * length
    front = rng.integers(0, 120, size=(n, SIZE, SIZE, 3), dtype=np.uint8)
    wrist = rng.integers(0, 255, size=(n, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.zeros(n, bool)
    for e in range(episodes):
        start = rng.integers(1, length - 1)
        labels[e * length + start : (e + 1) * length] = True
    for i in np.flatnonzero(labels):
        y, x = rng.integers(0, SIZE - 8, size=2)
        front[i, y : y + 8, x : x + 8] = 255
    if shuffle:
        labels = rng.permutation(labels)
    return LabelledFrames({"front": front, "wrist": wrist}, labels, np.repeat(np.arange(episodes), length))


FAST = ClassifierConfig(downsample=1, steps=300, batch_size=32, image_pad=2)


def test_a_classifier_learns_a_visual_success_rule_and_reports_held_out_figures():
    classifier = train_classifier(synthetic_frames(), FAST)
    test = classifier.scores["test"]
    assert test["accuracy"] >= 0.95 and test["precision"] >= 0.9 and test["recall"] >= 0.9, test
    assert classifier.scores["test_episodes"] >= 4 and classifier.scores["validation_episodes"] >= 4
    # and on frames from episodes it never saw at all
    fresh = evaluate_classifier(classifier, synthetic_frames(episodes=10, seed=1))
    assert fresh.accuracy >= 0.95, fresh


def test_shuffled_labels_do_not_pass():
    """The same data with its labels shuffled across frames holds no rule to learn."""
    classifier = train_classifier(synthetic_frames(shuffle=True), FAST)
    fresh = evaluate_classifier(classifier, synthetic_frames(episodes=10, seed=1))
    assert fresh.accuracy < 0.8, fresh


def test_threshold_is_halfway_between_cleanly_separated_classes():
    probs = np.array([0.05, 0.1, 0.2, 0.7, 0.8, 0.9])
    labels = np.array([False, False, False, True, True, True])
    assert 0.4 <= best_threshold(probs, labels) <= 0.5
    scores = Scores.of(probs, labels, 0.75)  # one success missed
    assert scores.confusion == [[3, 0], [1, 2]]
    assert scores.precision == 1.0 and scores.recall == pytest.approx(2 / 3)


def test_episodes_are_never_split_between_training_and_held_out_parts():
    frames = synthetic_frames(episodes=20, length=5)
    parts = split_episodes(frames.episode, ClassifierConfig())
    seen = [set(frames.episode[mask]) for mask in parts.values()]
    assert sum(len(s) for s in seen) == 20 and not (
        seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2]
    )
    assert np.all(np.sum(list(parts.values()), axis=0) == 1)  # every frame in exactly one part


def test_save_and_load_give_the_same_verdicts(tmp_path):
    frames = synthetic_frames(episodes=10, seed=2)
    classifier = train_classifier(synthetic_frames(), FAST)
    loaded = RewardClassifier.load(classifier.save(tmp_path / "clf"))
    np.testing.assert_array_equal(loaded.probability(frames.images), classifier.probability(frames.images))
    assert loaded.threshold == classifier.threshold and loaded.frame_shapes == classifier.frame_shapes


def test_bad_input_is_one_sentence_with_the_fix(tmp_path):
    frames = synthetic_frames(episodes=6)
    only_failures = LabelledFrames(frames.images, np.zeros(len(frames), bool), frames.episode)
    with pytest.raises(ValueError, match=r"all failure frames .* record failure and success frames"):
        train_classifier(only_failures, FAST)
    classifier = train_classifier(synthetic_frames(), ClassifierConfig(downsample=1, steps=5, batch_size=8))
    bigger = {k: np.zeros((1, 48, 48, 3), np.uint8) for k in ("front", "wrist")}
    with pytest.raises(
        ValueError, match="gives 48x48 frames but the classifier was trained on 32x32: set the"
    ):
        classifier.probability(bigger)
    with pytest.raises(FileNotFoundError, match=r"no reward classifier at .*: pass the folder"):
        RewardClassifier.load(tmp_path / "missing")
    # and from the command line, before anything starts
    result = robokit(
        "train", "--reward-classifier", str(tmp_path / "missing"), "--run-dir", str(tmp_path / "r")
    )
    assert result.returncode == 2 and "no reward classifier at" in result.stderr
    assert not (tmp_path / "r").exists()


def test_train_classifier_command_prints_figures_and_a_confusion_matrix(tmp_path):
    frames = synthetic_frames(episodes=12)
    episodes = []
    for e in range(12):
        mask = frames.episode == e
        n = int(mask.sum())
        episodes.append(
            Episode(
                observations={k: v[mask] for k, v in frames.images.items()},
                actions=np.zeros((n - 1, 4), np.float32),
                rewards=np.zeros(n - 1),
                terminations=np.zeros(n - 1, bool),
                truncations=np.eye(1, n - 1, n - 2, dtype=bool)[0],
                infos={"success": frames.labels[mask]},
                seed=e,
            )
        )
    import gymnasium as gym

    space = gym.spaces.Dict(
        {k: gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8) for k in ("front", "wrist")}
    )
    data = write_dataset(tmp_path / "frames", episodes, space, gym.spaces.Box(-1, 1, (4,), np.float32))
    out = tmp_path / "clf"
    twice = ["--data", str(data), "--data", str(data)]  # repeated --data: every dataset is used
    result = robokit("train-classifier", *twice, "--out", str(out), "--steps", "200", "--downsample", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "held-out test episodes" in result.stdout and "confusion matrix" in result.stdout
    frames_used = sum(len(ep) + 1 for ep in episodes) * 2
    assert f"{frames_used} frames from {2 * len(episodes)} episodes" in " ".join(result.stdout.split())
    loaded = RewardClassifier.load(out)
    assert loaded.frame_shapes == {"front": (SIZE, SIZE, 3), "wrist": (SIZE, SIZE, 3)}
    # the card names its data, which fine-tuning on a run's verdicts replays
    assert loaded.data == (str(data.absolute()),) * 2 and len(loaded.training_frames()) == frames_used


def test_a_classifier_of_simulator_frames_rewards_the_state_task_in_place_of_the_simulator(tmp_path):
    """Frames recorded with `--frames` in PickCubeVision (labelled by the simulator) train a
    classifier; PickCube-v0 rewarded by it keeps the state task's observations, and its reward
    agrees with the simulator's success on fresh expert episodes."""
    from robokit.data.datasets import read_episodes
    from robokit.envs.experts import make_expert, run_episode
    from robokit.envs.recording import record_expert
    from robokit.envs.registration import make
    from robokit.envs.rewarded import make_classifier_rewarded

    summary = record_expert("PickCubeVision-v0", 16, tmp_path / "frames", frames=True, camera_size=48)
    frames = LabelledFrames.from_episodes(read_episodes(summary.path), ("front", "wrist"))
    assert 0.2 < frames.labels.mean() < 0.8  # both kinds, from episodes run on past success
    classifier = train_classifier(frames, ClassifierConfig(downsample=1, steps=400))
    env = make_classifier_rewarded("PickCube-v0", classifier)
    assert env.observation_space == make("PickCube-v0").observation_space
    expert = make_expert(env, seed=7)
    agree = total = ended_on_true_success = 0
    for seed in range(500, 504):
        for _, action, reward, terminated, _, info in run_episode(env, expert, seed):
            if action is not None:
                agree += reward == float(info["success"])
                total += 1
            ended_on_true_success += terminated and info["success"]
    assert agree / total >= 0.9, f"{agree}/{total}"
    assert ended_on_true_success >= 3  # episodes end when the classifier sees the cube lifted
    env.close()
