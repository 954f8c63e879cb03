"""The success buffer that OGPO's flow-matching term reads: transitions of episodes that succeeded.

Transitions arrive from several actors, each in its own order; each source's episode is held until
it ends. An episode succeeded when it *terminated*: robokit tasks end an episode only on success
(terminate_on_success), and a reward classifier ends it on its verdict, so this is success as the
run's own reward sees it, on the real arm too. A truncated episode (time limit) is dropped.
"""

from __future__ import annotations

from robokit.data.replay import ReplayBuffer


class SuccessfulEpisodes:
    def __init__(self, buffer: ReplayBuffer):
        self.buffer = buffer
        self.pending: dict[int, list[tuple]] = {}

    def add(self, source: int, row: tuple) -> None:
        """One (obs, action, reward, terminated, truncated, next_obs) row of `source`'s stream."""
        episode = self.pending.setdefault(source, [])
        episode.append(row)
        terminated, truncated = row[3], row[4]
        if terminated:
            for done in episode:
                self.buffer.insert(*done)
        if terminated or truncated:
            self.pending[source] = []
