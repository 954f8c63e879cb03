"""The learner loop: take in what actors send, update the agent, publish its policy.

learner = Learner(agent, state, buffers={"online": ..., "demos": ...}, ratios=..., link=link)
learner.on("corrections", handler)   # any stream's items can go to more handlers
while running:
    learner.ingest()                 # every stream to its handlers: transitions to the buffers
    if learner.ready:
        metrics = learner.update()   # one jitted call: utd_ratio critic updates + actor step
    learner.maybe_publish()
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np

from robokit.agents.base import Agent, ExtraBuffer
from robokit.data.mixer import Mixer
from robokit.data.replay import ReplayBuffer
from robokit.link.base import STREAMS, LearnerLink
from robokit.types import TransitionBatch


@dataclass(frozen=True)
class LearnerConfig:
    start_after: int = 1000
    """Online transitions to collect (from the random policy) before updates start."""
    publish_every: int = 10
    """Publish policy params every this many updates."""
    batch_size: int = 256
    utd_ratio: int = 1


class Learner:
    def __init__(
        self,
        agent: Agent,
        state,
        buffers: dict[str, ReplayBuffer],
        ratios: dict[str, float],
        link: LearnerLink,
        config: LearnerConfig,
        seed: int = 0,
        extra: tuple[ExtraBuffer, ...] = (),
        quarantine: Callable[[str, object, Exception], None] | None = None,
    ):
        self.agent, self.state, self.link, self.config = agent, state, link, config
        # what to do with items a handler raised on: None raises (a bug surfaces at once); a run
        # keeps them aside and goes on, so one poison batch is never a crash loop on resume
        self.quarantine = quarantine
        self.buffers = buffers
        self.mixer = Mixer({k: buffers[k] for k in ratios}, ratios)
        self.rng = np.random.default_rng(seed)
        self.updates = 0
        self.env_steps = 0  # env steps (an action chunk's transition stands for several)
        self.transitions = 0
        self.published_version = -1
        self.episodes: list[dict] = []  # metrics of finished episodes, in arrival order
        self.interventions: list[dict] = []
        self.corrections: list[dict] = []
        self.update_seconds = 0.0
        # what arrives goes to these handlers; transitions reach the online buffer first, in ingest
        # (a bound method of self in here would keep a finished learner's buffers alive until the
        # cyclic garbage collector runs)
        self.handlers: dict[str, list[Callable]] = {s: [] for s in STREAMS}
        # an agent's own buffers (OGPO's successes): filled from the transitions, sampled into each
        # batch under their name once they hold `sample_after` rows
        self.extra = [(b.name, b.sample_after(agent.config)) for b in extra]
        for buffer in extra:
            self.on("transitions", buffer.make_sink(buffers[buffer.name]))
        self.on("metrics", self.episodes.extend)
        self.on("interventions", self.interventions.extend)
        self.on("corrections", self.corrections.extend)

    def on(self, stream: str, handler: Callable) -> None:
        """Call `handler` with what arrives on `stream`: each TransitionBatch for "transitions", the
        list of rows drained at once for the others."""
        self.handlers[stream].append(handler)

    @property
    def ready(self) -> bool:
        return len(self.buffers["online"]) >= self.config.start_after

    def ingest(self) -> int:
        """Hand everything actors sent to its stream's handlers; returns the transitions received."""
        received = self.link.drain()
        before = self.transitions
        for batch in received.get("transitions", []):
            for handler in [self._take_transitions, *self.handlers["transitions"]]:
                self._call(handler, "transitions", batch)
        for stream, items in received.items():
            if stream != "transitions" and items:
                for handler in self.handlers[stream]:
                    self._call(handler, stream, items)
        return self.transitions - before

    def _call(self, handler: Callable, stream: str, items) -> None:
        if self.quarantine is None:
            handler(items)
            return
        try:
            handler(items)
        except Exception as err:
            self.quarantine(stream, items, err)

    def _take_transitions(self, batch: TransitionBatch) -> None:
        self.buffers["online"].insert_batch(batch)
        self.transitions += len(batch)
        self.env_steps += int(batch.env_steps.sum())

    def sample(self):
        c = self.config
        batch = self.mixer.sample(c.utd_ratio * c.batch_size, self.rng)
        for name, rows in self.extra:
            if len(self.buffers[name]) >= rows:
                batch[name] = self.buffers[name].sample(c.batch_size, self.rng)
        return batch

    def update(self, batch=None) -> dict[str, float]:
        batch = self.sample() if batch is None else batch
        start = time.perf_counter()
        self.state, metrics = self.agent.update(self.state, batch)
        metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        self.update_seconds += time.perf_counter() - start
        self.updates += 1
        return metrics

    def maybe_publish(self, force: bool = False) -> bool:
        due = self.updates - max(self.published_version, 0) >= self.config.publish_every
        if force or self.published_version < 0 or due:
            self.link.publish(jax.device_get(self.agent.policy_params(self.state)), self.updates)
            self.published_version = self.updates
            return True
        return False
