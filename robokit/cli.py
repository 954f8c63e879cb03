"""`robokit <verb>`: the command line. The only core module that wires in robokit.envs."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import tyro

from robokit.train_config import TrainConfig


@dataclass(frozen=True)
class Record:
    """Record scripted-expert episodes of a simulated task as a Minari dataset, and print the success rate."""

    env: str = "PickCube-v0"
    """Task id, e.g. PickCube-v0, PegInsertVision-v0 (the 'robokit/' prefix is optional)."""
    episodes: int = 20
    """Number of episodes to record (successful ones with --successes-only)."""
    out: Path | None = None
    """Dataset folder to create; must not exist. Default: data/<env>-<date>-<time>."""
    successes_only: bool = False
    """Keep successful episodes only."""
    seed: int = 0
    """Seed of the first episode; episode i uses seed + i."""
    noise: float = 0.0
    """Std of Gaussian noise added to the expert's displacement actions (in action units)."""
    camera_size: int = 128
    """Image side in pixels for Vision tasks."""


@dataclass(frozen=True)
class Eval:
    """Evaluate a trained run's latest checkpoint deterministically on fresh episodes."""

    run: Path
    """Run folder written by `robokit train`."""
    episodes: int = 50
    seed: int = 50_000
    """Seed of the first episode; episode i uses seed + i."""
    video: Path | None = None
    """Write the episodes' front-camera frames to this .mp4 (or .gif) file."""


@dataclass(frozen=True)
class Bench:
    """Measure robokit's speed and print a table (or JSON lines with --json)."""

    what: Annotated[Literal["env", "learner"], tyro.conf.Positional]
    """env: env steps/s, simulated s per wall s, camera frames/s.
    learner: critic updates/s, time of one UTD update, FLOPs against the CPU's matmul peak."""
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


def _record(args: Record) -> None:
    from rich.console import Console

    from robokit.envs.recording import record_expert
    from robokit.envs.registration import check_env_id

    console = Console()
    env_id = check_env_id(args.env)
    out = args.out or _new_folder(Path("data") / f"{env_id.split('/')[1]}-{time.strftime('%Y%m%d-%H%M%S')}")
    done = []

    def progress(episode) -> None:
        done.append(episode.success)
        console.print(
            f"episode {len(done):4d}: {'success' if episode.success else 'failure'} in {len(episode)} steps"
        )

    summary = record_expert(
        env_id,
        args.episodes,
        out,
        successes_only=args.successes_only,
        seed=args.seed,
        noise=args.noise,
        camera_size=args.camera_size,
        on_episode=progress,
    )
    if summary.interrupted:
        console.print("[yellow]interrupted: saving the episodes recorded so far[/yellow]")
    console.print(
        f"[bold]{env_id}[/bold] scripted expert: success rate {summary.success_rate:.1%} "
        f"({summary.successes}/{summary.attempts} episodes)"
    )
    if summary.path is None:
        console.print("nothing was recorded, so no dataset was written")
    else:
        console.print(f"dataset: {summary.path} ({summary.recorded} episodes)")
    if summary.recorded < args.episodes and not summary.interrupted:
        raise RuntimeError(
            f"only {summary.recorded} of {args.episodes} episodes were successful within "
            f"{summary.attempts} attempts: lower --noise or drop --successes-only."
        )


def _new_folder(base: Path) -> Path:
    """`base`, or `base-2`, `base-3`... whichever does not exist yet."""
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _bench(args: Bench) -> None:
    from rich.console import Console
    from rich.table import Table

    if args.what == "env":
        from robokit.envs.bench import bench_env, pin_to_one_core
        from robokit.envs.registration import ENV_IDS, check_env_id

        env_ids = tuple(check_env_id(e) for e in args.envs) or ENV_IDS
        note = "all cores" if args.all_cores else f"one core (cpu {pin_to_one_core()})"
        rows = bench_env(env_ids, steps=args.steps, repeats=args.repeats)
    else:
        from robokit.bench_learner import bench_learner

        note = "all cores"
        rows = bench_learner(repeats=args.repeats)
    if args.json:
        for row in rows:
            print(json.dumps(row), flush=True)
        return
    table = Table(title=f"robokit bench {args.what} — {note}, median of {args.repeats}")
    for column in ("case", "metric", "value", "unit"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for row in rows:
        table.add_row(row["case"], row["metric"], f"{row['value']:.4g}", row["unit"])
    Console().print(table)


def _train(config) -> None:
    from rich.console import Console
    from tqdm import tqdm

    from robokit.envs.recording import record_expert
    from robokit.envs.registration import check_env_id, make
    from robokit.training import train

    console = Console()
    env_id = check_env_id(config.env)
    if config.run_dir is None and config.resume is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        config = dataclasses.replace(
            config, run_dir=_new_folder(Path("runs") / f"{env_id.split('/')[1]}-{stamp}")
        )
    config = dataclasses.replace(config, env=env_id)

    def record(out: Path, episodes: int) -> Path:
        console.print(f"recording {episodes} scripted-expert demos of {env_id} into {out}")
        summary = record_expert(env_id, episodes, out, successes_only=True)
        return summary.path

    bar = tqdm(total=config.max_env_steps, unit="step", desc="env steps")

    def progress(row: dict) -> None:
        bar.update(row["env_steps"] - bar.n)
        bar.set_postfix(success=f"{row['success_rate']:.2f}", updates=row["updates"])

    result = train(config, lambda: make(env_id), record, progress)
    bar.close()
    final = result.final_eval
    if final.get("interrupted"):
        console.print(
            f"[yellow]interrupted at {result.env_steps} env steps[/yellow]: resume with "
            f"robokit train --resume {result.run_dir}"
        )
    else:
        console.print(
            f"[bold]{env_id}[/bold]: success rate {final['success_rate']:.0%} on {final['episodes']} "
            f"fresh episodes after {result.env_steps} env steps, {result.updates} updates, "
            f"{result.wall_s / 60:.1f} min"
        )
    console.print(f"checkpoint: {result.checkpoint}")
    console.print(f"curve:      {result.curve}")
    console.print(f"logs:       {result.run_dir / 'tb'} (tensorboard --logdir {result.run_dir / 'tb'})")


def _eval(args: Eval) -> None:
    from rich.console import Console

    from robokit.envs.registration import make
    from robokit.evaluation import evaluate
    from robokit.policy_io import load_policy

    agent, params, env_id = load_policy(args.run)
    env = make(env_id, render_mode="rgb_array" if args.video else None)
    frames: list = []
    on_frame = frames.append if args.video else None
    result = evaluate(env, agent, params, args.episodes, seed=args.seed, on_frame=on_frame)
    if args.video:
        import imageio

        imageio.mimwrite(args.video, frames, fps=10)
    Console().print(
        f"[bold]{env_id}[/bold] from {args.run}: success rate {result['success_rate']:.0%} over "
        f"{args.episodes} episodes, mean return {result['return']:.2f}, "
        f"mean length {result['episode_length']:.1f}" + (f"; video: {args.video}" if args.video else "")
    )


COMMANDS = {"record": Record, "train": TrainConfig, "eval": Eval, "bench": Bench}
HANDLERS = {Record: _record, TrainConfig: _train, Eval: _eval, Bench: _bench}


def main(argv: list[str] | None = None) -> None:
    args = tyro.extras.subcommand_cli_from_dict(
        COMMANDS,
        args=argv,
        prog="robokit",
        description="robokit: robot RL in MuJoCo and on a real Franka arm.",
    )
    try:
        HANDLERS[type(args)](args)
    except (ValueError, OSError, RuntimeError) as err:
        # Errors a user can cause end in one sentence, not a traceback.
        print(f"robokit {type(args).__name__.lower()}: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
