"""`robokit bench env`: env steps and simulated seconds per wall second, and camera frames per second."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator

import numpy as np

from robokit.envs.registration import ENV_IDS, make


def pin_to_one_core() -> int:
    """Run this process (and the GL threads it starts later) on one core; returns that core."""
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def _steps_per_second(env, steps: int, rng: np.random.Generator) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        action = rng.uniform(-1.0, 1.0, size=env.action_space.shape).astype(np.float32)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def _frames_per_second(camera, frames: int) -> float:
    camera.read()
    start = time.perf_counter()
    for _ in range(frames):
        camera.read()
    return frames / (time.perf_counter() - start)


def bench_env(env_ids=ENV_IDS, steps: int = 300, repeats: int = 3) -> Iterator[dict]:
    """Yield one measurement row per (env, metric): medians over `repeats` runs."""
    rng = np.random.default_rng(0)
    for env_id in env_ids:
        env = make(env_id)
        period = 1.0 / env.unwrapped.robot.control_hz
        _steps_per_second(env, 10, rng)  # warm-up: first renders and allocations
        rates = [_steps_per_second(env, steps, rng) for _ in range(repeats)]
        rate = statistics.median(rates)
        yield _row(env_id, "env_steps_per_s", rate, "steps/s")
        yield _row(env_id, "sim_s_per_wall_s", rate * period, "s/s")
        for key, camera in env.unwrapped.cameras.items():
            fps = statistics.median(_frames_per_second(camera, 100) for _ in range(repeats))
            size = f"{camera.width}x{camera.height}"
            yield _row(env_id, f"camera_{key}_{size}_fps", fps, "frames/s")
        env.close()


def _row(case: str, metric: str, value: float, unit: str) -> dict:
    return {"bench": "env", "case": case, "metric": metric, "value": round(value, 2), "unit": unit}
