"""Every registered task: gymnasium's checker, determinism, rewards, options and bad input."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import robokit.envs
from robokit.envs import ENV_IDS


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes(env_id, make_env):
    env = make_env(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test...
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum).*infinity")
        check_env(env.unwrapped, skip_render_check=True)


def rollout(env, seed: int, steps: int = 12):
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    trajectory = [obs]
    for _ in range(steps):
        action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        obs, reward, terminated, truncated, _ = env.step(action)
        trajectory.append({**obs, "reward": np.array(reward)})
        if terminated or truncated:
            break
    return trajectory


@pytest.mark.parametrize("env_id", ["PickCube-v0", "PegInsert-v0", "Relocate-v0", "PickCubeVision-v0"])
def test_same_seed_same_trajectory_across_envs(env_id, make_env):
    first, second = rollout(make_env(env_id), seed=7), rollout(make_env(env_id), seed=7)
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    other = rollout(make_env(env_id), seed=8)
    assert any(not np.array_equal(first[0][k], other[0][k]) for k in first[0])  # the seed matters


def test_reset_with_a_seed_repeats_after_other_episodes(make_env):
    env = make_env("PickCube-v0")
    before = rollout(env, seed=3)
    rollout(env, seed=11)
    after = rollout(env, seed=3)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a["state"], b["state"])


def test_observation_layout(make_env):
    env = make_env("PickCube-v0")
    obs, info = env.reset(seed=0)
    assert obs["state"].dtype == np.float32 and obs["state"].shape == (10,)
    cube = env.unwrapped.task.cube_pos()
    np.testing.assert_allclose(obs["state"][7:], cube, atol=1e-6)
    np.testing.assert_allclose(obs["state"][:3], env.unwrapped.task.tcp_pos(), atol=1e-6)
    assert info == {"success": False}
    vision = make_env("PegInsertVision-v0", camera_size=64)
    obs, _ = vision.reset(seed=0)
    assert set(obs) == {"state", "front", "wrist"}
    assert obs["state"].shape == (7,)  # proprioception only: no privileged hole position
    assert obs["front"].shape == (64, 64, 3) and obs["front"].dtype == np.uint8
    assert vision.action_space.shape == (3,)  # the peg task has no gripper action


def test_sparse_reward_and_termination_on_success_are_configurable(make_env):
    from robokit.envs.experts import make_expert, run_episode

    env = make_env("PickCube-v0", terminate_on_success=False, reward_type="dense")
    expert = make_expert(env)
    rewards, successes = [], []
    for _, action, reward, terminated, _, info in run_episode(env, expert, seed=0):
        if action is not None:
            rewards.append(reward)
            successes.append(info["success"])
            assert not terminated
        if len(successes) > 3 and all(successes[-3:]):
            break
    assert all(0.0 <= r <= 1.0 for r in rewards)
    assert rewards[-1] == 1.0 and max(rewards[:5]) < 0.5  # dense: rises as the task progresses
    sparse = make_env("PickCube-v0")
    steps = list(run_episode(sparse, make_expert(sparse), seed=0))
    assert steps[-1][3] is True and steps[-1][2] == 1.0  # terminated on success with reward 1
    assert all(s[2] == 0.0 for s in steps[:-1])


def test_episodes_are_truncated_by_the_time_limit(make_env):
    env = make_env("PickCube-v0")
    env.reset(seed=0)
    for step in range(1, 200):  # noqa: B007 (read after the loop)
        _, _, terminated, truncated, _ = env.step(np.zeros(4, np.float32))
        if truncated:
            break
    assert step == env.spec.max_episode_steps and not terminated


def test_relocate_directions_and_keeping_objects(make_env):
    env = make_env("Relocate-v0")
    obs, _ = env.reset(seed=0)
    task = env.unwrapped.task
    assert task.in_region("a") and not task.success()
    np.testing.assert_allclose(obs["state"][-2:], [0.5, 0.15])  # forward goal: region B
    obs, _ = env.reset(seed=0, options={"direction": "backward"})
    assert task.in_region("b")
    np.testing.assert_allclose(obs["state"][-2:], [0.5, -0.15])
    task.world.set_free_body("object", np.array([0.45, 0.02, 0.02]))
    env.reset(options={"keep_objects": True})
    np.testing.assert_allclose(task.object_pos()[:2], [0.45, 0.02], atol=1e-3)
    with pytest.raises(ValueError, match="use 'forward' or 'backward'"):
        env.reset(options={"direction": "sideways"})


def test_unknown_env_id_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown env id 'PickCub-v0': use one of robokit/PickCube-v0"):
        robokit.envs.make("PickCub-v0")


def test_registered_under_the_robokit_namespace():
    for env_id in ENV_IDS:
        assert env_id in gym.registry and env_id.startswith("robokit/")


@pytest.mark.parametrize("size", [0, -5, 4096, 12.5])
def test_impossible_camera_size_is_refused(size):
    with pytest.raises(ValueError, match="impossible: use a whole number of pixels between"):
        robokit.envs.make("PickCubeVision-v0", camera_size=size)


def test_wrong_action_shape_is_refused(make_env):
    env = make_env("PickCube-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="one value per action dimension"):
        env.step(np.zeros(6))


def place(env, joint: str, pos) -> None:
    import mujoco

    world = env.unwrapped.task.world
    world.set_free_body(joint, np.array(pos, dtype=float))
    mujoco.mj_forward(world.model, world.data)


def test_pick_cube_success_is_a_5cm_lift(make_env):
    env = make_env("PickCube-v0")
    env.reset(seed=0)
    task = env.unwrapped.task
    place(env, "cube", [0.5, 0.0, 0.02 + 0.049])
    assert not task.success()
    place(env, "cube", [0.5, 0.0, 0.02 + 0.051])
    assert task.success()


def test_relocate_success_needs_the_cube_resting_inside_the_goal_region(make_env):
    env = make_env("Relocate-v0")
    env.reset(seed=0)
    task = env.unwrapped.task
    place(env, "object", [0.5, 0.15 + 0.04, 0.02])
    assert task.success()
    place(env, "object", [0.5, 0.15 + 0.06, 0.02])  # outside the 5 cm region
    assert not task.success()
    place(env, "object", [0.5, 0.15, 0.08])  # above the region, still held
    assert not task.success()


def test_peg_insert_success_needs_the_tip_20mm_down_inside_the_hole(make_env):
    import mujoco

    env = make_env("PegInsert-v0")
    env.reset(seed=0)
    task = env.unwrapped.task
    world = task.world
    hole_above_board = task.hole_pos() - world.data.mocap_pos[0]
    # Move the board around the peg tip instead of the arm into the hole: success is geometry only.
    for tip_from_hole, expected in [
        ((0, 0, -0.021), True),
        ((0, 0, -0.019), False),
        ((0.02, 0, -0.03), False),
    ]:
        world.set_mocap("board", task.peg_tip() - np.array(tip_from_hole) - hole_above_board)
        mujoco.mj_forward(world.model, world.data)
        assert task.success() is expected, tip_from_hole
