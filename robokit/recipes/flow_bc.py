"""Behaviour cloning of a flow policy on demo chunks (`robokit pretrain --algo flow-bc`): the start
that OGPO finetunes (`robokit train --algo ogpo --init RUN`).

OGPO itself runs in `robokit.recipes.online.train`, through the same Learner, Actor and link as SAC:
actors act in chunks (the ActionChunk wrapper; one transition per chunk, carrying its env steps),
the learner makes one update per chunk, and the online buffer holds only what the finetuned policy
collected (no demos). The learner copies each episode that ended in success into a success buffer
(robokit.agents.ogpo.successes), whose flow-matching term joins the PPO loss once it holds batch + H
transitions. Run folders look like SAC's (config.json with "algo", checkpoints, evals.jsonl,
curve.png, tb/), so `robokit eval` and `--resume` take them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from robokit.agents.chunking import chunk_transitions
from robokit.agents.ogpo.agent import OGPO, FlowConfig
from robokit.agents.preprocessing import obs_statistics
from robokit.data.datasets import read_episodes
from robokit.data.replay import ReplayBuffer
from robokit.loop.evaluation import evaluate
from robokit.runs import checkpoint
from robokit.runs.folder import fresh_run_dir, write_config
from robokit.runs.log import RunLog
from robokit.types import EnvSpec, TransitionBatch


@dataclass(frozen=True)
class PretrainResult:
    run_dir: Path
    steps: int
    kept_step: int | None
    kept_success: float | None
    evals: list


def pretrain_flow_bc(
    env_id: str,
    make_env: Callable[[], object],
    demos: Callable[[Path], Path],
    run_dir: Path,
    config: FlowConfig,
    steps: int = 20_000,
    eval_every: int = 1_000,
    eval_episodes: int = 20,
    max_success: float | None = None,
    seed: int = 0,
    say: Callable[[str], None] = print,
) -> PretrainResult:
    """Flow-matching BC on the demos' chunks. Every `eval_every` steps the policy is evaluated; the
    checkpoint kept is the newest one, or with `max_success` the newest whose success is at most
    that (training stops at the first evaluation above it: a deliberately weak start for OGPO).
    `demos(folder)` gives the demo dataset (recording it into `folder` if need be)."""
    run_dir = fresh_run_dir(run_dir)
    demos = demos(run_dir / "demos")
    env = make_env()
    spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    episodes = read_episodes(demos)
    buffer = ReplayBuffer(spec, max(sum(len(ep) for ep in episodes), 2))
    for episode in episodes:
        rows = list(chunk_transitions(episode, config.chunk, config.discount))
        buffer.insert_batch(TransitionBatch.from_rows(rows, spec.observation_keys))
    agent = OGPO(config, spec)
    state = agent.init(jax.random.PRNGKey(seed), **obs_statistics(buffer.obs, spec, len(buffer)))
    extra = {"demos": str(demos), "steps": steps, "max_success": max_success, "seed": seed}
    write_config(run_dir, spec, config, algo="flow-bc", train={"env": env_id, **extra})
    log, rng, started = RunLog(run_dir), np.random.default_rng(seed), time.time()
    kept_step = kept_success = None
    step = 0
    for step in range(1, steps + 1):
        state, metrics = agent.bc_update(state, buffer.sample(config.batch_size, rng))
        if step % 100 == 0:
            log.scalars(step, {"bc_loss": float(metrics["bc_loss"])}, "pretrain")
        if step % eval_every == 0 or step == steps:
            result = evaluate(env, agent, agent.policy_params(state), eval_episodes, seed=10_000 + step)
            log.evaluation(step, time.time() - started, result)
            say(f"BC step {step}: success {result['success_rate']:.0%} on {eval_episodes} episodes")
            if max_success is not None and result["success_rate"] > max_success:
                break
            checkpoint.save(run_dir / "checkpoints", step, state, {}, {"bc_steps": step, "env_steps": 0})
            kept_step, kept_success = step, result["success_rate"]
    log.plot_curve(f"{env_id} flow BC (x: BC steps)")
    log.close()
    env.close()
    return PretrainResult(run_dir, step, kept_step, kept_success, log.evaluations())
