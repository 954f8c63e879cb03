"""A training run on one machine: demos, one actor and the learner over the in-process link,
periodic evaluation, checkpoints, logs, and a final evaluation on fresh episodes.

The env is passed in as factories, so this core module never imports robokit.envs.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import jax

from robokit import checkpoint
from robokit.actor import Actor
from robokit.agents.sac import SAC, state_statistics
from robokit.agents.sac_config import SACConfig
from robokit.data.datasets import read_episodes
from robokit.data.replay import ReplayBuffer
from robokit.evaluation import evaluate
from robokit.learner import Learner, LearnerConfig
from robokit.link import InProcessLink
from robokit.link.keys import check_listen_address, split_address
from robokit.link.wire import config_hash
from robokit.link.zmq_learner import ZmqLearnerLink
from robokit.policy_io import spec_json
from robokit.run_log import RunLog
from robokit.train_config import BUDGET_FIELDS, TrainConfig
from robokit.types import EnvSpec

#: how many env steps paced actors may run ahead of the learner's update-to-data ratio
PACE_SLACK = 32
#: periodic evaluations in a row that must reach `stop_at_success` before a run stops early
STOP_STREAK = 3


def demo_and_online_buffers(spec: EnvSpec, capacity: int, demo_path: Path | list[Path] | None):
    """(buffers, state mean, state std): an empty online buffer and, when there are demos (one
    dataset or several), their buffer and their "state" statistics (None without demos)."""
    buffers = {"online": ReplayBuffer(spec, capacity)}
    if not demo_path:
        return buffers, None, None
    paths = demo_path if isinstance(demo_path, list) else [demo_path]
    episodes = [episode for path in paths for episode in read_episodes(path)]
    demos = buffers["demos"] = ReplayBuffer.from_episodes(spec, episodes)
    mean, std = state_statistics(demos.obs["state"][: len(demos)])
    return buffers, mean, std


def learner_setup(agent_config: SACConfig, start_after: int, buffers: dict, demo_ratio: float):
    """(LearnerConfig, mixer ratios): RLPD's demo/online split when there are demos."""
    learner_config = LearnerConfig(
        start_after,
        publish_every=1,
        batch_size=agent_config.batch_size,
        utd_ratio=agent_config.utd_ratio,
    )
    ratios = {"demos": demo_ratio, "online": 1.0 - demo_ratio} if "demos" in buffers else {"online": 1.0}
    return learner_config, ratios


def _start_sac(config: TrainConfig, spec: EnvSpec, run_dir: Path, record_demos):
    """(agent, agent config, initial state, buffers, demos path) of a new SAC/RLPD run."""
    agent_config = config.agent_config()
    agent = SAC(agent_config, spec)
    demo_path = config.demos
    if demo_path is None and record_demos is not None:
        demo_path = record_demos(run_dir / "demos", config.num_demos)
    # (a real robot without recorded demos learns from its own data only)
    buffers, mean, std = demo_and_online_buffers(spec, max(config.max_env_steps, 1000), demo_path)
    return agent, agent_config, agent.init(jax.random.PRNGKey(config.seed), mean, std), buffers, demo_path


def streak_reached(recent: list[float], bar: float | None, streak: int) -> bool:
    """Whether the last `streak` evaluations all reached `bar` (never, with no bar)."""
    return bar is not None and len(recent) >= streak and min(recent[-streak:]) >= bar


class ActorFleet(Protocol):
    def check(self) -> list[str]:
        """Lines about actor processes that stopped (and were restarted)."""
        ...

    def stop(self) -> None: ...


def agent_config_hash(agent_config: SACConfig) -> str:
    return config_hash(_jsonable(agent_config))


@dataclass
class TrainResult:
    run_dir: Path
    env_steps: int
    updates: int
    wall_s: float
    final_eval: dict
    checkpoint: Path | None
    curve: Path | None
    evals: list = field(default_factory=list)


def _jsonable(config) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def check_resume_config(saved: dict, config: TrainConfig) -> None:
    """One sentence if `config` asks for something other than what the saved run was started with."""
    current = _jsonable(config)
    differing = [k for k in saved if k not in BUDGET_FIELDS and saved.get(k) != current.get(k)]
    if differing:
        detail = ", ".join(f"{k}={saved[k]!r} (now {current.get(k)!r})" for k in differing)
        raise ValueError(
            f"the run to resume was started with {detail}: pass the same options or start a new run."
        )


def _open_run_dir(config: TrainConfig) -> Path:
    run_dir = Path(config.resume or config.run_dir or "runs/run").absolute()
    if config.resume:
        config_file = run_dir / "config.json"
        if not config_file.exists() or checkpoint.latest(run_dir / "checkpoints") is None:
            raise FileNotFoundError(
                f"{run_dir} holds no checkpoint to resume: pass a run folder that `robokit train` wrote."
            )
        saved = json.loads(config_file.read_text())
        algo = saved.get("algo", "sac")
        if algo != config.algo:
            raise ValueError(f"{run_dir} holds a {algo} run: resume it with --algo {algo}.")
        check_resume_config(saved["train"], config)
        checkpoint.discard_partials(run_dir / "checkpoints")
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise FileExistsError(f"{run_dir} already exists: pass a new --run-dir, or --resume it.")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _write_config(run_dir: Path, config: TrainConfig, agent_config, spec, demos: Path) -> None:
    resolved = {
        "algo": config.algo,
        "train": _jsonable(config),
        "agent": _jsonable(agent_config),
        "spec": spec_json(spec),
        "demos": str(demos),
    }
    (run_dir / "config.json").write_text(json.dumps(resolved, indent=2))


def train(
    config: TrainConfig,
    make_env: Callable[[], object],
    record_demos: Callable[[Path, int], Path],
    progress: Callable[[dict], None] | None = None,
    start_actors: Callable[[str, str], ActorFleet] | None = None,
    serve: bool = False,
    say: Callable[[str], None] = print,
    spec: EnvSpec | None = None,
) -> TrainResult:
    """Train until the budget or `stop_at_success`; Ctrl-C (SIGINT) checkpoints and stops cleanly.

    With `config.actors` > 0 (or `serve`) the learner listens on `config.listen` and takes data from
    actor processes; `start_actors(address, config_hash)` starts them (None: they are started
    elsewhere, e.g. `robokit actor` on other machines). With `make_env` None (a real robot: the
    learner must not open it), `spec` gives the observations and no evaluation runs."""
    started = time.time()
    if serve or config.actors > 0:
        check_listen_address(config.listen, config.keys)  # before any time goes into demos
    run_dir = _open_run_dir(config)
    ckpt_dir = run_dir / "checkpoints"
    eval_env = None
    if make_env is not None:
        env, eval_env = make_env(), make_env()
        spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    elif spec is None:
        raise ValueError("train() needs make_env or the env spec: pass one of them.")
    counters = {"env_steps": 0, "updates": 0, "wall_s": 0.0}
    learner_config, ratios, demo_path = None, None, None
    if config.algo == "ogpo":
        from robokit.flow_training import start_ogpo

        agent, state, buffers, learner_config = start_ogpo(config, spec, run_dir if config.resume else None)
        agent_config, ratios = agent.config, {"online": 1.0}
    elif config.resume:
        agent_config = config.agent_config()
        agent = SAC(agent_config, spec)
    else:
        agent, agent_config, state, buffers, demo_path = _start_sac(config, spec, run_dir, record_demos)
    if config.resume:
        template = agent.init(jax.random.PRNGKey(config.seed))
        state, buffers, counters = checkpoint.restore(checkpoint.latest(ckpt_dir), template, spec)
    else:
        _write_config(run_dir, config, agent_config, spec, demo_path or "")
    if learner_config is None:
        learner_config, ratios = learner_setup(agent_config, config.start_after, buffers, config.demo_ratio)
    remote = serve or config.actors > 0
    if remote:
        applied = {int(k): v for k, v in counters.get("link_applied", {}).items()}
        link = ZmqLearnerLink(
            config.listen, spec, agent_config_hash(agent_config), run_dir / "link_log", applied, config.keys
        )
    else:
        link = InProcessLink()
    learner = Learner(agent, state, buffers, ratios, link, learner_config, seed=config.seed)
    learner.env_steps, learner.updates = counters["env_steps"], counters["updates"]
    learner.transitions = counters.get("transitions", learner.env_steps)
    if "learner_rng" in counters:
        learner.rng = checkpoint.rng_from_state(counters["learner_rng"])
    if config.algo == "ogpo":
        learner.maybe_publish(force=True)  # actors act with the flow policy from the first step
    actor = None if remote else Actor(env, agent, link, seed=config.seed + learner.env_steps)
    log = RunLog(run_dir)

    def wall_s() -> float:
        return counters["wall_s"] + time.time() - started

    def save() -> Path:
        saved_counters = {
            "env_steps": learner.env_steps,
            "transitions": learner.transitions,
            "updates": learner.updates,
            "wall_s": wall_s(),
            "learner_rng": checkpoint.rng_state(learner.rng),
        }
        if remote:
            applied = dict(link.applied_in_buffers)
            saved_counters["link_applied"] = {str(k): v for k, v in applied.items()}
        folder = checkpoint.save(ckpt_dir, learner.env_steps, learner.state, learner.buffers, saved_counters)
        if remote:
            link.checkpointed(applied)
        return folder

    def evaluate_now(episodes: int, seed: int) -> dict:
        return evaluate(eval_env, agent, agent.policy_params(learner.state), episodes, seed=seed)

    stop = {"requested": False}
    previous_handler = signal.signal(signal.SIGINT, lambda *_: stop.update(requested=True))
    reached = False
    recent: list[float] = []
    fleet = None
    next_eval = (learner.env_steps // config.eval_every + 1) * config.eval_every
    next_checkpoint = (learner.env_steps // config.checkpoint_every + 1) * config.checkpoint_every
    try:
        if remote:
            if not config.resume:
                save()  # so that a learner killed before its first checkpoint can be resumed
            address = f"{split_address(config.listen)[0]}:{link.port}"
            say(f"learner listening on {address}")
            if start_actors is not None and config.actors > 0:
                fleet = start_actors(address, agent_config_hash(agent_config))
        while learner.env_steps < config.max_env_steps and not stop["requested"]:
            if actor is not None:
                actor.collect(1)
            learner.ingest()
            if remote:
                # pacing: paced (simulated) actors wait once they are `PACE_SLACK` steps ahead of the
                # update-to-data ratio; the learner waits for data when it is ahead
                ahead = learner.updates + learner_config.start_after + PACE_SLACK - learner.transitions
                link.allow(link.received_transitions + max(ahead, 0))
                for event in link.events() + (fleet.check() if fleet is not None else []):
                    say(event)
            # one update (utd_ratio critic steps) per transition; an action chunk is one transition
            if learner.ready and learner.updates < learner.transitions - learner_config.start_after + 1:
                metrics = learner.update()
                learner.maybe_publish()
                if learner.updates % 100 == 0:
                    log.scalars(learner.env_steps, metrics, "train")
            elif remote:
                time.sleep(0.002)
            for episode in learner.episodes:
                values = {"success": float(episode["success"]), "return": episode["episode_return"]}
                log.scalars(learner.env_steps, values, "episode")
            learner.episodes.clear()
            if eval_env is not None and learner.env_steps >= next_eval:
                while next_eval <= learner.env_steps:
                    next_eval += config.eval_every
                # fresh start states at each evaluation, so evaluations in a row are independent samples
                result = evaluate_now(config.eval_episodes, seed=10_000 + 1_000 * len(recent))
                log.evaluation(learner.env_steps, wall_s(), result)
                speed = {
                    "env_steps_per_s": learner.env_steps / wall_s(),
                    "updates_per_s": learner.updates / wall_s(),
                }
                log.scalars(learner.env_steps, speed, "speed")
                if progress is not None:
                    progress(
                        {
                            "env_steps": learner.env_steps,
                            "updates": learner.updates,
                            "wall_s": wall_s(),
                            **result,
                        }
                    )
                recent.append(result["success_rate"])
                # STOP_STREAK evaluations in a row: a 20-episode estimate often hits the bar for a
                # policy below it (two 100% evals in a row ended a run at 86% on 50 fresh episodes)
                bar = config.stop_at_success
                if streak_reached(recent, bar, STOP_STREAK):
                    reached = True
                    break
            if learner.env_steps >= next_checkpoint:
                while next_checkpoint <= learner.env_steps:
                    next_checkpoint += config.checkpoint_every
                save()
        if fleet is not None:
            fleet.stop()  # actors flush what they sent; it is logged, so it survives even if not ingested
            learner.ingest()
        last_checkpoint = save()
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        if fleet is not None:
            fleet.stop()
        if remote:
            link.close()
    final = {}
    if not stop["requested"] and eval_env is not None:
        final = evaluate_now(config.final_eval_episodes, seed=50_000)
        log.evaluation(learner.env_steps, wall_s(), {**final, "final": True})
    final["interrupted"] = stop["requested"]
    final["stopped_at_success"] = reached
    title = f"OGPO from {Path(config.init).name}" if config.algo == "ogpo" else f"{config.preset} preset"
    curve = log.plot_curve(f"{config.env} ({title})")
    log.close()
    return TrainResult(
        run_dir,
        learner.env_steps,
        learner.updates,
        wall_s(),
        final,
        last_checkpoint,
        curve,
        log.evaluations(),
    )
