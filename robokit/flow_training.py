"""Flow policies in training: behaviour cloning on demo chunks (`robokit pretrain --algo flow-bc`)
and OGPO finetuning online from such a start (`robokit train --algo ogpo --init RUN`).

Both run in one process, lock-step: each chunk the actor executes (H env steps, through the
ActionChunk wrapper that `make_env` returns) is followed by one update. The online buffer holds only
what the finetuned policy itself collected (no demos); transitions of its successful episodes are
also copied into a success buffer, whose flow-matching term joins the PPO loss once it holds
batch + H of them. Run folders look like `robokit train`'s (config.json with "algo", checkpoints,
evals.jsonl, curve.png, tb/), so `robokit eval` takes them.
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
from robokit.agents.flow import OGPO, FlowConfig, success_term_active
from robokit.agents.sac import state_statistics
from robokit.data.datasets import read_episodes
from robokit.data.replay import ReplayBuffer
from robokit.evaluation import evaluate
from robokit.policy_io import saved_spec, spec_json
from robokit.run_log import RunLog, fresh_run_dir
from robokit.training import STOP_STREAK, streak_reached
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


@dataclass(frozen=True)
class FinetuneResult:
    run_dir: Path
    env_steps: int
    updates: int
    wall_s: float
    final_eval: dict
    evals: list


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


def finetune_ogpo(
    env_id: str,
    make_env: Callable[[], object],
    init: Path | None,
    run_dir: Path,
    max_env_steps: int = 50_000,
    start_after: int = 1_000,
    eval_every: int = 2_000,
    eval_episodes: int = 20,
    final_eval_episodes: int = 50,
    stop_at_success: float | None = 0.95,
    stop_streak: int = STOP_STREAK,
    checkpoint_every: int = 5_000,
    resume: bool = False,
    seed: int = 0,
    say: Callable[[str], None] = print,
) -> FinetuneResult:
    """OGPO from the flow policy in `init`, with no demo data in any buffer. Every
    `checkpoint_every` env steps, and on Ctrl-C, the agent, both buffers, the counters and the RNGs
    are saved; `resume=True` continues the OGPO run in `run_dir` from its newest checkpoint (a new
    episode starts; the one under way when it stopped is not in the buffers)."""
    if resume:
        run_dir = Path(run_dir)
        agent, saved = flow_run_agent(run_dir)
        if saved["algo"] != "ogpo":
            raise ValueError(
                f"{run_dir} is not an OGPO run: resume a folder `robokit train --algo ogpo` wrote."
            )
        latest = checkpoint.latest(run_dir / "checkpoints")
        state, buffers, counters = checkpoint.restore(latest, agent.init(jax.random.PRNGKey(0)), agent.spec)
        online, successes = buffers["online"], buffers["successes"]
        init = Path(saved["train"]["init"])
    else:
        agent, state, saved = load_flow_run(init)
        run_dir = fresh_run_dir(run_dir)
        counters = None
    env, eval_env = make_env(), make_env()
    spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    if spec != agent.spec:
        raise ValueError(
            f"the policy in {init} was trained on {saved['train']['env']}, not {env_id}: pass the same --env."
        )
    config = agent.config
    if counters is None:
        extra = {"init": str(init), "max_env_steps": max_env_steps, "start_after": start_after, "seed": seed}
        _write_run_config(run_dir, "ogpo", env_id, config, spec, extra)
        online = ReplayBuffer(spec, max(max_env_steps, 1_000))
        successes = ReplayBuffer(spec, max(max_env_steps, 1_000))
        counters = {
            "env_steps": 0,
            "updates": 0,
            "chunks": 0,
            "next_eval": eval_every,
            "recent": [],
            "wall_s": 0.0,
        }
        rng, key = np.random.default_rng(seed), jax.random.PRNGKey(seed + 1)
    else:
        rng, key = checkpoint.rng_from_state(counters["rng"]), jax.numpy.asarray(counters["key"], np.uint32)
    log, started = RunLog(run_dir), time.time() - counters["wall_s"]
    env_steps, updates, chunks = counters["env_steps"], counters["updates"], counters["chunks"]
    recent, next_eval = counters["recent"], counters["next_eval"]
    next_checkpoint = (env_steps // checkpoint_every + 1) * checkpoint_every

    def save() -> None:
        checkpoint.save(
            run_dir / "checkpoints", env_steps, state, {"online": online, "successes": successes},
            {"env_steps": env_steps, "updates": updates, "chunks": chunks, "next_eval": next_eval,
             "recent": recent, "wall_s": time.time() - started, "rng": checkpoint.rng_state(rng),
             "key": np.asarray(key).tolist()},
        )  # fmt: skip

    obs, _ = env.reset(seed=seed + env_steps)
    episode: list[tuple] = []
    try:
        while env_steps < max_env_steps:
            key, sub = jax.random.split(key)
            batched = {k: v[None] for k, v in obs.items()}
            action = np.asarray(agent.act(agent.policy_params(state), batched, sub, explore=True))[0]
            next_obs, reward, terminated, truncated, info = env.step(action)
            transition = (obs, action, reward, terminated, truncated, next_obs)
            online.insert(*transition)
            episode.append(transition)
            env_steps += int(info.get("chunk_steps", 1))
            chunks += 1
            obs = next_obs
            if terminated or truncated:
                if info.get("success", False):
                    for done in episode:
                        successes.insert(*done)
                log.scalars(env_steps, {"success": float(info.get("success", False))}, "episode")
                episode = []
                obs, _ = env.reset()
            if chunks >= start_after:
                batch = online.sample(config.batch_size, rng)
                use_success = success_term_active(len(successes), config)
                success_batch = successes.sample(config.batch_size, rng) if use_success else None
                state, metrics = agent.update(state, batch, success_batch, use_success=use_success)
                updates += 1
                if updates % 100 == 0:
                    log.scalars(env_steps, {k: float(v) for k, v in metrics.items()}, "train")
            if env_steps >= next_eval:
                next_eval += eval_every
                result = evaluate(
                    eval_env, agent, agent.policy_params(state), eval_episodes, seed=10_000 + env_steps
                )
                log.evaluation(env_steps, time.time() - started, result)
                say(
                    f"{env_steps} env steps: success {result['success_rate']:.0%} "
                    f"({time.time() - started:.0f} s)"
                )
                recent.append(result["success_rate"])
                if streak_reached(recent, stop_at_success, stop_streak):
                    break
            if env_steps >= next_checkpoint:
                next_checkpoint += checkpoint_every
                save()
    except KeyboardInterrupt:
        save()
        say(f"interrupted: checkpoint at {env_steps} env steps; continue with --resume {run_dir}")
        raise
    final = evaluate(eval_env, agent, agent.policy_params(state), final_eval_episodes, seed=50_000)
    log.evaluation(env_steps, time.time() - started, {**final, "final": True})
    save()
    log.plot_curve(f"{env_id} OGPO from {Path(init).name}")
    log.close()
    env.close()
    eval_env.close()
    return FinetuneResult(run_dir, env_steps, updates, time.time() - started, final, log.evaluations())
