"""The `robokit` command as a user runs it: a real subprocess, real output, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_run import robokit

from robokit.data.datasets import read_episodes


def test_help_piped_into_a_reader_that_stops_early_ends_without_a_traceback():
    """`robokit eval --help | head -3`: the reader has gone before robokit writes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "robokit.cli", "eval", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()  # before the interpreter has even started: every write finds no reader
    _, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr[-2000:]
    assert process.returncode in (0, 1)


def test_record_writes_a_dataset_and_prints_the_success_rate(tmp_path):
    result = robokit("record", "--env", "PegInsert-v0", "--episodes", "3", "--out", str(tmp_path / "peg"))
    assert result.returncode == 0, result.stderr
    assert "success rate 100.0% (3/3 episodes)" in result.stdout
    assert len(read_episodes(tmp_path / "peg")) == 3


def test_record_default_folder_is_new_each_run(tmp_path):
    for _ in range(3):  # within a second or not, each run gets its own folder
        assert robokit("record", "--episodes", "1", cwd=tmp_path).returncode == 0
    assert len(list((tmp_path / "data").iterdir())) == 3


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (["record", "--env", "Nope-v0"], "use one of robokit/PickCube-v0"),
        (["record", "--env", "PickCubeVision-v0", "--camera-size", "100000"], "between 8 and 2048"),
        (["record", "--episodes", "0"], "ask for at least 1 episode"),
    ],
)
def test_bad_input_is_one_sentence_with_the_fix(args, fix, tmp_path):
    result = robokit(*args, "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fix in lines[0] and "Traceback" not in result.stderr


def test_record_refuses_an_existing_folder(tmp_path):
    (tmp_path / "demos").mkdir()
    result = robokit("record", "--out", str(tmp_path / "demos"))
    assert result.returncode == 2 and "already exists" in result.stderr


def test_bench_env_json_lines():
    result = robokit(
        "bench", "env", "--json", "--envs", "PickCubeVision-v0", "--steps", "20", "--repeats", "1"
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    metrics = {row["metric"]: row for row in rows}
    assert set(metrics) == {
        "env_steps_per_s",
        "sim_s_per_wall_s",
        "camera_front_128x128_fps",
        "camera_wrist_128x128_fps",
    }
    for row in rows:
        assert row["bench"] == "env" and row["case"] == "robokit/PickCubeVision-v0" and row["value"] > 0
    assert metrics["sim_s_per_wall_s"]["value"] == pytest.approx(
        metrics["env_steps_per_s"]["value"] / 10, rel=0.01
    )


def test_bench_env_table():
    result = robokit("bench", "env", "--envs", "PegInsert-v0", "--steps", "20", "--repeats", "1")
    assert result.returncode == 0 and "env_steps_per_s" in result.stdout and "one core" in result.stdout


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (
            ["learner", "--listen", "0.0.0.0:0", "--max-env-steps", "10"],
            "pass --keys KEYS, or listen on 127.0.0.1",
        ),
        (["learner", "--listen", "nowhere", "--max-env-steps", "10"], "pass e.g. 127.0.0.1:5555"),
        (["actor", "--learner", "127.0.0.1:1:2"], "pass e.g. 127.0.0.1:5555"),
    ],
)
def test_bad_link_options_are_one_sentence_with_the_fix(args, fix, tmp_path):
    result = robokit(*args, "--run-dir" if args[0] == "learner" else "--spool-dir", str(tmp_path / "x"))
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fix in lines[0] and "Traceback" not in result.stderr


def test_keys_are_made_once_per_folder(tmp_path):
    first = robokit("keys", "--out", str(tmp_path / "keys"))
    assert first.returncode == 0, first.stderr
    names = {p.name for p in (tmp_path / "keys").rglob("*")}
    assert {"learner.key", "learner.key_secret", "actor.key", "actor.key_secret", "authorized"} <= names
    again = robokit("keys", "--out", str(tmp_path / "keys"))
    assert again.returncode == 2 and "pass a new folder" in again.stderr
    added = robokit("keys", "--out", str(tmp_path / "keys"), "--add-actor", "arm2")
    assert added.returncode == 0 and "copy that folder to the actor machine" in added.stdout
    assert (tmp_path / "keys" / "authorized" / "arm2.key").exists()


def test_bench_link_json_lines():
    import tempfile
    from pathlib import Path

    from robokit.bench.link import STATE_SPEC, publish_ms, transitions_per_s

    with tempfile.TemporaryDirectory() as tmp:
        assert transitions_per_s(STATE_SPEC, 2, batches=5, batch=16, folder=Path(tmp) / "a") > 0
        assert 0 < publish_ms(0.1, Path(tmp), repeats=1) < 5000


def test_an_interrupted_learner_names_its_own_resume_with_the_options_it_needs():
    from pathlib import Path

    from robokit.cli.train import LearnerCommand, TrainCommand, resume_command

    learner = LearnerCommand(listen="0.0.0.0:5555", keys=Path("keys"), robot_config=Path("robot.yaml"))
    line = resume_command(learner, "learner", Path("runs/r"))
    assert line.startswith("robokit learner ") and line.endswith("--resume runs/r")
    for words in ("--listen 0.0.0.0:5555", "--keys keys", "--robot-config robot.yaml"):
        assert words in line
    plain = resume_command(TrainCommand(), "train", Path("runs/r"))
    assert plain == "robokit train --resume runs/r"
