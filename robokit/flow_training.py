"""Flow policies in training: behaviour cloning on demo chunks (`robokit pretrain --algo flow-bc`)
and the start of an OGPO run (`robokit train --algo ogpo --init RUN`).

OGPO itself runs in `robokit.training.train`, through the same Learner, Actor and link as SAC:
actors act in chunks (the ActionChunk wrapper; one transition per chunk, carrying its env steps),
the learner makes one update per chunk, and the online buffer holds only what the finetuned policy
collected (no demos). The learner copies each episode that ended in success into a success buffer
(robokit.data.successes), whose flow-matching term joins the PPO loss once it holds batch + H
transitions. Run folders look like SAC's (config.json with "algo", checkpoints, evals.jsonl,
curve.png, tb/), so `robokit eval` and `--resume` take them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np

from robokit import checkpoint
from robokit.agents.flow import OGPO, FlowConfig, success_gate
from robokit.agents.sac import state_statistics
from robokit.data.datasets import read_episodes
from robokit.data.replay import ReplayBuffer
from robokit.evaluation import evaluate
from robokit.learner import LearnerConfig
from robokit.policy_io import saved_spec, spec_json
from robokit.run_log import RunLog, fresh_run_dir
from robokit.types import EnvSpec


def chunk_transitions(episode, horizon: int, discount: float):
    """Every step t of a recorded episode as a chunk transition: actions t .. t+H-1 (the last action
    repeated past the end), the discounted return of the steps that exist, and the observation
    after them."""
    steps = len(episode)
    for t in range(steps):
        end = min(t + horizon, steps)
        idx = [min(t + h, steps - 1) for h in range(horizon)]
        rewards = episode.rewards[t:end]
        terminated = bool(episode.terminations[t:end].any())
        yield (
            {k: v[t] for k, v in episode.observations.items()},
            episode.actions[idx].reshape(-1),
            float(np.sum(discount ** np.arange(len(rewards)) * rewards)),
            terminated,
            end == steps and not terminated,
            {k: v[end] for k, v in episode.observations.items()},
        )


def _write_run_config(run_dir: Path, algo: str, env_id: str, config: FlowConfig, spec: EnvSpec, extra: dict):
    resolved = {
        "algo": algo,
        "train": {"env": env_id, **extra},
        "agent": asdict(config),
        "spec": spec_json(spec),
    }
    (run_dir / "config.json").write_text(json.dumps(resolved, indent=2, default=str))


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
        for transition in chunk_transitions(episode, config.chunk, config.discount):
            buffer.insert(*transition)
    agent = OGPO(config, spec)
    mean, std = state_statistics(buffer.obs["state"][: len(buffer)])
    state = agent.init(jax.random.PRNGKey(seed), mean, std)
    extra = {"demos": str(demos), "steps": steps, "max_success": max_success, "seed": seed}
    _write_run_config(run_dir, "flow-bc", env_id, config, spec, extra)
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


def flow_run_agent(run_dir: Path) -> tuple[OGPO, dict]:
    """(agent, saved config) of a flow run, from its config.json alone (no checkpoint is read)."""
    run_dir = Path(run_dir)
    saved = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else {}
    if saved.get("algo") not in ("flow-bc", "ogpo") or checkpoint.latest(run_dir / "checkpoints") is None:
        raise FileNotFoundError(
            f"{run_dir} holds no flow policy: pass a folder that `robokit pretrain --algo flow-bc` "
            "(or `robokit train --algo ogpo`) wrote."
        )
    fields = dict(saved["agent"])
    for key in ("actor_hidden_dims", "critic_hidden_dims"):
        fields[key] = tuple(fields[key])
    return OGPO(FlowConfig(**fields), saved_spec(saved)), saved


def load_flow_run(run_dir: Path) -> tuple[OGPO, object, dict]:
    """(agent, state, saved config) of a flow run's newest checkpoint."""
    agent, saved = flow_run_agent(run_dir)
    latest = checkpoint.latest(Path(run_dir) / "checkpoints")
    state, _, _ = checkpoint.restore(latest, agent.init(jax.random.PRNGKey(0)), agent.spec)
    return agent, state, saved


def require_init(init: Path | None) -> Path:
    """The flow run OGPO starts from; one sentence when none was given."""
    if init is None:
        raise ValueError(
            "--algo ogpo finetunes a flow policy: pass --init RUN from `robokit pretrain --algo flow-bc`."
        )
    return Path(init)


def start_ogpo(config, spec: EnvSpec, resume_dir: Path | None):
    """(agent, state, buffers, LearnerConfig) of an OGPO run of `robokit.training.train`: the flow
    policy of `config.init`, empty online and success buffers (no demos in either). Resuming, the
    agent is the run's own and its state and buffers come from its checkpoint instead (None here)."""
    state = buffers = None
    if resume_dir is None:
        source = require_init(config.init)
        agent, state, saved = load_flow_run(source)
        capacity = max(config.max_env_steps, 1_000)
        buffers = {"online": ReplayBuffer(spec, capacity), "successes": ReplayBuffer(spec, capacity)}
    else:
        source = resume_dir
        agent, saved = flow_run_agent(source)
    if spec != agent.spec:
        raise ValueError(
            f"the policy in {source} was trained on {saved['train']['env']}, not {config.env}: "
            "pass the same --env."
        )
    c = agent.config
    learner_config = LearnerConfig(
        start_after=max(config.start_after // c.chunk, 1),  # in chunks
        publish_every=1,
        batch_size=c.batch_size,
        utd_ratio=c.utd_ratio,
        success_after=success_gate(c),
    )
    return agent, state, buffers, learner_config
