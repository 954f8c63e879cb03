"""One actor built in this process from its options: what `robokit actor`, the local actor fleet and
any other launcher share.

    options = ActorOptions(learner="127.0.0.1:5555", actor_id=0, algo="sac")
    actor_run = build_actor(options, make_env)    # the env comes from the caller (sim or a real arm)
    try:
        actor_run.run(should_stop)                # act until stopped; flush what is unacknowledged
    finally:
        actor_run.close()
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from robokit.agents.base import AgentChoice
from robokit.link.keys import split_address
from robokit.types import EnvSpec


@dataclass(frozen=True, kw_only=True)
class ActorOptions(AgentChoice):
    """Run one actor: act in a task and stream what happens to a learner."""

    learner: str
    """The learner's HOST:PORT (printed by `robokit learner` / `robokit train`)."""
    env: str = "PickCube-v0"
    actor_id: int = 0
    """Unique per actor of one learner."""
    keys: Path | None = None
    """CURVE keys folder made by `robokit keys` (needed when the learner uses keys)."""
    spool_dir: Path | None = None
    """Unacknowledged batches live here until the learner has them; default spool/actor_<id>."""
    corrections_dir: Path | None = None
    """Instructed envs: each episode in which this actor ran an operator's correction is written
    here as a Minari dataset when it ends; default corrections/actor_<id>."""
    labels_dir: Path | None = None
    """Each episode an operator labels success / failure (the console) is written here as a
    Minari dataset of labelled frames when it ends; default labels/actor_<id>."""
    seed: int = 0
    paced: bool = True
    """Wait when the learner asks (it is behind its update-to-data ratio); simulation only."""
    on_learner_lost: Literal["continue", "hold"] | None = None
    """While the learner is unreachable: act on with the last params, or hold still (default:
    continue in simulation, hold on a real robot)."""
    config: Path | None = None
    """Act on the real robot this YAML file describes instead of a simulated task (never paced)."""
    send_every: int = 1
    """Env steps per batch sent."""
    max_steps: int | None = None
    """Stop after this many env steps (default: run until stopped)."""
    reward_classifier: Path | None = None
    """Simulated tasks: reward (and end) episodes by this classifier (`robokit train-classifier
    --out`). On the real robot it is named in the config's task section."""
    encoder: Path | None = None
    """Simulated tasks: encode the frames with this pretrained encoder (the learner's --encoder)."""
    looks: Literal["none", "train", "held_out"] = "none"
    """Simulated tasks: visual randomisation, drawn anew at each reset (the learner's --looks)."""
    cameras_like: Path | None = None
    """Simulated tasks: frame the cameras as this robot.yaml's do (the learner's --cameras-like)."""
    instructor: Path | None = None
    """Simulated tasks: the high-level instructor (`robokit train-instructor --out`) that chooses the
    instruction the policy reads (obs["instruction"]); operators correct it with `robokit say`."""

    @property
    def real(self) -> bool:
        return self.config is not None

    def argv(self) -> list[str]:
        """These options as `robokit actor` flags (those that differ from the defaults)."""
        args = ["--learner", self.learner]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "learner" or value == f.default or value is None:
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                args.append(flag if value else "--no-" + flag[2:])
            else:
                args += [flag, str(value)]
        return args


@dataclass
class ActorRun:
    """A built actor with its link and env; `run` it, then `close` it."""

    actor: object  # robokit.loop.actor.Actor
    link: object  # ZmqActorLink
    env: object
    options: ActorOptions

    def run(self, should_stop: Callable[[], bool], say: Callable[[str], None] = print) -> int:
        """Act until `should_stop()` (or max_steps); flush the spool; returns the env steps taken."""
        from robokit.loop.actor import run_actor

        o = self.options
        if not self.link.wait_connected(10.0):
            if self.link.handshake_failure:  # keys: no retry will fix it, so stop and say why
                raise RuntimeError(f"actor {o.actor_id}: {self.link.handshake_failure}")
            say(f"actor {o.actor_id}: {self.link.no_answer()}; acting and spooling meanwhile")
        on_lost = o.on_learner_lost or ("hold" if o.real else "continue")  # a real arm holds still
        steps = run_actor(self.actor, self.link, should_stop, on_lost, o.send_every, o.max_steps)
        flushed = self.link.flush(timeout_s=5.0)
        kept = f"{len(self.link.spool)} batches kept in {self.link.spool.directory} for next time"
        left = "all acknowledged" if flushed else kept
        stopped = "; stopped by the operator" if self.actor.stop_requested else ""
        say(f"actor {o.actor_id}: {steps} env steps{stopped}; {left}")
        return steps

    def close(self) -> None:
        try:
            self.link.close()
        finally:
            self.env.close()


def corrections_logged(env, options: ActorOptions):
    """`env`, keeping its corrected episodes (robokit.language.recorded.CorrectionsLog) if it takes
    corrections (an instructed env)."""
    try:
        env.get_wrapper_attr("correct")
    except AttributeError:
        return env
    from robokit.language.recorded import CorrectionsLog

    return CorrectionsLog(env, options.corrections_dir or Path("corrections") / f"actor_{options.actor_id}")


def build_actor(
    options: ActorOptions,
    make_env: Callable[[], object],
    reward: str = "simulator",
    curve: tuple | None = None,
    frames: str = "raw frames",
) -> ActorRun:
    """The actor `options` describe, acting in `make_env()` (wrapped as its agent acts: in action
    chunks for a flow policy), linked to its learner over zmq; `reward` names how the env rewards
    episodes and `frames` what its policy reads of the cameras (the learner refuses an actor that
    differs in either). `curve` hands the actor its CURVE keys in
    memory (public, secret, learner's public) in place of a --keys folder (robokit.launch). Bad
    options are one sentence before the env (a robot) is opened."""
    from robokit.link.zmq_actor import ZmqActorLink
    from robokit.loop.actor import Actor
    from robokit.rewards.labels_log import LabelsLog
    from robokit.runs.policy import choose_agent

    split_address(options.learner)
    kind, agent_config = choose_agent(options)
    labels = options.labels_dir or Path("labels") / f"actor_{options.actor_id}"
    env = kind.wrap_env(corrections_logged(LabelsLog(make_env(), labels), options), agent_config)
    try:
        spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
        agent = kind.build(agent_config, spec)
        spool = options.spool_dir or Path("spool") / f"actor_{options.actor_id}"
        paced = options.paced and not options.real  # the link never slows a real arm
        keys = curve if curve is not None else options.keys
        link = ZmqActorLink(
            options.learner, options.actor_id, spec, agent_config, spool, keys, paced, reward=reward,
            frames=frames,
        )  # fmt: skip
    except BaseException:
        env.close()
        raise
    try:
        actor = Actor(env, agent, link, seed=options.seed, actor_id=options.actor_id)
    except BaseException:
        link.close()
        env.close()
        raise
    return ActorRun(actor, link, env, options)
