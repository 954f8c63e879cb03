"""`robokit eval`: a trained run's policy on fresh episodes, in simulation or on the real arm."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
    config: Path | None = None
    """Run the policy on the real robot this YAML file describes (no learning) instead of in simulation."""


def run(args: Eval) -> None:
    from rich.console import Console

    from robokit.cli.video import VideoWriter
    from robokit.envs.factory import RENDER_SIZE

    video = VideoWriter(args.video, RENDER_SIZE) if args.video else None  # before JAX is imported
    try:
        env_id, result = _evaluate(args, video)
    finally:
        if video is not None:
            video.close()
    Console().print(
        f"[bold]{env_id}[/bold] from {args.run}: success rate {result['success_rate']:.0%} over "
        f"{args.episodes} episodes, mean return {result['return']:.2f}, "
        f"mean length {result['episode_length']:.1f}" + (f"; video: {args.video}" if args.video else "")
    )


def _evaluate(args: Eval, video) -> tuple[str, dict]:
    from robokit.envs.registration import make
    from robokit.loop.evaluation import evaluate
    from robokit.runs.policy import load_policy

    policy = load_policy(args.run)
    agent, env_id = policy.agent, policy.env_id
    if args.config is not None:
        from robokit.envs.real import make_real_env
        from robokit.types import EnvSpec

        env = policy.wrap_env(make_real_env(args.config))
        spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
        if spec != agent.spec:
            env.close()
            raise ValueError(
                f"the policy in {args.run} takes {agent.spec.observations}, {agent.spec.action_dim} "
                f"actions; the robot in {args.config} gives {spec.observations}, {spec.action_dim}: use "
                "a policy trained with the same cameras, sizes and task."
            )
        env_id = f"real robot ({args.config})"
    else:
        env = policy.wrap_env(make(env_id, render_mode="rgb_array" if video else None))
    try:
        on_frame = video.append if video is not None else None
        return env_id, evaluate(env, agent, policy.params, args.episodes, seed=args.seed, on_frame=on_frame)
    finally:
        env.close()
