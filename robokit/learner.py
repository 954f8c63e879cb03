"""The learner loop: take in what actors send, update the agent, publish its policy.

learner = Learner(agent, state, buffers={"online": ..., "demos": ...}, ratios=..., link=link)
while running:
    learner.ingest()                 # transitions and metrics from every actor
    if learner.ready:
        metrics = learner.update()   # one jitted call: utd_ratio critic updates + actor step
    learner.maybe_publish()
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import numpy as np

from robokit.data.mixer import Mixer
from robokit.data.replay import ReplayBuffer
from robokit.data.successes import SuccessfulEpisodes
from robokit.link.base import LearnerLink
from robokit.link.wire import transition_rows

#: a transition dict's fields in ReplayBuffer.insert's order
ROW_KEYS = ("observations", "actions", "rewards", "terminated", "truncated", "next_observations")


@dataclass(frozen=True)
class LearnerConfig:
    start_after: int = 1000
    """Online transitions to collect (from the random policy) before updates start."""
    publish_every: int = 10
    """Publish policy params every this many updates."""
    batch_size: int = 256
    utd_ratio: int = 1
    success_after: int | None = None
    """With a "successes" buffer (OGPO): each batch also carries batch_size of its transitions as
    batch["successes"] once it holds this many."""


class Learner:
    def __init__(
        self,
        agent,
        state,
        buffers: dict[str, ReplayBuffer],
        ratios: dict[str, float],
        link: LearnerLink,
        config: LearnerConfig,
        seed: int = 0,
    ):
        self.agent, self.state, self.link, self.config = agent, state, link, config
        self.buffers = buffers
        self.mixer = Mixer({k: buffers[k] for k in ratios}, ratios)
        self.successes = SuccessfulEpisodes(buffers["successes"]) if "successes" in buffers else None
        self.rng = np.random.default_rng(seed)
        self.updates = 0
        self.env_steps = 0  # env steps (an action chunk's transition stands for several)
        self.transitions = 0
        self.published_version = -1
        self.episodes: list[dict] = []  # metrics of finished episodes, in arrival order
        self.update_seconds = 0.0

    @property
    def ready(self) -> bool:
        return len(self.buffers["online"]) >= self.config.start_after

    def ingest(self) -> int:
        """Move everything actors sent into the online buffer (and, with a success buffer, each
        successful episode into it); returns the transitions received."""
        received = self.link.drain()
        count = 0
        for t in received["transitions"]:
            if "obs_index" in t:  # a checked column batch from a network link, from one source
                for row in transition_rows(t):
                    self._insert(t.get("source", 0), row)
                self.env_steps += int(t["steps"].sum())
                count += len(t["obs_index"])
            else:
                self._insert(0, tuple(t[k] for k in ROW_KEYS))
                self.env_steps += int(t.get("steps", 1))
                count += 1
        self.transitions += count
        self.episodes.extend(received["metrics"])
        return count

    def _insert(self, source: int, row: tuple) -> None:
        self.buffers["online"].insert(*row)
        if self.successes is not None:
            self.successes.add(source, row)

    def sample(self):
        c = self.config
        batch = self.mixer.sample(c.utd_ratio * c.batch_size, self.rng)
        successes = self.buffers.get("successes")
        if successes is not None and c.success_after is not None and len(successes) >= c.success_after:
            batch["successes"] = successes.sample(c.batch_size, self.rng)
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
