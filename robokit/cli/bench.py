"""`robokit bench env|learner|link|robot|language|console|fleet`: robokit's speed as a table, or JSON
lines."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import tyro


@dataclass(frozen=True)
class Bench:
    """Measure robokit's speed and print a table (or JSON lines with --json)."""

    what: Annotated[
        Literal["env", "learner", "link", "robot", "language", "console", "fleet"], tyro.conf.Positional
    ]
    """env: env steps/s, simulated s per wall s, camera frames/s.
    learner: critic updates/s, time of one UTD update, FLOPs against the CPU's matmul peak.
    link: transitions/s from actor send to learner buffer (durable log included), params publish time.
    robot: the real arm of --config (it moves!): circle tracking, a 20 cm step's overshoot and peak
    speed and acceleration against the limits, control-loop ticks.
    language: the latency from `robokit say` to an actor acting on it, the encoder's cost per phrase.
    console: camera frames/s and frame age in a browser (Chromium), the actor's env steps/s with the
    console beside without it, a pause's round trip (needs the console extra and Chromium).
    fleet: env steps/s of 1, 2, 4 actors as local processes and as Ray actors, each actor's start
    time and memory (needs the ray extra)."""
    envs: tuple[str, ...] = field(default_factory=tuple)
    """Env ids to measure (default: all)."""
    steps: int = 300
    """Env steps per timed run."""
    repeats: int = 3
    """Timed runs per measurement; the median is reported."""
    all_cores: bool = False
    """Use every core (default: pin the process to one core, as the targets are stated)."""
    json: bool = False
    """Print one JSON object per measurement instead of a table."""
    algo: Literal["sac", "ogpo", "famo2o"] = "sac"
    """bench learner: SAC/RLPD cases, OGPO's (the authors' sizes and the CPU preset), or FamO2O's
    (IQL and AWAC bases, fixed beta) side by side with SAC's CPU preset."""
    config: Path | None = None
    """bench robot: the robot config YAML (`robokit robot-check` takes the same file)."""


def run(args: Bench) -> None:
    from rich.console import Console
    from rich.table import Table

    if args.what == "env":
        from robokit.envs.bench import bench_env, pin_to_one_core
        from robokit.envs.registration import ENV_IDS, check_env_id

        env_ids = tuple(check_env_id(e) for e in args.envs) or ENV_IDS
        note = "all cores" if args.all_cores else f"one core (cpu {pin_to_one_core()})"
        rows = bench_env(env_ids, steps=args.steps, repeats=args.repeats)
    elif args.what == "robot":
        if args.config is None:
            raise ValueError("bench robot moves a real arm: pass its robot config with --config robot.yaml.")
        from robokit.drivers.franka import FrankaArm
        from robokit.drivers.franka_bench import bench_robot
        from robokit.envs.real import load_config

        note = f"the arm of {args.config}, one run"
        with FrankaArm(load_config(args.config)["robot"]) as arm:
            rows = list(bench_robot(arm))
    elif args.what == "language":
        from robokit.bench.language import bench_language
        from robokit.language.encoder import require_language

        require_language()
        note = "learner and actor on 127.0.0.1"
        rows = list(bench_language(repeats=args.repeats))
    elif args.what == "console":
        from robokit.bench.console import bench_console

        note = "learner, one PickCubeVision actor and Chromium on this machine"
        rows = list(bench_console(pick_cube_vision, repeats=args.repeats))
    elif args.what == "fleet":
        from robokit.launch.fleet_bench import bench_fleet

        note = "1, 2, 4 PickCube actors, local processes and Ray actors, no learner updates"
        rows = list(bench_fleet(repeats=args.repeats))
    elif args.what == "link":
        from robokit.bench.link import bench_link

        note = "learner, actors and log on this machine"
        rows = bench_link(repeats=args.repeats)
    else:
        from robokit.bench.learner import bench_famo2o, bench_learner, bench_ogpo

        note = "all cores"
        bench = {"ogpo": bench_ogpo, "famo2o": bench_famo2o}.get(args.algo, bench_learner)
        rows = bench(repeats=args.repeats)
    if args.json:
        for row in rows:
            print(json.dumps(row), flush=True)
        return
    of = "" if args.what == "robot" else f", median of {args.repeats}"
    table = Table(title=f"robokit bench {args.what} — {note}{of}")
    for column in ("case", "metric", "value", "unit"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for row in rows:
        table.add_row(row["case"], row["metric"], f"{row['value']:.4g}", row["unit"])
    Console().print(table)


def pick_cube_vision():
    """The env `bench console`'s actor process runs (two 128 x 128 cameras)."""
    from robokit.envs.registration import make

    return make("robokit/PickCubeVision-v0")
