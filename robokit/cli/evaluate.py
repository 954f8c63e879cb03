"""`robokit eval`: a trained run's policy on fresh episodes, in simulation or on the real arm."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Eval:
    """Evaluate a trained run's latest checkpoint on fresh episodes (its mean action, or sampled ones)."""

    run: Path
    """Run folder written by `robokit train`."""
    episodes: int = 50
    seed: int = 50_000
    """Seed of the first episode; episode i uses seed + i."""
    video: Path | None = None
    """Write the episodes to this .mp4 (or .gif) file: the scene, and beside it for a pixel policy
    the camera frames it is given."""
    looks: Literal["as_trained", "none", "train", "held_out"] = "as_trained"
    """Visual randomisation of the simulated task: the run's own (`robokit train --looks`), none,
    the training ranges, or held-out looks the policy never saw."""
    actions: Literal["as_trained", "mean", "sampled"] = "as_trained"
    """The policy's mean action, or actions sampled from it as in training; as_trained: as the run's
    own evaluations acted (`robokit train --eval-actions`)."""
    config: Path | None = None
    """Run the policy on the real robot this YAML file describes (no learning) instead of in simulation."""


def run(args: Eval) -> None:
    from rich.console import Console

    from robokit.cli.video import VideoWriter, video_size
    from robokit.envs.factory import RENDER_SIZE

    config = Path(args.run) / "config.json"  # read here: robokit.runs imports JAX
    cameras = _cameras(args, json.loads(config.read_text()) if config.is_file() else {})
    size = video_size(RENDER_SIZE, len(cameras))
    video = VideoWriter(args.video, size) if args.video else None  # before JAX is imported
    try:
        env_id, result = _evaluate(args, video, cameras)
    finally:
        if video is not None:
            video.close()
    Console().print(
        f"[bold]{env_id}[/bold] from {args.run}: success rate {result['success_rate']:.0%} over "
        f"{args.episodes} episodes ({result['actions']} actions), mean return {result['return']:.2f}, "
        f"mean length {result['episode_length']:.1f}" + (f"; video: {args.video}" if args.video else "")
    )


def _cameras(args: Eval, saved: dict) -> tuple[str, ...]:
    """The policy's cameras to show beside the render: a simulated Vision task's."""
    from robokit.envs.factory import SIM_CAMERAS

    env_id = saved.get("train", {}).get("env") or ""
    return tuple(SIM_CAMERAS) if args.config is None and "Vision" in env_id else ()


def _evaluate(args: Eval, video, cameras: tuple[str, ...]) -> tuple[str, dict]:
    from robokit.cli.common import sim_options
    from robokit.cli.video import PolicyInputs
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
        looks = policy.looks if args.looks == "as_trained" else args.looks
        options = sim_options(looks, policy.cameras_like)
        env = make(env_id, render_mode="rgb_array" if video else None, **options)
        inputs = PolicyInputs(env, cameras)
        env = policy.wrap_env(inputs)
    try:
        on_frame = None
        if video is not None:
            on_frame = (lambda render: video.append(inputs.beside(render))) if cameras else video.append
        actions = policy.eval_actions if args.actions == "as_trained" else args.actions
        result = evaluate(
            env, agent, policy.params, args.episodes, args.seed, on_frame, sampled=actions == "sampled"
        )
        return env_id, result
    finally:
        env.close()
