"""`robokit bench fleet`: env steps per second of 1, 2 and 4 simulated PickCube actors under the
local launcher (actor processes) and under Ray (Ray actors), side by side in one run, with no
learner updates (the fleet and the link alone); per actor, the time from starting the fleet to its
first env step reaching the learner, and its process's memory.

On a 2-core machine the totals saturate at two actors: the per-actor figures are what compare."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from robokit.bench import bench_row

WINDOW_S = 20.0


def _run(launcher: str, actors: int, folder: Path, window_s: float) -> dict:
    """One training run with no updates: (env steps/s in the window, start s, MB per actor)."""
    from rich.console import Console

    from robokit.cli.train import TrainCommand, _envs, actor_fleet, actor_options
    from robokit.recipes.online import train

    config = TrainCommand(
        env="PickCube-v0", actors=actors, launcher=launcher, num_demos=1, start_after=10**9,
        max_env_steps=10**7, eval_every=10**9, final_eval_episodes=1, stop_at_success=None,
        run_dir=folder / f"{launcher}-{actors}",
    )  # fmt: skip
    console = Console(quiet=True)
    config, env_id, spec, make_env, record = _envs(config, console)
    rows, fleets, started = [], [], []

    def start_actors(address, run_config):
        started.append(time.monotonic())
        if launcher == "local":
            fleets.append(actor_fleet(run_config, env_id, address, console))
        else:
            from robokit.launch.ray_fleet import RayFleet, RayResources

            fleets.append(RayFleet(actor_options(run_config, env_id, address), None, RayResources(0.5, 0)))
        return fleets[-1]

    stop = _StopAfter(window_s, rows)
    train(config, make_env, record, stop.record, start_actors, False, lambda line: None, spec, stop=stop)
    first = next(t for t, steps in rows if steps > 0)
    inside = [(t, s) for t, s in rows if t >= first + 3.0]  # after every actor's warm-up
    rate = (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
    return {"env_steps_per_s": rate, "start_s": first - started[0], "mb_per_actor": stop.memory_mb / actors}


class _StopAfter:
    """The progress callback: records (time, env steps), measures the actors' memory once, and is
    the run's stop event once the window has passed."""

    def __init__(self, window_s: float, rows: list):
        self.window_s, self.rows, self.memory_mb, self.first = window_s, rows, 0.0, None

    def record(self, row: dict) -> None:
        now = time.monotonic()
        self.rows.append((now, row["env_steps"]))
        if row["env_steps"] > 0 and self.first is None:
            self.first = now
        if self.first is not None and not self.memory_mb and now > self.first + 3.0:
            self.memory_mb = _actor_memory_mb()

    def is_set(self) -> bool:
        return self.first is not None and time.monotonic() > self.first + 3.0 + self.window_s


def _actor_memory_mb() -> float:
    """Resident memory of every robokit actor process on this machine (local or Ray), MB."""
    import psutil

    total = 0.0
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        if "robokit.cli actor" in line or "ray::ActorHost" in line:
            total += process.memory_info().rss / 2**20
    return total


def bench_fleet(
    repeats: int = 1, counts: tuple[int, ...] = (1, 2, 4), window_s: float = WINDOW_S
) -> Iterator[dict]:
    from robokit.launch.ray_fleet import require_ray

    ray = require_ray()
    ray.init(include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results: dict = {}
            for r in range(repeats):
                for actors in counts:
                    for launcher in ("local", "ray"):  # side by side
                        folder = Path(tmp) / str(r)
                        results.setdefault((launcher, actors), []).append(
                            _run(launcher, actors, folder, window_s)
                        )
            for (launcher, actors), runs in results.items():
                case = f"{launcher}_{actors}_actors"
                for metric, unit in (("env_steps_per_s", "1/s"), ("start_s", "s"), ("mb_per_actor", "MB")):
                    yield bench_row("fleet", case, metric, statistics.median(r[metric] for r in runs), unit)
                rate = statistics.median(r["env_steps_per_s"] for r in runs)
                yield bench_row("fleet", case, "env_steps_per_s_per_actor", rate / actors, "1/s")
    finally:
        ray.shutdown()


__all__ = ["bench_fleet"]
