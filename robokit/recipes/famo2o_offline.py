"""Offline pretraining of FamO2O (`robokit pretrain --algo famo2o --data DIR`): the universal model
at betas drawn over the whole range, the balance model and the critics, on any robokit datasets
(mixed-quality recordings, demos, earlier runs' episodes exported as Minari). Online finetuning is
`robokit train --algo famo2o --init RUN`: the same Learner, actors, link and checkpoints as SAC,
the offline data kept in the mixer (--demo-ratio of each batch).

The run folder looks like every run's (config.json with "algo": "famo2o", checkpoints, evals.jsonl,
curve.png, tb/) plus balance.png, the beta the balance model chooses over the object's start
positions (robokit.cli.balance_map).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from robokit.agents.famo2o.agent import FamO2O, FamO2OConfig
from robokit.loop.evaluation import evaluate
from robokit.recipes.online_setup import demo_and_online_buffers
from robokit.runs import checkpoint
from robokit.runs.folder import fresh_run_dir, write_config
from robokit.runs.log import RunLog
from robokit.types import EnvSpec


def offline_buffer(spec: EnvSpec, data: list[Path]):
    """(buffer, statistics) of every transition of the datasets `data`; one sentence if they hold none."""
    buffers, statistics = demo_and_online_buffers(spec, 2, list(data))
    buffer = buffers.get("demos")
    if buffer is None or len(buffer) == 0:
        raise ValueError(
            f"{', '.join(map(str, data)) or 'no dataset'} holds no transition: record data first "
            "(robokit record --mixed-quality, or --episodes N)."
        )
    return buffer, statistics


def pretrain_famo2o(
    env_id: str,
    make_env: Callable[[], object],
    data: list[Path],
    run_dir: Path,
    config: FamO2OConfig,
    steps: int = 50_000,
    eval_every: int = 5_000,
    eval_episodes: int = 20,
    seed: int = 0,
    say: Callable[[str], None] = print,
    after: Callable[[Path, FamO2O, dict, object], None] | None = None,
) -> Path:
    """`steps` offline FamO2O updates; every `eval_every` an evaluation on fresh episodes and a
    checkpoint; then `after(run_dir, agent, policy params, env)` (the CLI's balance map). Returns
    the run folder."""
    env = make_env()
    spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    try:
        buffer, statistics = offline_buffer(spec, data)  # bad data: one sentence, no run folder made
        run_dir = fresh_run_dir(run_dir)
        agent = FamO2O(config, spec)
        state = agent.init(jax.random.PRNGKey(seed), **statistics)
        extra = {
            "data": [str(p) for p in data],
            "steps": steps,
            "seed": seed,
            "offline_transitions": len(buffer),
        }
        write_config(run_dir, spec, config, algo="famo2o", train={"env": env_id, **extra})
        log, rng, started = RunLog(run_dir), np.random.default_rng(seed), time.time()
        say(f"FamO2O offline on {len(buffer)} transitions for {steps} steps")
        for step in range(1, steps + 1):
            state, metrics = agent.update(state, buffer.sample(config.utd_ratio * config.batch_size, rng))
            if step % 500 == 0:
                log.scalars(step, {k: float(v) for k, v in metrics.items()}, "offline")
            if step % eval_every == 0 or step == steps:
                result = evaluate(env, agent, agent.policy_params(state), eval_episodes, seed=10_000 + step)
                log.evaluation(step, time.time() - started, {**result, "offline_steps": step})
                say(f"offline step {step}: success {result['success_rate']:.0%} on {eval_episodes} episodes")
                counters = {"offline_steps": step, "env_steps": 0}
                checkpoint.save(run_dir / "checkpoints", step, state, {}, counters)
        log.plot_curve(f"{env_id} FamO2O offline (x: offline updates)")
        log.close()
        if after is not None:
            after(run_dir, agent, agent.policy_params(state), env)
    finally:
        env.close()
    return run_dir
