"""What actors and the learner may say to each other, whatever carries it.

actor:   link.send("transitions", [t1, t2, ...]); params = link.latest_params()
learner: items = link.drain(); link.publish(params, version)
"""

from __future__ import annotations

from typing import Any, Protocol

STREAMS = ("transitions", "interventions", "metrics", "corrections")


class ActorLink(Protocol):
    def send(self, stream: str, items: list[Any]) -> None:
        """Queue items for the learner; never blocks the caller's control loop for long."""
        ...

    def latest_params(self) -> tuple[int, Any] | None:
        """The newest (version, params) published, or None before the first; never waits."""
        ...


class LearnerLink(Protocol):
    def drain(self) -> dict[str, list[Any]]:
        """Everything actors sent since the last drain, by stream."""
        ...

    def publish(self, params: Any, version: int) -> None: ...


def check_stream(stream: str) -> None:
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}: use one of {', '.join(STREAMS)}.")
