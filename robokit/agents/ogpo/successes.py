"""The success buffer that OGPO's flow-matching term reads: transitions of episodes that succeeded.

Transitions arrive from several actors, each in its own order; each source's episode is held until
it ends. An episode succeeded when it *terminated*: robokit tasks end an episode only on success
(terminate_on_success), and a reward classifier ends it on its verdict, so this is success as the
run's own reward sees it, on the real arm too. A truncated episode (time limit) is dropped.
"""

from __future__ import annotations

import numpy as np

from robokit.data.replay import ReplayBuffer
from robokit.types import TransitionBatch


class SuccessfulEpisodes:
    """A transitions-stream sink: call it with each TransitionBatch that arrives."""

    def __init__(self, buffer: ReplayBuffer):
        self.buffer = buffer
        self.pending: dict[int, list[TransitionBatch]] = {}

    def __call__(self, batch: TransitionBatch) -> None:
        start = 0
        for end in np.flatnonzero(batch.terminated | batch.truncated):
            self.pending.setdefault(batch.source, []).append(batch.take(np.arange(start, end + 1)))
            episode = self.pending.pop(batch.source)
            if batch.terminated[end]:
                for part in episode:
                    self.buffer.insert_batch(part)
            start = end + 1
        if start < len(batch):
            self.pending.setdefault(batch.source, []).append(batch.take(np.arange(start, len(batch))))
