"""Recording expert episodes to Minari datasets and reading them back exactly; refusing bad folders."""

from __future__ import annotations

import numpy as np
import pytest

from robokit.data.datasets import (
    EpisodeRecorder,
    check_output_dir,
    open_dataset,
    read_episodes,
    write_dataset,
)
from robokit.envs.recording import record_expert


def test_state_dataset_round_trip(tmp_path, make_env):
    from robokit.envs.experts import make_expert, run_episode

    env = make_env("Relocate-v0")
    expert = make_expert(env)
    episodes = []
    for seed in (0, 1):
        rec = EpisodeRecorder()
        for obs, action, reward, terminated, truncated, info in run_episode(env, expert, seed=seed):
            if action is None:
                rec.start(obs, info, seed=seed)
            else:
                rec.add(action, obs, reward, terminated, truncated, info)
        episodes.append(rec.finish())
    out = write_dataset(tmp_path / "relocate", episodes, env.observation_space, env.action_space, env=env)
    back = read_episodes(out)
    assert len(back) == 2
    for a, b in zip(episodes, back, strict=True):
        np.testing.assert_array_equal(a.observations["state"], b.observations["state"])
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.rewards, b.rewards)
        np.testing.assert_array_equal(a.terminations, b.terminations)
        np.testing.assert_array_equal(a.infos["success"], b.infos["success"])
        assert len(b.observations["state"]) == len(b.actions) + 1
    dataset = open_dataset(out)
    assert dataset.total_episodes == 2 and dataset.spec.env_spec.id == "robokit/Relocate-v0"


def test_vision_dataset_keeps_images_bit_exact(tmp_path):
    summary = record_expert("PickCubeVision-v0", 2, tmp_path / "vision", camera_size=48)
    assert summary.recorded == 2 and summary.path == tmp_path / "vision"
    back = read_episodes(summary.path)
    frames = back[0].observations["front"]
    assert frames.shape[1:] == (48, 48, 3) and frames.dtype == np.uint8
    # replay the same seed and compare every pixel: no lossy (JPEG) encoding on the way
    import robokit.envs
    from robokit.envs.experts import make_expert, run_episode

    env = robokit.envs.make("PickCubeVision-v0", camera_size=48)
    replay = [step[0]["front"] for step in run_episode(env, make_expert(env), seed=0)]
    np.testing.assert_array_equal(np.stack(replay), frames)
    env.close()


def test_env_options_reach_the_recorded_episodes(tmp_path):
    summary = record_expert("PickCube-v0", 1, tmp_path / "dense", env_kwargs={"reward_type": "dense"})
    rewards = read_episodes(summary.path)[0].rewards
    assert rewards[-1] == 1.0 and 0.0 < rewards[0] < 1.0  # shaped before success, 1 at success


def test_successes_only_keeps_only_successes(tmp_path):
    # Heavy action noise makes the expert fail often; only its successes may be kept. (The arm's
    # reference, limited at every physics substep, smooths noise: at noise 1.0 the seeded expert
    # no longer fails; at 1.3 it succeeds 2 times in 7.)
    summary = record_expert("PickCube-v0", 2, tmp_path / "ok", successes_only=True, noise=1.3)
    episodes = read_episodes(summary.path)
    assert all(ep.infos["success"][-1] for ep in episodes) and len(episodes) == 2
    assert summary.attempts > summary.successes  # some failures were seen and dropped


def test_ctrl_c_saves_the_episodes_finished_so_far(tmp_path):
    seen = []

    def interrupt_after_two(episode):
        seen.append(episode)
        if len(seen) == 2:
            raise KeyboardInterrupt

    summary = record_expert("PickCube-v0", 10, tmp_path / "partial", on_episode=interrupt_after_two)
    assert summary.interrupted and summary.recorded == 2
    assert len(read_episodes(summary.path)) == 2


def test_existing_folder_is_never_overwritten(tmp_path):
    out = tmp_path / "demos"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="already exists: pass a new --out folder"):
        record_expert("PickCube-v0", 1, out)
    assert (out / "keep.txt").read_text() == "precious"


def test_unwritable_output_folder_is_refused_before_recording(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="pass an --out folder you can write to"):
        check_output_dir(blocker / "demos")


def test_missing_dataset_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="robokit record --out"):
        open_dataset(tmp_path / "nothing-here")


def test_no_partial_folders_are_left_behind(tmp_path):
    record_expert("PegInsert-v0", 1, tmp_path / "peg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peg"]
