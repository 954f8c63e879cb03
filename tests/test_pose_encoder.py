"""The pose encoder (robokit.agents.pose_encoder): pretrained on randomised simulated frames, it
tells where the cube is in episodes it never saw, better than knowing only the average place; it
saves and loads whole; frames it was not made for are one sentence."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from robokit.agents.pose_encoder import EncoderConfig, PoseEncoder, PoseFrames, train_pose_encoder
from robokit.envs.pose_frames import collect_pose_frames


@pytest.fixture(scope="module")
def encoder():
    frames = PoseFrames(
        *collect_pose_frames("robokit/PickCubeVision-v0", 10, looks="train", camera_size=64, every=3)
    )
    return train_pose_encoder(frames, EncoderConfig(downsample=1, steps=250)), frames


def test_the_encoder_finds_the_cube_in_episodes_it_never_saw(encoder):
    model, _ = encoder
    error, baseline = (np.asarray(model.scores[k]) for k in ("test_mean_abs_error", "mean_predictor_error"))
    assert model.scores["test_episodes"] == 2 and model.scores["train_episodes"] == 8
    # x and y on the table together (one axis alone can vary little over 2 test episodes)
    assert error[:2].sum() < 0.6 * baseline[:2].sum(), model.scores


def test_the_targets_are_the_cube_and_the_cube_relative_to_the_gripper():
    from robokit.envs.experts import make_expert, run_episode
    from robokit.envs.pose_frames import NOISES
    from robokit.envs.registration import make

    _, targets, _ = collect_pose_frames("robokit/PickCubeVision-v0", 1, looks=None, camera_size=32, every=1)
    env = make("robokit/PickCube-v0", privileged_state=True)  # the same episode again, read from the sim
    try:
        expert, task = make_expert(env, noise=NOISES[0], seed=0), env.unwrapped.task
        truth = [
            np.concatenate([task.cube_pos(), task.cube_pos() - task.tcp_pos()])
            for _ in run_episode(env, expert, seed=0)
        ]
    finally:
        env.close()
    assert targets.shape == (len(truth), 6) and len(truth) > 10
    np.testing.assert_allclose(targets, np.asarray(truth), atol=1e-4)
    assert np.abs(targets[:, 3:]).max() > 0.1  # the gripper starts far from the cube


def test_an_encoder_saves_and_loads_whole_and_refuses_other_frames(encoder, tmp_path):
    model, frames = encoder
    loaded = PoseEncoder.load(model.save(tmp_path / "encoder"))
    images = {k: v[:5] for k, v in frames.images.items()}
    np.testing.assert_allclose(loaded.encode(images), model.encode(images), atol=1e-5)
    # the cube's position and its position relative to the gripper
    assert loaded.encode(images).shape == (5, model.config.embedding_dim + 6) == (5, loaded.dim)
    alone = PoseEncoder.load(model.save(tmp_path / "estimate"))
    alone.config = dataclasses.replace(alone.config, policy_input="estimate")
    assert alone.dim == 6 and alone.encode(images).shape == (5, 6)
    np.testing.assert_allclose(alone.encode(images), model.encode(images)[:, -6:], atol=1e-5)
    with pytest.raises(ValueError, match="use embedding\\+estimate or estimate"):
        EncoderConfig(policy_input="pixels")
    with pytest.raises(ValueError, match="pretrain one on them"):
        loaded.encode({k: np.zeros((1, 128, 128, 3), np.uint8) for k in images})
    with pytest.raises(ValueError, match="which these observations lack"):
        loaded.encode({"front": images["front"]})
    with pytest.raises(FileNotFoundError, match="pretrain-encoder --out"):
        PoseEncoder.load(tmp_path / "nothing")
    # what the link compares: the same files agree, an encoder differing in one number does not
    fingerprint = PoseEncoder.fingerprint(tmp_path / "encoder")
    assert fingerprint.startswith("encoder ")
    assert fingerprint == PoseEncoder.fingerprint(tmp_path / "estimate")
    other = dataclasses.replace(model, target_mean=model.target_mean + 0.01).save(tmp_path / "other")
    assert PoseEncoder.fingerprint(other) != fingerprint
    with pytest.raises(FileNotFoundError, match="pretrain-encoder --out"):
        PoseEncoder.fingerprint(tmp_path / "nothing")


def test_an_encoded_env_gives_the_policy_vectors_and_a_mismatched_camera_is_one_sentence(encoder):
    from robokit.agents.pose_encoder import EMBEDDING_KEY, Encoded
    from robokit.envs.registration import make
    from robokit.types import EnvSpec

    model, _ = encoder
    env = Encoded(make("robokit/PickCubeVision-v0", camera_size=64), model)
    try:
        obs, _ = env.reset(seed=0)
        assert set(obs) == {"state", EMBEDDING_KEY} and obs[EMBEDDING_KEY].shape == (model.dim,)
        assert env.observation_space.contains(obs)
        spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
        assert all(len(shape) == 1 for _, shape, _ in spec.observations)  # no frame reaches the learner
        # the wrapper carries the encoder's estimate of these very frames, in the last slots (how
        # good the estimate is, the first test measures on unseen episodes)
        plain = make("robokit/PickCubeVision-v0", camera_size=64)
        frames, _ = plain.reset(seed=0)
        plain.close()
        estimate = obs[EMBEDDING_KEY][-6:] * model.target_std + model.target_mean
        seen = model.estimate({k: frames[k][None] for k in model.config.image_keys})[0]
        np.testing.assert_allclose(estimate, seen, atol=1e-4)
        cube = env.unwrapped.task.world.body_pos("cube")
        assert np.linalg.norm(estimate[:2] - cube[:2]) < 0.15  # on the table, near the cube
    finally:
        env.close()
    with pytest.raises(ValueError, match="pretrain one on them"):
        Encoded(make("robokit/PickCubeVision-v0", camera_size=96), model)


def test_the_console_shows_an_encoded_actors_cameras_while_a_page_watches(encoder):
    """An encoded env's transitions carry embeddings only; the actor hands its raw frames to the
    link as views, which reach the console's hub only while a page looks."""
    from robokit.agents.pose_encoder import Encoded
    from robokit.console.hub import ConsoleHub
    from robokit.envs.registration import make
    from robokit.link import InProcessLink
    from robokit.loop import actor as actor_loop

    model, _ = encoder
    env = Encoded(make("robokit/PickCubeVision-v0", camera_size=64), model)
    link, hub = InProcessLink(), ConsoleHub(frames_unwatched=False)
    link.view_sink, link.views_wanted = hub.take_view, hub.wants_frames
    actor = actor_loop.Actor(env, None, link, seed=0)  # no params yet: it explores
    try:
        actor.collect(1)
        assert hub.frames == {}  # nobody watches: nothing kept
        assert not hub.snapshot()["cameras"]  # a page looks (and sees no camera yet)
        actor._viewed_at = -actor_loop.VIEW_EVERY_S
        actor.collect(1)
        shown = hub.snapshot()["cameras"]
        assert sorted(camera for _, camera, _ in shown) == sorted(model.config.image_keys)
        for camera, pixels in env.camera_frames().items():
            frame = hub.frame(0, camera)
            assert frame.pixels.shape == (64, 64, 3) and np.array_equal(frame.pixels, pixels)
            assert frame.jpeg[:2] == b"\xff\xd8"  # what the page is sent
        assert link.drain()["transitions"][0].frames.keys() == {"state", "embedding"}
    finally:
        env.close()


def test_a_policy_on_the_frozen_encoding_tells_apart_scenes_only_the_cameras_show(encoder):
    # Cube on the left or the right of the table, the arm's state the same: a one-step task paying
    # +a[0] on the left and -a[0] on the right is learned only if the encoding separates the scenes.
    import jax

    from robokit.agents.pose_encoder import EMBEDDING_KEY, Encoded
    from robokit.agents.sac.agent import SAC, SACConfig
    from robokit.envs.registration import make
    from robokit.types import EnvSpec

    model, _ = encoder
    env = Encoded(make("robokit/PickCubeVision-v0", camera_size=64), model)
    try:
        scenes, sides = [], []
        for seed in range(60):
            obs, _ = env.reset(seed=seed)
            y = env.unwrapped.task.world.body_pos("cube")[1]
            if abs(y) > 0.05:
                scenes.append(obs[EMBEDDING_KEY])
                sides.append(np.sign(y))
        spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
        state = obs["state"]
    finally:
        env.close()
    sides = np.asarray(sides, np.float32)
    assert 4 <= (sides > 0).sum() <= len(sides) - 4, sides
    n, rng = 256, np.random.default_rng(0)
    pick = rng.integers(0, len(sides), n)
    observations = {"state": np.repeat(state[None], n, 0), EMBEDDING_KEY: np.asarray(scenes)[pick]}
    actions = rng.uniform(-1, 1, (n, spec.action_dim)).astype(np.float32)
    batch = {
        "observations": observations,
        "actions": actions,
        "rewards": actions[:, 0] * sides[pick],
        "masks": np.zeros(n, np.float32),
        "next_observations": observations,
    }
    agent = SAC(SACConfig(critic_ensemble=2, utd_ratio=1, batch_size=n, hidden_dims=(64, 64)), spec)
    params = agent.init(jax.random.PRNGKey(0))
    for _ in range(800):
        params, _ = agent.update(params, batch)
    greedy = np.asarray(
        agent.act(agent.policy_params(params), observations, jax.random.PRNGKey(1), explore=False)
    )
    right = np.mean(np.sign(greedy[:, 0]) == sides[pick])
    assert right >= 0.9, f"the policy picked the paying side in {right:.0%} of the scenes"


def test_a_frozen_encoder_run_from_the_command_line_under_visual_randomisation(tmp_path):
    """pretrain-encoder, then train with it under --looks train through an actor process, then eval
    on held-out looks with a video showing the policy's camera inputs beside the render (tiny
    budgets: the path is judged here, not the learning)."""
    import imageio.v3 as iio
    from cli_run import robokit

    encoder, run, video = tmp_path / "encoder", tmp_path / "run", tmp_path / "eval.mp4"
    result = robokit(
        "pretrain-encoder", "--episodes", "5", "--steps", "20", "--every", "4", "--out", str(encoder)
    )
    for line in ("object position, error on test episodes", "relative to the gripper, error on test"):
        assert result.returncode == 0 and line in result.stdout, result.stdout + result.stderr
    result = robokit(
        "train", "--env", "PickCubeVision-v0", "--encoder", str(encoder), "--looks", "train", "--run-dir",
        str(run), "--num-demos", "1", "--max-env-steps", "120", "--start-after", "60", "--eval-every",
        "100000", "--final-eval-episodes", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["looks"] == "train" and {k for k, _, _ in saved["spec"]["observations"]} == {
        "state",
        "embedding",
    }
    result = robokit(
        "eval", "--run", str(run), "--episodes", "1", "--looks", "held_out", "--video", str(video)
    )
    assert result.returncode == 0 and "success rate" in result.stdout, result.stderr[-2000:]
    frames = iio.imread(video)
    assert frames.shape[1:] == (480, 640 + 240, 3)  # the render, and a column of two 240 px inputs
    column = frames[:, :, 640:]
    assert column[:, :480].std() > 5 and np.abs(column[1:] - column[:-1].astype(int)).max() > 0


@pytest.mark.extended
@pytest.mark.timeout(7200)
def test_a_frozen_encoder_policy_reaches_90_percent_and_80_on_held_out_looks(tmp_path):
    """The README's pixel figure, one seed: `pretrain-encoder` with its defaults (750 episodes), then
    `train` on the frozen encoder under training looks with the BC term, judged on 50 fresh episodes
    under training looks and 50 under held-out looks."""
    import re

    from cli_run import robokit

    encoder, run = tmp_path / "encoder", tmp_path / "run"
    result = robokit("pretrain-encoder", "--out", str(encoder), timeout=5400)
    assert result.returncode == 0, result.stderr[-2000:]
    result = robokit(
        "train", "--env", "PickCubeVision-v0", "--encoder", str(encoder), "--looks", "train",
        "--bc-weight", "0.5", "--run-dir", str(run), timeout=3600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    final = [json.loads(x) for x in (run / "evals.jsonl").read_text().splitlines()][-1]
    assert final["final"] and final["episodes"] == 50 and final["success_rate"] >= 0.9, final
    result = robokit("eval", "--run", str(run), "--episodes", "50", "--looks", "held_out", timeout=1800)
    rate = re.search(r"success rate (\d+)%", " ".join(result.stdout.split()))
    assert result.returncode == 0 and rate, result.stdout + result.stderr[-2000:]
    assert int(rate.group(1)) >= 80, result.stdout
