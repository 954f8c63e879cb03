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
from robokit.link.base import LearnerLink
from robokit.link.wire import transition_rows


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
        self.mixer = Mixer(buffers, ratios)
        self.rng = np.random.default_rng(seed)
        self.updates = 0
        self.env_steps = 0
        self.published_version = -1
        self.episodes: list[dict] = []  # metrics of finished episodes, in arrival order
        self.update_seconds = 0.0

    @property
    def ready(self) -> bool:
        return len(self.buffers["online"]) >= self.config.start_after

    def ingest(self) -> int:
        """Move everything actors sent into the online buffer; returns the transitions received."""
        received = self.link.drain()
        online = self.buffers["online"]
        count = 0
        for t in received["transitions"]:
            if "obs_index" in t:  # a checked column batch from a network link
                for row in transition_rows(t):
                    online.insert(*row)
                    count += 1
            else:
                online.insert(
                    t["observations"],
                    t["actions"],
                    t["rewards"],
                    t["terminated"],
                    t["truncated"],
                    t["next_observations"],
                )
                count += 1
        self.env_steps += count
        self.episodes.extend(received["metrics"])
        return count

    def sample(self):
        c = self.config
        return self.mixer.sample(c.utd_ratio * c.batch_size, self.rng)

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
