"""The control channel: an operator pauses, resumes or stops one actor, or labels its episode under
way, and sees what each actor is doing.

    operator -> learner   link.control(actor, command, who)          the console, in the learner
    learner -> actor      control {id, command}                       resent every 0.5 s until acked
    actor -> learner      ping {..., control: id, status: {...}}      the newest control it took,
                                                                      and what it is doing now

Commands (COMMANDS): "pause" (stop stepping at the next control step; a real arm holds its pose, as
while the learner is lost: its driver keeps the last command), "resume", "stop" (end cleanly: the
spool is flushed, the process exits 0 and is not restarted), "success" / "failure" (the operator's
label for the episode under way, from this step on: robokit.rewards.labels_log).

Control ids grow with the learner's clock (milliseconds), so a restarted learner's controls are
never mistaken for ones an actor already took. A control that has not reached its actor within
DELIVER_WITHIN_S is dropped (a late "stop" would surprise; the page shows it was not acknowledged).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from robokit.link.wire import MAX_ID, MessageError, short

COMMANDS = ("pause", "resume", "stop", "success", "failure")
DELIVER_WITHIN_S = 5.0
RESEND_EVERY_S = 0.5
MAX_PENDING = 16  # per actor; an operator clicks a few times a second at most
#: what an actor's status may hold: name -> kind ("bool", "count", "text")
STATUS_FIELDS = {
    "paused": "bool",
    "stopping": "bool",
    "episode": "count",
    "step": "count",
    "instruction": "text",
    "label": "text",
    "waiting": "bool",  # a claimed success waits for the operator's verdict
    "control": "count",
}
MAX_STATUS_TEXT = 200


def control_message(control_id: int, command: str) -> dict:
    return {"t": "control", "id": control_id, "command": command}


def read_control(message: dict) -> tuple[int, str]:
    """(id, command) of a control message; MessageError naming what is wrong."""
    control_id, command = message.get("id"), message.get("command")
    if not _is_int(control_id) or not 0 <= control_id < MAX_ID:
        raise MessageError("a control's id must be a whole number from 0 to 2**62 - 1")
    if command not in COMMANDS:
        raise MessageError(f"unknown control {short(command, 20)}: use one of {', '.join(COMMANDS)}")
    return control_id, command


def read_status(value) -> dict:
    """An actor's status as its ping carries it, checked field by field (unknown fields dropped)."""
    if not isinstance(value, dict) or len(value) > 2 * len(STATUS_FIELDS):
        raise MessageError("an actor's status is not a small map")
    status = {}
    for name, kind in STATUS_FIELDS.items():
        if name not in value or value[name] is None:
            continue
        item = value[name]
        if not _KINDS[kind](item):
            raise MessageError(f"status field {name!r} is {short(item, 30)}, expected {kind}")
        status[name] = item
    return status


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_KINDS = {
    "bool": lambda v: isinstance(v, bool),
    "count": lambda v: _is_int(v) and 0 <= v < MAX_ID,
    "text": lambda v: isinstance(v, str) and len(v) <= MAX_STATUS_TEXT,
}


@dataclass
class Pending:
    id: int
    command: str
    at: float  # time.monotonic() when it was given
    sent_at: float = 0.0


@dataclass
class Controls:
    """The learner's controls on their way, per actor id: each resent every RESEND_EVERY_S, in
    order, until the actor's ping acknowledges its id, or dropped after DELIVER_WITHIN_S."""

    pending: dict[int, list[Pending]] = field(default_factory=dict)
    last_id: int = -1

    def add(self, actor: int, command: str) -> int:
        if command not in COMMANDS:
            raise MessageError(f"unknown control {short(command, 20)}: use one of {', '.join(COMMANDS)}")
        self.last_id = max(self.last_id + 1, int(time.time() * 1000))
        queue = self.pending.setdefault(actor, [])
        if len(queue) >= MAX_PENDING:
            raise MessageError(f"actor {actor} has {MAX_PENDING} controls it has not acknowledged yet")
        queue.append(Pending(self.last_id, command, time.monotonic()))
        return self.last_id

    def acknowledged(self, actor: int, control_id: int) -> None:
        queue = self.pending.get(actor)
        if queue:
            self.pending[actor] = [p for p in queue if p.id > control_id]

    def due(self, actor: int, now: float) -> list[dict]:
        """The control messages to send `actor` now (not sent within RESEND_EVERY_S), oldest first."""
        queue = [p for p in self.pending.get(actor, []) if now - p.at <= DELIVER_WITHIN_S]
        self.pending[actor] = queue
        if not queue or now - queue[0].sent_at < RESEND_EVERY_S:
            return []
        for p in queue:
            p.sent_at = now
        return [control_message(p.id, p.command) for p in queue]
