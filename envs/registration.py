"""Registers robokit's tasks with gymnasium and makes them with one clear error for unknown ids."""

from __future__ import annotations

import gymnasium as gym

TASKS = ("PickCube", "PegInsert", "Relocate", "PackCubes")
ENV_IDS = tuple(f"robokit/{task}{variant}-v0" for task in TASKS for variant in ("", "Vision"))
MAX_EPISODE_STEPS = {"PickCube": 100, "PegInsert": 100, "Relocate": 120, "PackCubes": 200}


def register_envs() -> None:
    """Register every task in a state and a Vision variant (idempotent)."""
    for task in TASKS:
        for vision in (False, True):
            env_id = f"robokit/{task}{'Vision' if vision else ''}-v0"
            if env_id in gym.registry:
                continue
            gym.register(
                id=env_id,
                entry_point="robokit.envs.factory:make_sim_env",
                kwargs={"task": task, "vision": vision},
                max_episode_steps=MAX_EPISODE_STEPS[task],
            )


def check_env_id(env_id: str) -> str:
    """Return `env_id` in its full form, or raise one sentence listing the ids that exist."""
    full = env_id if env_id.startswith("robokit/") else f"robokit/{env_id}"
    if full not in ENV_IDS:
        raise ValueError(f"unknown env id {env_id!r}: use one of {', '.join(ENV_IDS)}.")
    return full


def make(env_id: str, **kwargs) -> gym.Env:
    """gym.make for robokit ids, accepting them with or without the 'robokit/' namespace."""
    register_envs()
    return gym.make(check_env_id(env_id), **kwargs)
