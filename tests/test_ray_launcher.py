"""`robokit train --launcher ray`: the learner and two actors as Ray actors on a local Ray cluster.
An actor whose process is killed is restarted by Ray, reconnects and resends its spool, and the
learner's buffer then holds every transition once; without the extra, one sentence names it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from cli_run import robokit

from robokit.runs import checkpoint

TINY = ("--num-demos", "2", "--start-after", "100", "--eval-every", "100000", "--final-eval-episodes", "2")


def test_without_ray_the_launcher_names_the_extra(tmp_path):
    fake = tmp_path / "site" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run(
        [sys.executable, "-m", "robokit.cli", "train", "--launcher", "ray", "--actors", "2", "--run-dir",
         str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "pip install 'robokit[ray]'" in result.stderr, result.stderr[-1000:]
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
    result = robokit("train", "--launcher", "ray", "--actors", "0", "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2 and "pass --actors 1 or more" in result.stderr


def _actor_hosts() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "ray::ActorHost"], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def test_a_killed_ray_actor_is_restarted_and_no_transition_is_lost_or_doubled(tmp_path):
    pytest.importorskip("ray", reason="pip install 'robokit[ray]'")
    run, log = tmp_path / "run", tmp_path / "out.log"
    command = [sys.executable, "-m", "robokit.cli", "train", "--launcher", "ray", "--actors", "2",
               "--max-env-steps", "700", "--run-dir", str(run), *TINY]  # fmt: skip
    with open(log, "w") as out:
        driver = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "300"}
        )
    try:
        deadline = time.monotonic() + 300
        while log.read_text().count("connected from") < 2:
            assert driver.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        time.sleep(8)  # some batches sent and acknowledged, some in flight
        hosts = _actor_hosts()
        assert len(hosts) == 2, hosts
        os.kill(hosts[0], signal.SIGKILL)
        assert driver.wait(timeout=600) == 0, log.read_text()[-3000:]
    finally:
        if driver.poll() is None:
            driver.kill()
    out = " ".join(log.read_text().split())
    assert "was restarted by Ray (restart 1" in out, out[-3000:]
    assert out.count("connected from") >= 3  # the restarted actor connected again
    latest = checkpoint.latest(run / "checkpoints")
    counters = json.loads((latest / "counters.json").read_text())
    with np.load(latest / "buffer_online.npz") as buffer:
        stored = int(buffer["counters"][1])
        rows = np.concatenate([buffer["obs/state"][:stored], buffer["actions"][:stored]], axis=1)
    assert stored == counters["env_steps"] >= 700
    assert len(np.unique(rows, axis=0)) == stored  # no transition twice (actions are sampled)
    assert not list((run / "spool").rglob("*.msg"))  # nothing left unacknowledged
    assert _actor_hosts() == []  # every Ray actor robokit started is gone
