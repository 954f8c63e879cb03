"""Shared fixtures: robokit envs made once per test where cheap, closed after."""

from __future__ import annotations

import pytest

import robokit.envs


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
