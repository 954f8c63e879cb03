"""FamO2O runs as a user makes them: mixed-quality data recorded in simulation, `robokit pretrain
--algo famo2o`, then `robokit train --algo famo2o --init RUN` through actor processes and the zmq
link, the offline data kept in the mixer; the balance map; bad input as one sentence each."""

from __future__ import annotations

import json

import numpy as np
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


def test_pretrain_offline_then_finetune_online_through_the_link(tmp_path):
    data, offline, online = tmp_path / "mixed", tmp_path / "offline", tmp_path / "online"
    result = robokit("record", "--mixed-quality", "--episodes", "6", "--out", str(data))
    assert result.returncode == 0 and "success by start half" in result.stdout, result.stderr[-2000:]
    result = robokit(
        "pretrain", "--algo", "famo2o", "--data", str(data), "--steps", "100", "--eval-every", "100",
        "--eval-episodes", "1", "--run-dir", str(offline),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "beta chosen over the object's start positions: good half" in " ".join(result.stdout.split())
    balance = json.loads((offline / "balance.json").read_text())
    assert set(balance) == {"good", "poor", "range"} and 1.0 <= balance["good"]["mean"] <= 10.0
    assert (offline / "balance.png").exists() and (offline / "curve.png").exists()
    saved = json.loads((offline / "config.json").read_text())
    assert saved["algo"] == "famo2o" and not saved["agent"]["online"]
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
