"""The in-process link: both ends in one process (tests, single-process training); thread-safe."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from robokit.link.base import STREAMS, check_stream
from robokit.link.wire import check_rows
from robokit.types import TransitionBatch

if TYPE_CHECKING:
    from robokit.link.corrections import Correction


class InProcessLink:
    """Serves as the ActorLink and the LearnerLink at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, list[Any]] = {s: [] for s in STREAMS}
        self._params: tuple[int, Any] | None = None
        self._instruction: Correction | None = None
        self.said: list[Correction] = []
        self._controls: list[str] = []
        self.status: dict = {}
        self.view_sink = None  # as ZmqLearnerLink's: view_sink(actor, frames) while views_wanted()
        self.views_wanted = lambda: False

    def send(self, stream: str, items: Any) -> None:
        check_stream(stream)
        with self._lock:
            if stream == "transitions":
                if not isinstance(items, TransitionBatch):
                    raise TypeError("transitions are sent as one TransitionBatch (robokit.types).")
                self._queues[stream].append(items)
            else:  # the rows the zmq link would accept, no others: a bad row fails at its sender
                self._queues[stream].extend(check_rows(list(items), stream))

    def latest_params(self) -> tuple[int, Any] | None:
        with self._lock:
            return self._params

    def latest_instruction(self) -> Correction | None:
        with self._lock:
            return self._instruction

    def say(self, text: str, embedding, actor: int = -1, steps: int = 20) -> Correction:
        """An operator's correction, checked as the zmq learner checks one, for the actors here."""
        from robokit.link.corrections import read_correction, say_message  # it imports this package

        message = say_message(text, embedding, actor, steps)
        with self._lock:
            correction = read_correction(message, len(self.said))
            self.said.append(correction)
            self._instruction = correction
        return correction

    def control(self, actor: int, command: str, who: str = "") -> dict:
        """An operator's control (robokit.link.control) for the actor here (actor 0)."""
        from robokit.link.control import COMMANDS
        from robokit.link.wire import MessageError

        if command not in COMMANDS:
            raise MessageError(f"unknown control {command!r}: use one of {', '.join(COMMANDS)}")
        if actor != 0:
            raise MessageError(f"actor {actor} is not connected")
        with self._lock:
            self._controls.append(command)
        return {"t": "controlled", "actor": actor, "command": command}

    def take_controls(self) -> list[str]:
        with self._lock:
            taken, self._controls = self._controls, []
        return taken

    def report(self, status: dict, urgent: bool = False) -> None:
        self.status = status

    def view(self, frames: dict) -> None:
        if self.view_sink is not None and self.views_wanted():
            self.view_sink(0, frames)

    def actor_statuses(self) -> dict[int, dict]:
        return {0: {**self.status, "seen_s_ago": 0.0}} if self.status else {}

    def drain(self) -> dict[str, list[Any]]:
        with self._lock:
            out, self._queues = self._queues, {s: [] for s in STREAMS}
        return out

    def publish(self, params: Any, version: int) -> None:
        with self._lock:
            self._params = (version, params)
