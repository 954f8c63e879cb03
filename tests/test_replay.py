"""Replay buffer (wraparound, image frames stored once, save/load) and the batch mixer's ratios."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from robokit.data.datasets import read_episodes
from robokit.data.mixer import Mixer
from robokit.data.replay import ReplayBuffer
from robokit.envs.recording import record_expert
from robokit.types import EnvSpec, Transition, TransitionBatch

IMAGE = (4, 4, 3)


def spec(images: bool) -> EnvSpec:
    spaces = {"state": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)}
    if images:
        spaces["front"] = gym.spaces.Box(0, 255, IMAGE, np.uint8)
    return EnvSpec.from_spaces(gym.spaces.Dict(spaces), gym.spaces.Box(-1, 1, (1,), np.float32))


def observation(t: int, images: bool) -> dict:
    obs = {"state": np.array([t, -t], np.float32)}
    if images:
        obs["front"] = np.full(IMAGE, t % 256, np.uint8)
    return obs


def fill(buffer: ReplayBuffer, episodes: list[int], images: bool) -> list[tuple[int, int, bool]]:
    """Insert episodes of the given lengths; frame t's pixels and state encode t. Returns (t, t+1, end)."""
    t, added = 0, []
    for length in episodes:
        for step in range(length):
            end = step == length - 1
            buffer.insert(observation(t, images), [0.1 * t], float(t), end, False, observation(t + 1, images))
            added.append((t, t + 1, end))
            t += 1
        t += 100  # the next episode starts from an unrelated frame
    return added


@pytest.mark.parametrize("images", [False, True])
def test_every_sampled_transition_is_consistent_across_wraparound(images):
    buffer = ReplayBuffer(spec(images), capacity=16)
    added = fill(buffer, [5, 7, 9, 4, 6], images)  # 31 transitions through a 16-slot ring
    assert len(buffer) == 16
    batch = buffer.sample(500, np.random.default_rng(0))
    t = batch["observations"]["state"][:, 0]
    np.testing.assert_array_equal(batch["next_observations"]["state"][:, 0], t + 1)
    np.testing.assert_allclose(batch["actions"][:, 0], 0.1 * t, rtol=1e-6)
    np.testing.assert_array_equal(batch["rewards"], t)
    if images:
        np.testing.assert_array_equal(batch["observations"]["front"][:, 0, 0, 0], t % 256)
        np.testing.assert_array_equal(batch["next_observations"]["front"][:, 0, 0, 0], (t + 1) % 256)
    assert set(t.astype(int)) == {start for start, _, _ in added[-16:]}  # exactly the newest 16


def test_image_frames_are_stored_once():
    buffer = ReplayBuffer(spec(True), capacity=1000)
    fill(buffer, [50] * 10, True)
    frame_bytes = buffer.obs["front"].nbytes + sum(f["front"].nbytes for f in buffer.aside.values())
    naive = 2 * 1000 * np.prod(IMAGE)  # obs and next_obs both stored
    assert frame_bytes == 1000 * np.prod(IMAGE) + 10 * np.prod(IMAGE)
    assert frame_bytes < 0.52 * naive
    assert len(buffer.aside) == 10  # one kept-aside frame per finished episode


def test_the_newest_transition_keeps_its_next_frame_aside_until_its_actor_goes_on():
    buffer = ReplayBuffer(spec(True), capacity=8)
    with pytest.raises(ValueError, match="empty replay buffer"):
        buffer.sample(1, np.random.default_rng(0))
    buffer.insert(observation(0, True), [0.0], 0.0, False, False, observation(1, True))
    batch = buffer.sample(20, np.random.default_rng(0))
    assert set(batch["next_observations"]["front"][:, 0, 0, 0]) == {1} and list(buffer.aside) == [0]
    buffer.insert(observation(1, True), [0.0], 0.0, False, False, observation(2, True))
    assert buffer.next_slot[0] == 1 and list(buffer.aside) == [1]  # frame 1 now stored once
    batch = buffer.sample(50, np.random.default_rng(0))
    t = batch["observations"]["state"][:, 0]
    assert set(t) == {0.0, 1.0}
    np.testing.assert_array_equal(batch["next_observations"]["front"][:, 0, 0, 0], t + 1)


@pytest.mark.parametrize("batch", [1, 3])
def test_interleaved_actors_keep_their_own_next_frames(batch):
    """Two actors' batches arrive interleaved (as over the link); each transition's next frame is
    its own actor's next frame, never the other actor's frame that happened to follow it."""
    buffer = ReplayBuffer(spec(True), capacity=64)
    frames = {
        source: [observation(offset + t, True) for t in range(13)] for source, offset in ((1, 0), (2, 100))
    }
    for start in range(0, 12, batch):
        for source, seen in frames.items():  # an actor passes each next observation on as the next obs
            steps = range(start, start + batch)
            rows = [
                Transition(seen[t], np.zeros(1, np.float32), 0.0, False, t == 11, seen[t + 1]) for t in steps
            ]
            buffer.insert_batch(TransitionBatch.from_rows(rows, buffer.spec.observation_keys, source))
    sampled = buffer.sample(400, np.random.default_rng(0))
    t = sampled["observations"]["state"][:, 0]
    assert set(t) == set(range(12)) | set(range(100, 112))
    np.testing.assert_array_equal(sampled["next_observations"]["front"][:, 0, 0, 0], (t + 1) % 256)
    assert len(buffer.aside) == 2  # each actor's episode end; everything else stored once


def test_a_buffer_saved_before_frames_were_paired_per_actor_loads(tmp_path):
    buffer = ReplayBuffer(spec(True), capacity=16)
    fill(buffer, [5, 7], True)
    buffer.insert(observation(500, True), [0.0], 0.0, False, False, observation(501, True))  # goes on
    old = {k: v for k, v in buffer.state_dict().items() if not k.startswith(("aside", "next_slot", "tails"))}
    old["final_slots"] = np.asarray([4, 11], np.int64)  # the old format: episode ends' next frames
    old["final/front"] = np.stack([observation(5, True)["front"], observation(112, True)["front"]])
    np.savez(tmp_path / "old.npz", **old)
    loaded = ReplayBuffer.load(tmp_path / "old.npz", spec(True))
    sampled = loaded.sample(300, np.random.default_rng(0))
    t = sampled["observations"]["state"][:, 0]
    assert set(t) == set(range(5)) | set(range(105, 112))  # the newest one has no next frame yet
    np.testing.assert_array_equal(sampled["next_observations"]["front"][:, 0, 0, 0], (t + 1) % 256)


def test_masks_follow_termination_not_truncation():
    buffer = ReplayBuffer(spec(False), capacity=4)
    buffer.insert(observation(0, False), [0.0], 0.0, True, False, observation(1, False))
    buffer.insert(observation(1, False), [0.0], 0.0, False, True, observation(2, False))
    np.testing.assert_array_equal(buffer.masks[:2], [0.0, 1.0])


@pytest.mark.parametrize("images", [False, True])
def test_save_and_load_round_trip(tmp_path, images):
    buffer = ReplayBuffer(spec(images), capacity=16)
    fill(buffer, [5, 7, 9, 4], images)
    buffer.save(tmp_path / "online.npz")
    loaded = ReplayBuffer.load(tmp_path / "online.npz", spec(images))
    assert (loaded.pointer, loaded.size) == (buffer.pointer, buffer.size)
    a = buffer.sample(64, np.random.default_rng(3))
    b = loaded.sample(64, np.random.default_rng(3))
    for key in ("actions", "rewards", "masks"):
        np.testing.assert_array_equal(a[key], b[key])
    for key in a["next_observations"]:
        np.testing.assert_array_equal(a["next_observations"][key], b["next_observations"][key])
    assert not list(tmp_path.glob("*.partial"))


def test_loading_into_another_env_is_refused(tmp_path):
    buffer = ReplayBuffer(spec(False), capacity=4)
    buffer.save(tmp_path / "b.npz")
    with pytest.raises(ValueError, match="do not match this env"):
        ReplayBuffer.load(tmp_path / "b.npz", spec(True))


def test_demos_load_from_a_recorded_dataset(tmp_path):
    import robokit.envs

    record_expert("PickCube-v0", 2, tmp_path / "demos")
    episodes = read_episodes(tmp_path / "demos")
    env = robokit.envs.make("PickCube-v0")
    demos = ReplayBuffer.from_episodes(EnvSpec.from_spaces(env.observation_space, env.action_space), episodes)
    assert len(demos) == sum(len(ep) for ep in episodes)
    assert demos.rewards.sum() == 2 and demos.masks.sum() == len(demos) - 2  # one success each
    vision = robokit.envs.make("PickCubeVision-v0", camera_size=16)
    wrong = EnvSpec.from_spaces(vision.observation_space, vision.action_space)
    with pytest.raises(ValueError, match="record demos with the same env id"):
        ReplayBuffer.from_episodes(wrong, episodes)


def test_mixer_draws_each_buffer_in_its_ratio():
    demos, online = ReplayBuffer(spec(False), 100), ReplayBuffer(spec(False), 100)
    fill(demos, [20], False)  # states 0..19
    fill(online, [30], False)
    online.obs["state"][:30] += 1000  # tell them apart
    mixer = Mixer({"demos": demos, "online": online}, {"demos": 0.5, "online": 0.5})
    rng = np.random.default_rng(0)
    for n in (256, 255, 7):
        batch = mixer.sample(n, rng)
        is_online = batch["observations"]["state"][:, 0] >= 1000
        assert abs(int(is_online.sum()) - n / 2) <= 1
        np.testing.assert_array_equal(batch["from_demos"], ~is_online)  # marks exactly the demo rows
    three = Mixer({"demos": demos, "online": online}, {"demos": 1, "online": 3})
    assert three.counts(256) == {"demos": 64, "online": 192}
    batch = mixer.sample(256, rng)
    first_half = batch["observations"]["state"][:128, 0] >= 1000
    assert 0 < first_half.sum() < 128  # shuffled: each UTD minibatch sees the mixture


def test_mixer_gives_an_empty_buffers_share_to_the_others():
    demos, online = ReplayBuffer(spec(False), 10), ReplayBuffer(spec(False), 10)
    fill(demos, [5], False)
    mixer = Mixer({"demos": demos, "online": online}, {"demos": 0.5, "online": 0.5})
    assert mixer.counts(10) == {"demos": 10}
    with pytest.raises(ValueError, match="name each once"):
        Mixer({"demos": demos}, {"demos": 0.5, "online": 0.5})
