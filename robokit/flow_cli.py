"""`robokit pretrain --algo flow-bc` and `robokit train --algo ogpo --init RUN`: flow policies."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Pretrain:
    """Behaviour-clone a flow policy on demonstrations (the start that OGPO finetunes)."""

    algo: Literal["flow-bc"] = "flow-bc"
    env: str = "PickCube-v0"
    data: Path | None = None
    """Minari demos; default: record `num_demos` scripted-expert demos into RUN_DIR/demos."""
    num_demos: int = 20
    run_dir: Path | None = None
    steps: int = 20_000
    """Flow-matching steps at most."""
    eval_every: int = 1_000
    eval_episodes: int = 20
    max_success: float | None = None
    """Keep the newest checkpoint whose success is at most this, and stop at the first evaluation
    above it (a deliberately weak start, e.g. 0.45)."""
    chunk: int = 4
    """Env steps per action chunk (H)."""
    preset: Literal["cpu", "paper"] = "cpu"
    """Network and batch sizes: 'paper' (the authors': 10 critics, 32 chains per state, 4 x 512) or
    'cpu' (2 critics, 8 chains, batches of 64, 2 x 256). OGPO finetuning keeps the preset."""
    seed: int = 0


def chunked(env, chunk: int | None, discount: float):
    """`env` taking action chunks of `chunk` steps (flow policies), or as it is."""
    if chunk is None:
        return env
    from robokit.wrappers import ActionChunk

    return ActionChunk(env, chunk, discount)


def _chunk_env_factory(env_id: str, chunk: int, discount: float):
    from robokit.envs.registration import make

    return lambda: chunked(make(env_id), chunk, discount)


def pretrain(args: Pretrain) -> None:
    from rich.console import Console

    from robokit.agents.flow_config import FLOW_PRESETS
    from robokit.envs.recording import record_expert
    from robokit.envs.registration import check_env_id
    from robokit.flow_training import pretrain_flow_bc

    console = Console()
    env_id = check_env_id(args.env)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = args.run_dir or Path("runs") / f"{env_id.split('/')[1]}-flow-bc-{stamp}"
    config = dataclasses.replace(FLOW_PRESETS[args.preset], chunk=args.chunk)

    def demos(out: Path) -> Path:
        if args.data is not None:
            return args.data
        console.print(f"recording {args.num_demos} scripted-expert demos of {env_id} into {out}")
        return record_expert(env_id, args.num_demos, out, successes_only=True).path

    result = pretrain_flow_bc(
        env_id, _chunk_env_factory(env_id, config.chunk, config.discount), demos, run_dir, config,
        steps=args.steps, eval_every=args.eval_every, eval_episodes=args.eval_episodes,
        max_success=args.max_success, seed=args.seed, say=console.print,
    )  # fmt: skip
    if result.kept_step is None:
        raise RuntimeError(
            f"no evaluation was at or below --max-success {args.max_success}: lower --eval-every so that "
            "an earlier, weaker policy is evaluated."
        )
    console.print(
        f"[bold]{env_id}[/bold] flow BC: kept step {result.kept_step} with {result.kept_success:.0%} success "
        f"({result.steps} steps run); run: {result.run_dir}"
    )


def train_ogpo(config, console) -> None:
    """`robokit train --algo ogpo --init RUN` (or `--resume OGPO_RUN`): OGPO finetuning in one
    process, no demos online."""
    from robokit.envs.registration import check_env_id
    from robokit.flow_training import finetune_ogpo, flow_run_agent

    if config.init is None and config.resume is None:
        raise ValueError(
            "--algo ogpo finetunes a flow policy: pass --init RUN from `robokit pretrain --algo flow-bc`."
        )
    agent, saved = flow_run_agent(config.resume or config.init)
    env_id = check_env_id(saved["train"]["env"] if config.resume else config.env)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = config.resume or config.run_dir or Path("runs") / f"{env_id.split('/')[1]}-ogpo-{stamp}"
    result = finetune_ogpo(
        env_id, _chunk_env_factory(env_id, agent.config.chunk, agent.config.discount), config.init, run_dir,
        max_env_steps=config.max_env_steps, start_after=max(config.start_after // agent.config.chunk, 1),
        eval_every=config.eval_every, eval_episodes=config.eval_episodes,
        final_eval_episodes=config.final_eval_episodes, stop_at_success=config.stop_at_success,
        checkpoint_every=config.checkpoint_every, resume=config.resume is not None, seed=config.seed,
        say=console.print,
    )  # fmt: skip
    final = result.final_eval
    console.print(
        f"[bold]{env_id}[/bold] OGPO: success rate {final['success_rate']:.0%} on {final['episodes']} fresh "
        f"episodes after {result.env_steps} env steps, {result.updates} updates, {result.wall_s / 60:.1f} min"
    )
    console.print(f"run: {result.run_dir} (curve.png, evals.jsonl, checkpoints)")
