"""The order of reset-free episodes: forward, backward, forward, ..., objects placed only once.
(The recipe and `robokit record --alternate` share it; it imports nothing.)"""

from __future__ import annotations

DIRECTIONS = ("forward", "backward")


class Alternation:
    """Forward, backward, forward, ...: the direction of each episode and its reset options. Only
    the very first reset places the objects; every later one keeps them where they are."""

    def __init__(self) -> None:
        self.episodes = 0

    def next_episode(self) -> tuple[str, dict]:
        direction = DIRECTIONS[self.episodes % len(DIRECTIONS)]
        options = {"direction": direction, "keep_objects": self.episodes > 0}
        self.episodes += 1
        return direction, options
