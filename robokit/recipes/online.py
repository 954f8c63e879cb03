"""Online training on one machine: demos, the learner and its actors (in this process or over zmq),
periodic evaluation, checkpoints, logs, and a final evaluation on fresh episodes.

    run = open_run(config, make_env, record_demos)    # a new run, or the one --resume names
    while not run.finished:
        run.step()                                     # collect, ingest, update, log, evaluate, save
    result = run.close()

The agent comes from the registry (robokit.agents.base) by `config.algo`; the env is passed in as a
factory, so this core module never imports robokit.envs.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from robokit.agents.base import agent_kind
from robokit.link import InProcessLink
from robokit.link.base import LinkFailed, ServingLearnerLink
from robokit.link.keys import check_listen_address, split_address
from robokit.loop.actor import Actor
from robokit.loop.evaluation import evaluate
from robokit.loop.learner import Learner
from robokit.recipes.online_config import TrainConfig
from robokit.recipes.online_setup import learner_setup, new_agent, open_run_dir, resumed_agent, streak_reached
from robokit.recipes.run_state import Counters, LoopState
from robokit.runs import checkpoint
from robokit.runs.log import RunLog
from robokit.runs.quarantine import Quarantine
from robokit.types import EnvSpec

#: how many env steps paced actors may run ahead of the learner's update-to-data ratio
PACE_SLACK = 32
#: periodic evaluations in a row that must reach `stop_at_success` before a run stops early
STOP_STREAK = 3
#: seconds between progress reports (env steps, updates, their rates) between evaluations
PROGRESS_EVERY_S = 1.0


class ActorFleet(Protocol):
    def check(self) -> list[str]:
        """Lines about actor processes that stopped (and were restarted)."""
        ...

    def stop(self) -> None: ...


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


@dataclass
class OnlineRun:
    """A training run's parts and progress; `step` until `finished`, then `close`."""

    config: TrainConfig
    run_dir: Path
    learner: Learner
    link: InProcessLink | ServingLearnerLink
    actor: Actor | None  # the lock-step actor of --actors 0; None when actors are remote
    eval_env: object | None
    log: RunLog
    counters: Counters  # as resumed (wall time before this process)
    loop: LoopState
    started: float = field(default_factory=time.time)
    fleet: ActorFleet | None = None

    @property
    def remote(self) -> bool:
        return self.actor is None

    @property
    def finished(self) -> bool:
        return (
            self.learner.env_steps >= self.config.max_env_steps
            or self.loop.stop_requested
            or self.loop.reached
        )

    def wall_s(self) -> float:
        return self.counters.wall_s + time.time() - self.started

    def step(self) -> None:
        """One pass: collect (lock-step actor), ingest, pace remote actors, update, log, evaluate, save."""
        learner = self.learner
        if self.actor is not None:
            self.actor.collect(1)
            self.loop.stop_requested |= self.actor.stop_requested  # the console's stop ends the run
        learner.ingest()
        if self.remote:
            self._pace_actors()
        # one update (utd_ratio critic steps) per transition; an action chunk is one transition
        if learner.ready and learner.updates < learner.transitions - learner.config.start_after + 1:
            metrics = learner.update()
            learner.maybe_publish()
            if learner.updates % 100 == 0:
                self.log.scalars(learner.env_steps, metrics, "train")
        elif self.remote:
            time.sleep(0.002)
        for episode in learner.episodes:
            values = {"success": float(episode["success"]), "return": episode["episode_return"]}
            self.log.scalars(learner.env_steps, values, "episode")
        learner.episodes.clear()
        if self.eval_env is not None and learner.env_steps >= self.loop.next_eval:
            self.loop.next_eval = _next_multiple(learner.env_steps, self.config.eval_every)
            self.evaluate()
            if self.loop.reached:
                return  # close() checkpoints; no second write of the same step
        if learner.env_steps >= self.loop.next_checkpoint:
            self.loop.next_checkpoint = _next_multiple(learner.env_steps, self.config.checkpoint_every)
            self.save()
        if time.monotonic() - self.loop.last_progress >= PROGRESS_EVERY_S:
            self._report_progress({"success_rate": self.loop.recent[-1] if self.loop.recent else None})

    def _report_progress(self, row: dict) -> None:
        learner = self.learner
        self.loop.last_progress = time.monotonic()
        self.loop.progress(
            {"env_steps": learner.env_steps, "updates": learner.updates, "wall_s": self.wall_s(), **row}
        )

    def _pace_actors(self) -> None:
        """Paced (simulated) actors wait once they are PACE_SLACK steps ahead of the update-to-data
        ratio; the learner waits for data when it is ahead."""
        learner, link = self.learner, self.link
        ahead = learner.updates + learner.config.start_after + PACE_SLACK - learner.transitions
        link.allow(link.received_transitions + max(ahead, 0))
        for event in link.events() + (self.fleet.check() if self.fleet is not None else []):
            self.loop.say(event)

    def evaluate(self) -> None:
        """A periodic evaluation on fresh start states (so evaluations in a row are independent)."""
        learner, loop = self.learner, self.loop
        result = self._evaluate(self.config.eval_episodes, seed=10_000 + 1_000 * len(loop.recent))
        self.log.evaluation(learner.env_steps, self.wall_s(), result)
        speed = {
            "env_steps_per_s": learner.env_steps / self.wall_s(),
            "updates_per_s": learner.updates / self.wall_s(),
        }
        self.log.scalars(learner.env_steps, speed, "speed")
        self._report_progress(result)
        loop.recent.append(result["success_rate"])
        # STOP_STREAK evaluations in a row: a 20-episode estimate often hits the bar for a policy
        # below it (two 100% evals in a row ended a run at 86% on 50 fresh episodes)
        loop.reached = streak_reached(loop.recent, self.config.stop_at_success, STOP_STREAK)

    def _evaluate(self, episodes: int, seed: int) -> dict:
        agent = self.learner.agent
        params, sampled = agent.policy_params(self.learner.state), self.config.eval_actions == "sampled"
        return evaluate(self.eval_env, agent, params, episodes, seed=seed, sampled=sampled)

    def save(self) -> Path:
        learner = self.learner
        applied = dict(self.link.applied_in_buffers) if self.remote else {}
        ledger = self.link.ledger_snapshot() if self.remote else {}
        counters = Counters(
            learner.env_steps,
            learner.transitions,
            learner.updates,
            self.wall_s(),
            checkpoint.rng_state(learner.rng),
            {str(k): v for k, v in applied.items()},
            {str(k): v for k, v in ledger.items()},
        )
        folder = checkpoint.save(
            self.run_dir / "checkpoints",
            learner.env_steps,
            learner.state,
            learner.buffers,
            counters.to_json(),
        )
        if self.remote:
            self.link.checkpointed(applied)
        return folder

    def close(self) -> TrainResult:
        """Stop the actors, checkpoint, evaluate on fresh episodes (unless interrupted), plot."""
        self.stop_actors()
        last_checkpoint = self.save()
        final = {}
        if not self.loop.stop_requested and self.eval_env is not None:
            final = self._evaluate(self.config.final_eval_episodes, seed=50_000)
            self.log.evaluation(self.learner.env_steps, self.wall_s(), {**final, "final": True})
        final["interrupted"] = self.loop.stop_requested
        final["stopped_at_success"] = self.loop.reached
        config = self.config
        title = (
            f"{config.algo.upper()} from {Path(config.init).name}"
            if config.init
            else f"{config.preset} preset"
        )
        curve = self.log.plot_curve(f"{config.env} ({title})")
        self.log.close()
        learner = self.learner
        evals = self.log.evaluations()
        return TrainResult(
            self.run_dir,
            learner.env_steps,
            learner.updates,
            self.wall_s(),
            final,
            last_checkpoint,
            curve,
            evals,
        )

    def stop_actors(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()  # actors flush what they sent; it is logged, so it survives un-ingested
            self.fleet = None
            self.learner.ingest()


def _next_multiple(value: int, every: int) -> int:
    return (value // every + 1) * every


def open_run(
    config: TrainConfig,
    make_env: Callable[[], object] | None,
    record_demos: Callable[[Path, int], Path] | None,
    serve: bool = False,
    spec: EnvSpec | None = None,
    loop: LoopState | None = None,
    reward: str = "simulator",
    frames: str = "raw frames",
) -> OnlineRun:
    """A new run, or the one `config.resume` names, ready to step. With `make_env` None (a real
    robot: the learner must not open it), `spec` gives the observations and no evaluation runs.
    `reward` names how episodes are rewarded and `frames` what the policy reads of the cameras
    (cli.common.frames_source); remote actors must name the same."""
    if serve or config.actors > 0:
        check_listen_address(config.listen, config.keys)  # before any time goes into demos
    run_dir, config = open_run_dir(config)
    env = eval_env = None
    if make_env is not None:
        env, eval_env = make_env(), make_env()
        spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    elif spec is None:
        raise ValueError("train() needs make_env or the env spec: pass one of them.")
    kind = agent_kind(config.algo)  # open_run_dir checked a resumed run's algo
    counters = Counters()
    if config.resume:
        agent, state, buffers, counters = resumed_agent(config, run_dir)
    else:
        agent, state, buffers = new_agent(config, kind, spec, run_dir, record_demos)
    learner_config, ratios = learner_setup(kind, agent.config, config.start_after, buffers, config.demo_ratio)
    remote = serve or config.actors > 0
    if remote:
        from robokit.link.zmq_learner import ZmqLearnerLink

        applied = {int(k): v for k, v in counters.link_applied.items()}
        ledger = {int(k): v for k, v in counters.link_ledger.items()}
        link = ZmqLearnerLink(
            config.listen, spec, agent.config, run_dir / "link_log", applied, config.keys, reward=reward,
            ledger=ledger, frames=frames,
        )  # fmt: skip
    else:
        link = InProcessLink()
    loop = loop or LoopState()
    learner = Learner(
        agent, state, buffers, ratios, link, learner_config, seed=config.seed, extra=kind.buffers,
        quarantine=Quarantine(run_dir / "quarantine", loop.say),
    )  # fmt: skip
    counters.apply_to(learner)
    if kind.finetunes:
        learner.maybe_publish(force=True)  # actors act with the saved policy from the first step
    actor = None
    if not remote:  # the operator's labels (the console) keep their episodes' frames
        from robokit.rewards.labels_log import LabelsLog

        labelled = LabelsLog(env, run_dir / "labels" / "actor_0")
        actor = Actor(labelled, agent, link, seed=config.seed + learner.env_steps)
    loop.next_eval = _next_multiple(learner.env_steps, config.eval_every)
    loop.next_checkpoint = _next_multiple(learner.env_steps, config.checkpoint_every)
    return OnlineRun(config, run_dir, learner, link, actor, eval_env, RunLog(run_dir), counters, loop)


def train(
    config: TrainConfig,
    make_env: Callable[[], object] | None,
    record_demos: Callable[[Path, int], Path] | None,
    progress: Callable[[dict], None] | None = None,
    start_actors: Callable[[str, TrainConfig], ActorFleet] | None = None,
    serve: bool = False,
    say: Callable[[str], None] = print,
    spec: EnvSpec | None = None,
    reward: str = "simulator",
    stop: threading.Event | None = None,
    frames: str = "raw frames",
) -> TrainResult:
    """Train until the budget or `stop_at_success`; Ctrl-C (SIGINT, in the main thread) or `stop`
    being set checkpoints and stops cleanly.

    With `config.actors` > 0 (or `serve`) the learner listens on `config.listen` and takes data from
    actor processes; `start_actors(address, config)` starts them for the run's config (its --init
    filled in on resume); None: they are started elsewhere, e.g. `robokit actor` on other machines."""
    loop = LoopState(progress=progress or (lambda row: None), say=say)
    console_options = config.console_options()  # a missing extra or token: one sentence, before any work
    run = open_run(config, make_env, record_demos, serve, spec, loop, reward, frames)
    console = None
    in_main = threading.current_thread() is threading.main_thread()
    previous_handler = (
        signal.signal(signal.SIGINT, lambda *_: setattr(loop, "stop_requested", True)) if in_main else None
    )
    try:
        from robokit.console.server import start_console, watch_hub

        hub = watch_hub(run, frames_unwatched=console_options is not None)  # also for `robokit console`
        if console_options is not None:  # a port in use: one sentence, and the run is closed
            console = start_console(run, hub, console_options, say)
        if run.remote:
            if not config.resume:
                run.save()  # so that a learner killed before its first checkpoint can be resumed
            address = f"{split_address(config.listen)[0]}:{run.link.port}"
            say(f"learner listening on {address}")
            if start_actors is not None and config.actors > 0:
                run.fleet = start_actors(address, run.config)
        try:
            while not run.finished:
                run.step()
                if stop is not None and stop.is_set():
                    loop.stop_requested = True
        except LinkFailed as err:  # loud, with what the buffers hold saved (the log holds the rest)
            folder = run.save()
            raise LinkFailed(
                f"{err}; the run is checkpointed in {folder}: resume it with --resume {run.run_dir}"
            ) from err
        return run.close()
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous_handler)
        if console is not None:
            console.close()
        run.stop_actors()
        if run.remote:
            run.link.close()
