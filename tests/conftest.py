"""Shared fixtures: robokit envs made per test and closed after; tests/ on sys.path for tiny_task."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import robokit.envs

sys.path.insert(0, str(Path(__file__).parent))  # tests import tiny_task.py as a plain module


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
