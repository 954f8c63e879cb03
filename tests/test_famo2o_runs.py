"""FamO2O runs as a user makes them: mixed-quality data recorded in simulation, `robokit pretrain
--algo famo2o`, then `robokit train --algo famo2o --init RUN` through actor processes and the zmq
link, the offline data kept in the mixer; the balance map; bad input as one sentence each."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_run import robokit

from robokit.data.datasets import read_episodes


def test_mixed_quality_data_are_good_on_one_half_and_poor_on_the_other(tmp_path):
    from robokit.envs.mixed_quality import record_mixed_quality

    summary = record_mixed_quality("PickCube-v0", 24, tmp_path / "mixed", seed=7)
    episodes = read_episodes(summary.path)
    assert len(episodes) == 24 and sum(summary.counts.values()) == 24
    sources = {key.split("/")[1] for key in summary.counts if key.startswith("good/")}
    assert sources <= {"expert", "noisy"}  # no wrong-way or random episode on the good half
    assert {"wrong_way", "random"} & {key.split("/")[1] for key in summary.counts if key.startswith("poor/")}
    assert summary.success_by_half["good"] > summary.success_by_half["poor"], summary
    halves = ["good" if ep.observations["state"][0, 8] > 0 else "poor" for ep in episodes]  # cube y
    good = np.mean([ep.success for ep, half in zip(episodes, halves, strict=True) if half == "good"])
    assert good == summary.success_by_half["good"]


def test_offline_famo2o_beats_its_data_on_fresh_episodes(tmp_path):
    """A small mixed dataset of the tiny PointGoal task (a third noisy-expert episodes, the rest
    random): the offline policy succeeds more often on 50 fresh episodes than the data did."""
    from tiny_task import PointGoal

    from robokit.agents.famo2o.config import FamO2OConfig
    from robokit.data.datasets import EpisodeRecorder, write_dataset
    from robokit.recipes.famo2o_offline import pretrain_famo2o

    env, rng, episodes = PointGoal(), np.random.default_rng(0), []
    for seed in range(60):
        obs, info = env.reset(seed=seed)
        recorder, expert, done = EpisodeRecorder(), seed % 3 == 0, False
        recorder.start(obs, info, seed=seed)
        while not done:
            toward = np.clip(5 * (env.goal - obs["state"]) + rng.normal(0, 0.5, 2), -1, 1)
            action = (toward if expert else rng.uniform(-1, 1, 2)).astype(np.float32)
            obs, reward, terminated, truncated, info = env.step(action)
            recorder.add(action, obs, reward, terminated, truncated, info)
            done = terminated or truncated
        episodes.append(recorder.finish())
    in_data = np.mean([episode.success for episode in episodes])
    write_dataset(tmp_path / "data", episodes, env.observation_space, env.action_space)
    config = FamO2OConfig(hidden_dims=(64, 64))
    run = pretrain_famo2o("point", PointGoal, [tmp_path / "data"], tmp_path / "run", config, steps=3000,
                          eval_every=3000, eval_episodes=50, say=lambda line: None)  # fmt: skip
    final = json.loads((run / "evals.jsonl").read_text().splitlines()[-1])
    print(f"data {in_data:.0%}, offline policy {final['success_rate']:.0%} on 50 fresh episodes")
    assert final["episodes"] == 50 and final["success_rate"] >= in_data + 0.3, (in_data, final)


@pytest.mark.extended
@pytest.mark.timeout(1800)
def test_the_balance_model_is_greedier_where_the_data_are_good(tmp_path):
    """100 mixed-quality PickCube episodes, 10,000 offline updates: the balance model's mean beta
    over the good half of the start area is at least 2 above its mean over the poor half."""
    data, offline = tmp_path / "mixed", tmp_path / "offline"
    assert robokit("record", "--mixed-quality", "--episodes", "100", "--out", str(data)).returncode == 0
    result = robokit(
        "pretrain", "--algo", "famo2o", "--data", str(data), "--steps", "10000", "--eval-every", "10000",
        "--eval-episodes", "50", "--run-dir", str(offline), timeout=1700,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    balance = json.loads((offline / "balance.json").read_text())
    print(balance)
    assert balance["good"]["mean"] >= balance["poor"]["mean"] + 2.0, balance


@pytest.mark.extended
@pytest.mark.timeout(3600)
def test_the_headline_comparison_on_one_seed(tmp_path):
    """examples/famo2o_compare.py on PickCube, seed 0 (~25 min on 2 cores): FamO2O, fixed-beta IQL
    at 1 / 3 / 10 and RLPD, every figure on 50 fresh episodes. FamO2O drops at most 10 points into
    online training, ends within 10 points (two standard errors at 50 episodes) of the best fixed
    beta, above RLPD, and its balance model is greedier on the good half."""
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "famo2o_compare.py"
    command = [sys.executable, str(example), "--env", "PickCube-v0", "--seeds", "0", "--out", str(tmp_path)]
    assert subprocess.run(command, timeout=3500).returncode == 0
    results = json.loads((tmp_path / "summary.json").read_text())["per_seed"]["0"]
    print({name: (r["offline"], r["online"], r["dip"]) for name, r in results.items()})
    famo2o, fixed = results["famo2o"], [r for name, r in results.items() if name.startswith("iql_beta")]
    assert famo2o["dip"] <= 0.10 and famo2o["online"] >= results["rlpd"]["online"], famo2o
    assert famo2o["online"] >= max(r["online"] for r in fixed) - 0.10, results
    assert famo2o["balance"]["good"]["mean"] > famo2o["balance"]["poor"]["mean"], famo2o["balance"]


def test_pretrain_offline_then_finetune_online_through_the_link(tmp_path):
    data, offline, online = tmp_path / "mixed", tmp_path / "offline", tmp_path / "online"
    result = robokit("record", "--mixed-quality", "--episodes", "6", "--out", str(data))
    assert result.returncode == 0 and "success by start half" in result.stdout, result.stderr[-2000:]
    result = robokit(
        "pretrain", "--algo", "famo2o", "--data", str(data), "--steps", "100", "--eval-every", "100",
        "--eval-episodes", "1", "--run-dir", str(offline), "--policy-average", "0.01",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "beta chosen over the object's start positions: good half" in " ".join(result.stdout.split())
    balance = json.loads((offline / "balance.json").read_text())
    assert set(balance) == {"good", "poor", "range"} and 1.0 <= balance["good"]["mean"] <= 10.0
    assert (offline / "balance.png").exists() and (offline / "curve.png").exists()
    saved = json.loads((offline / "config.json").read_text())
    assert saved["algo"] == "famo2o" and not saved["agent"]["online"]
    assert saved["agent"]["policy_average"] == 0.01
    result = robokit(
        "train", "--algo", "famo2o", "--init", str(offline), "--run-dir", str(online), "--actors", "1",
        "--max-env-steps", "200", "--start-after", "100", "--eval-every", "200", "--eval-episodes", "1",
        "--final-eval-episodes", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    out = " ".join(result.stdout.split())
    assert "FAMO2O: success rate" in out and "beta chosen" in out
    saved = json.loads((online / "config.json").read_text())
    assert saved["agent"]["online"] and saved["demos"] == [str(data)]
    assert saved["agent"]["policy_average"] == 0.01  # the acting average carries into finetuning
    from robokit.runs import checkpoint

    latest = checkpoint.latest(online / "checkpoints")
    with np.load(latest / "buffer_demos.npz") as demos:  # the offline data stayed in the mixer
        assert int(demos["counters"][1]) == sum(len(ep) for ep in read_episodes(data))
    assert json.loads((latest / "counters.json").read_text())["env_steps"] >= 200
    result = robokit("eval", "--run", str(online), "--episodes", "1")
    assert result.returncode == 0 and "success rate" in result.stdout, result.stderr[-2000:]


def test_bad_famo2o_input_is_one_sentence(tmp_path):
    result = robokit("pretrain", "--algo", "famo2o", "--run-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and "learns from a dataset: pass --data DIR" in result.stderr
    relocate = tmp_path / "relocate"
    assert (
        robokit("record", "--env", "Relocate-v0", "--episodes", "1", "--out", str(relocate)).returncode == 0
    )
    result = robokit(
        "pretrain", "--algo", "famo2o", "--data", str(relocate), "--run-dir", str(tmp_path / "r")
    )
    assert result.returncode == 2 and "do not match the env's" in result.stderr, result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = robokit("pretrain", "--algo", "famo2o", "--data", str(empty), "--run-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    result = robokit(
        "pretrain", "--algo", "famo2o", "--data", str(relocate), "--beta-lo", "5", "--beta-hi", "5",
        "--run-dir", str(tmp_path / "r"),
    )  # fmt: skip
    assert result.returncode == 2 and "give beta_lo < beta_hi" in result.stderr
    result = robokit("train", "--algo", "famo2o", "--run-dir", str(tmp_path / "t"))
    assert result.returncode == 2 and "robokit pretrain --algo famo2o" in result.stderr
    assert not (tmp_path / "r").exists()  # nothing half-made
