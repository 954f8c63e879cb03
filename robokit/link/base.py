"""What actors and the learner may say to each other, whatever carries it.

actor:   link.send("transitions", batch); link.send("metrics", [row, ...]); link.latest_params()
learner: items = link.drain(); link.publish(params, version)

Transitions travel as one robokit.types.TransitionBatch per send, whatever the link; every other
stream as a list of rows (maps of numbers, bools and short text).
"""

from __future__ import annotations

from typing import Any, Protocol

STREAMS = ("transitions", "interventions", "metrics", "corrections")

#: the fields every row of a row stream must hold ("count": an int >= 0, "number": a finite int or
#: float, "bool", "text": a short string); a row may hold more fields (numbers, bools, short text).
#: Both links check rows against these before a learner sees them.
ROW_FIELDS: dict[str, dict[str, str]] = {
    "metrics": {
        "actor": "count",
        "episode_return": "number",
        "episode_length": "count",
        "success": "bool",
        "time": "number",
    },
    "interventions": {"actor": "count", "time": "number"},
    "corrections": {"actor": "count", "time": "number", "text": "text"},
}


class ActorLink(Protocol):
    def send(self, stream: str, items: Any) -> None:
        """Queue a TransitionBatch ("transitions") or a list of rows for the learner; never blocks
        the caller's control loop for long."""
        ...

    def latest_params(self) -> tuple[int, Any] | None:
        """The newest (version, params) published, or None before the first; never waits."""
        ...


class LearnerLink(Protocol):
    def drain(self) -> dict[str, list[Any]]:
        """Everything actors sent since the last drain, by stream: a list of TransitionBatch for
        "transitions" (each with its sender as `source`), rows for the others."""
        ...

    def publish(self, params: Any, version: int) -> None: ...


class ServingLearnerLink(LearnerLink, Protocol):
    """A LearnerLink that actors in other processes reach (zmq): what a training run also uses."""

    port: int
    received_transitions: int
    applied_in_buffers: dict[int, int]

    def allow(self, transitions: int | None) -> None:
        """Ask paced actors to wait once this many transitions have arrived (None: never)."""
        ...

    def events(self) -> list[str]:
        """Lines about actors connecting, going silent, being refused, since the last call."""
        ...

    def ledger_snapshot(self) -> dict[int, dict]:
        """{source: what its batches delivered to the buffers}, for a checkpoint and the audit."""
        ...

    def checkpointed(self, applied: dict[int, int]) -> int:
        """The buffers now hold `applied` {source: seq} on disk: the log before it may go."""
        ...

    def close(self) -> None: ...


class LinkFailed(RuntimeError):
    """A learner link stopped receiving (its I/O thread died): nothing more is acknowledged."""


def check_stream(stream: str) -> None:
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}: use one of {', '.join(STREAMS)}.")
