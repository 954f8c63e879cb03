"""The corrections channel: an operator's instruction on its way to the actors, and its record.

    operator -> learner   say {text, embedding, actor, steps}     `robokit say`, the console
    learner -> operator   said {id, actors} | error {reason}       after the record is on disk
    learner -> actor      instruct {id, text, embedding, steps}    resent until the actor's ping has it
    actor -> learner      ping {version, said}; a "corrections" row once it acts on it

The sender embeds the text (robokit.language.encoder), so neither the learner nor an actor runs the
encoder; the learner checks text and embedding, rate-limits says, gives each an id, appends it to
its said log (fsynced) and only then answers. An actor runs the newest instruction addressed to it
(`actor` -1: every actor) for `steps` control steps; one that reaches an actor more than
DELIVER_WITHIN_S after it was said is dropped (a late "go left" would be wrong by then).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robokit.language.encoder import EMBEDDING_DIM, check_embedding, check_text
from robokit.link.wire import MAX_ID, MessageError

MAX_STEPS = 10_000
DELIVER_WITHIN_S = 5.0
#: a person says at most a few things a second; more from all senders together is refused
SAYS_PER_S, SAY_BURST = 5.0, 10


@dataclass(frozen=True)
class Correction:
    id: int
    text: str
    embedding: np.ndarray = field(repr=False)
    steps: int
    actor: int = -1  # -1: every actor
    said_at: float = 0.0  # time.time() at the learner


def say_message(text: str, embedding: np.ndarray, actor: int = -1, steps: int = 20) -> dict:
    vector = np.asarray(embedding, dtype="<f4")
    return {"t": "say", "text": text, "embedding": vector.tobytes(), "actor": actor, "steps": steps}


def instruct_message(correction: Correction) -> dict:
    return {
        "t": "instruct",
        "id": correction.id,
        "text": correction.text,
        "embedding": np.asarray(correction.embedding, dtype="<f4").tobytes(),
        "steps": correction.steps,
    }


def read_correction(message: dict, correction_id: int | None = None) -> Correction:
    """The Correction a say (given the id the learner assigns) or an instruct message carries;
    MessageError naming what is wrong."""
    try:
        text = check_text(message.get("text"))
        raw = message.get("embedding")
        if not isinstance(raw, bytes) or len(raw) != 4 * EMBEDDING_DIM:
            raise ValueError(f"an instruction embedding must be {EMBEDDING_DIM} float32 values")
        embedding = check_embedding(np.frombuffer(raw, dtype="<f4").astype(np.float32))
    except ValueError as err:
        raise MessageError(str(err)) from None
    steps = message.get("steps")
    if not _is_int(steps) or not 1 <= steps <= MAX_STEPS:
        raise MessageError(f"steps must be a whole number from 1 to {MAX_STEPS}")
    actor = message.get("actor", -1)
    if not _is_int(actor) or not -1 <= actor < MAX_ID:
        raise MessageError("actor must be an actor id, or -1 for every actor")
    if correction_id is None:
        correction_id = message.get("id")
        if not _is_int(correction_id) or not 0 <= correction_id < MAX_ID:
            raise MessageError("an instruction's id must be a whole number")
    return Correction(correction_id, text, embedding, steps, actor, time.time())


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class RateLimit:
    """A token bucket: `rate` per second on average, bursts of `burst`."""

    def __init__(self, rate: float = SAYS_PER_S, burst: int = SAY_BURST):
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class SaidLog:
    """Every correction the learner accepted, one JSON line each, fsynced before it is answered;
    ids go on from the last line after a restart. A torn last line (a kill mid-write) is skipped."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records = [self._brief(r) for r in self.read(self.path)]
        self.next_id = max((r["id"] for r in self.records), default=-1) + 1

    @staticmethod
    def read(path: Path) -> list[dict]:
        if not Path(path).exists():
            return []
        records = []
        for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and _is_int(record.get("id")):
                records.append(record)
        return records

    @staticmethod
    def _brief(record: dict) -> dict:
        """A record without its embedding: what stays in memory (the file keeps the whole)."""
        return {k: v for k, v in record.items() if k != "embedding"}

    def append(self, correction: Correction) -> None:
        record = {
            "id": correction.id,
            "text": correction.text,
            "actor": correction.actor,
            "steps": correction.steps,
            "time": correction.said_at,
            "embedding": [round(float(v), 7) for v in correction.embedding],
        }
        from robokit.data.durable import append_line_durably

        append_line_durably(self.path, json.dumps(record, ensure_ascii=False))
        self.records.append(self._brief(record))
        self.next_id = max(self.next_id, correction.id + 1)


def send_correction(address: str, keys: Path | None, message: dict, timeout_s: float = 5.0) -> dict:
    """Say one correction (a say_message) to the learner at HOST:PORT, with an actor keys folder
    when the learner uses keys; its "said" reply. One sentence when it is refused or not answered."""
    from robokit.link import wire
    from robokit.link.operator import request

    reply = request(address, keys, message, timeout_s)
    if reply.get("t") == "said" and _is_int(reply.get("id")):
        return reply
    raise ValueError(f"the learner refused the correction: {wire.short(reply.get('reason'), 200)}")
