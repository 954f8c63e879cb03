"""Setting up an online training run: its folder (new, or the one to resume), its agent through
the registry (a preset, --init's saved policy, or the run's own checkpoint), its buffers and the
learner's configuration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax

from robokit.agents.base import AgentKind
from robokit.data.datasets import read_episodes
from robokit.data.replay import ReplayBuffer
from robokit.loop.learner import LearnerConfig
from robokit.recipes.online_config import BUDGET_FIELDS, TrainConfig
from robokit.recipes.run_state import Counters
from robokit.runs import checkpoint
from robokit.runs.folder import fresh_run_dir, jsonable, write_config
from robokit.runs.policy import choose_agent, read_config, restore_agent_state, saved_agent
from robokit.types import EnvSpec


def demo_and_online_buffers(spec: EnvSpec, capacity: int, demo_path: Path | list[Path] | None):
    """(buffers, statistics): an empty online buffer and, when there are demos (one dataset or
    several), their buffer and their observations' statistics, Agent.init's keyword arguments
    (none without demos)."""
    from robokit.agents.preprocessing import obs_statistics

    buffers = {"online": ReplayBuffer(spec, capacity)}
    if not demo_path:
        return buffers, {}
    paths = demo_path if isinstance(demo_path, list) else [demo_path]
    episodes = [episode for path in paths for episode in read_episodes(path)]
    demos = buffers["demos"] = ReplayBuffer.from_episodes(spec, episodes)
    return buffers, obs_statistics(demos.obs, spec, len(demos))


def learner_setup(kind: AgentKind, agent_config, start_after: int, buffers: dict, demo_ratio: float):
    """(LearnerConfig, mixer ratios): RLPD's demo/online split when there are demos; `start_after`
    env steps counted in the agent's actions (an action chunk is one)."""
    learner_config = LearnerConfig(
        start_after=max(start_after // kind.steps_per_action(agent_config), 1),
        publish_every=1,
        batch_size=agent_config.batch_size,
        utd_ratio=agent_config.utd_ratio,
    )
    ratios = {"demos": demo_ratio, "online": 1.0 - demo_ratio} if "demos" in buffers else {"online": 1.0}
    return learner_config, ratios


def streak_reached(recent: list[float], bar: float | None, streak: int) -> bool:
    """Whether the last `streak` evaluations all reached `bar` (never, with no bar)."""
    return bar is not None and len(recent) >= streak and min(recent[-streak:]) >= bar


def check_resume_config(saved: dict, config: TrainConfig) -> None:
    """One sentence if `config` asks for something other than what the saved run was started with."""
    current = jsonable(config)
    differing = [k for k in saved if k not in BUDGET_FIELDS and saved.get(k) != current.get(k)]
    if differing:
        detail = ", ".join(f"{k}={saved[k]!r} (now {current.get(k)!r})" for k in differing)
        raise ValueError(
            f"the run to resume was started with {detail}: pass the same options or start a new run."
        )


def open_run_dir(config: TrainConfig) -> tuple[Path, TrainConfig]:
    """(run folder, config): a new folder, or the one to resume (its --init filled in if not given)."""
    if not config.resume:
        return fresh_run_dir(config.run_dir or "runs/run", resumable=True), config
    run_dir = Path(config.resume).absolute()
    if not (run_dir / "config.json").exists() or checkpoint.latest(run_dir / "checkpoints") is None:
        raise FileNotFoundError(
            f"{run_dir} holds no checkpoint to resume: pass a run folder that `robokit train` wrote."
        )
    choose_agent(config, resume=run_dir)  # the same algorithm, or one sentence
    saved = read_config(run_dir)["train"]
    if config.init is None and saved.get("init"):
        config = dataclasses.replace(config, init=Path(saved["init"]))
    check_resume_config(saved, config)
    checkpoint.discard_partials(run_dir / "checkpoints")
    return run_dir, config


def new_agent(config: TrainConfig, kind: AgentKind, spec: EnvSpec, run_dir: Path, record_demos):
    """(agent, state, buffers) of a new run; writes config.json."""
    capacity = max(config.max_env_steps, 1000)
    demo_path = None
    if kind.finetunes:  # the policy of --init; its offline data as demos, for an agent that keeps them
        _, agent, saved, latest = saved_agent(config.init_run())
        if agent.spec != spec:
            raise ValueError(
                f"the policy in {config.init} was trained on {saved['train']['env']}, not {config.env}: "
                "pass the same --env."
            )
        state = restore_agent_state(agent, latest)
        agent = kind.build(kind.online(agent.config), spec)
        if kind.learns_from_demos:
            demo_path = [Path(p) for p in saved["train"].get("data", [])] or None
        buffers, _ = demo_and_online_buffers(spec, capacity, demo_path)
    else:
        agent = kind.build(kind.configure(config.preset, config.options()), spec)
        if kind.learns_from_demos:
            demo_path = config.demos
            if demo_path is None and record_demos is not None:
                demo_path = record_demos(run_dir / "demos", config.num_demos)
        # (a real robot without recorded demos learns from its own data only)
        buffers, statistics = demo_and_online_buffers(spec, capacity, demo_path)
        state = agent.init(jax.random.PRNGKey(config.seed), **statistics)
    for extra in kind.buffers:
        buffers[extra.name] = ReplayBuffer(spec, capacity)
    demos = [str(p) for p in demo_path] if isinstance(demo_path, list) else str(demo_path or "")
    write_config(run_dir, spec, agent.config, algo=config.algo, train=config, demos=demos)
    return agent, state, buffers


def resumed_agent(config: TrainConfig, run_dir: Path):
    """(agent, state, buffers, counters) of the run's newest checkpoint."""
    _, agent, _, latest = saved_agent(run_dir)
    template = agent.init(jax.random.PRNGKey(config.seed))
    state, buffers, saved_counters = checkpoint.restore(latest, template, agent.spec)
    return agent, state, buffers, Counters.from_json(saved_counters, latest)
