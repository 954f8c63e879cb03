"""Shared fixtures: robokit envs made per test and closed after, a franka-sim server; tests/ on
sys.path for tiny_task and franka_sim_peer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import robokit.envs

sys.path.insert(0, str(Path(__file__).parent))  # tests import tiny_task.py as a plain module

#: why RealSense tests skip: the extra is missing, or pyrealsense2 cannot load a system library
REALSENSE_MISSING = (
    "pip install 'robokit[real]'; pyrealsense2 also needs Debian's libusb-1.0-0 (sudo apt-get install "
    "libusb-1.0-0, or run `robokit doctor`)"
)


@pytest.fixture(scope="session")
def franka_sim(tmp_path_factory):
    """The address of a franka-sim server on 127.0.0.1 (one per test session)."""
    pytest.importorskip("pylibfranka", reason="pip install 'robokit[real]'")
    from franka_sim_peer import start_server, stop_server

    server = start_server(tmp_path_factory.mktemp("franka-sim") / "server.log")
    yield "127.0.0.1"
    stop_server(server)


@pytest.fixture
def make_env():
    made = []

    def _make(env_id: str, **kwargs):
        env = robokit.envs.make(env_id, **kwargs)
        made.append(env)
        return env

    yield _make
    for env in made:
        env.close()
