"""The learner end of the zmq link: a ROUTER socket served by one I/O thread.

The thread checks every message, appends accepted batches to the durable log, fsyncs, and only then
acknowledges them; `drain()` hands the checked batches to the learner loop. Batches are deduplicated
by (source, seq), where a source is one actor spool. Policy params go to each actor as soon as they
are published, at most one version in flight per actor (no queue of stale 40 MB copies).

No single message stops the thread: whatever handling one raises is answered with an error to its
sender and a rate-limited line, and the thread goes on. If the thread stops anyway (the log cannot
be written), `drain()` raises LinkFailed, so the training loop checkpoints and exits loudly instead
of serving nobody.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from robokit.data.durable import append_line_durably
from robokit.link import wire
from robokit.link.base import STREAMS, LinkFailed
from robokit.link.control import Controls, read_status
from robokit.link.corrections import (
    DELIVER_WITHIN_S,
    Correction,
    RateLimit,
    SaidLog,
    instruct_message,
    read_correction,
)
from robokit.link.durable_log import DurableLog, LogBroken
from robokit.link.events import EventLog
from robokit.link.keys import check_listen_address, secure_learner
from robokit.link.operator import read_seen
from robokit.types import EnvSpec

log = logging.getLogger("robokit.link")

#: most actor sessions kept; a hello beyond it forgets the longest-silent one (it re-handshakes)
MAX_SESSIONS = 256
#: a round of received messages stops after this long, so acks and pongs go out in time
ROUND_S = 0.05


@dataclass
class Session:
    actor: int
    source: int
    paced: bool
    last_seen: float
    start: int = -1  # the actor's acknowledged mark at its hello (a spool from an earlier run)
    address: str = "?"
    params_sent: int = -1
    params_sent_at: float = 0.0
    params_has: int = -1
    silent: bool = False
    said_has: int = -1  # the correction id the actor last reported (its ping's "said")
    said_sent: int = -1
    said_sent_at: float = 0.0
    status: dict | None = None  # what the actor last said it is doing (robokit.link.control)


def new_ledger(actor: int = -1) -> dict:
    """What one source delivered into the buffers (the audit's learner side)."""
    return {"actor": actor, "seq": -1, "batches": 0, "transitions": 0, "rows": 0, "duplicates": 0,
            "gaps": 0, "quarantined": 0, "lost": 0}  # fmt: skip


class ZmqLearnerLink:
    """LearnerLink over zmq. `applied` is {source: last seq in the buffers} from a checkpoint and
    `ledger` {source: new_ledger()} what those batches held; `agent_config` the agent config (or
    only its hash) actors must match, `reward` how episodes are rewarded ("simulator", or a
    classifier's fingerprint): an actor that differs in either is refused. Operators' corrections
    (robokit.link.corrections) are recorded in `said_log` (default log_dir/said.jsonl) and passed on
    to the actors they address."""

    def __init__(
        self,
        address: str,
        spec: EnvSpec,
        agent_config: Any,
        log_dir: Path,
        applied: dict[int, int] | None = None,
        keys: Path | None = None,
        silent_after_s: float = 5.0,
        reward: str = "simulator",
        ledger: dict[int, dict] | None = None,
        said_log: Path | None = None,
        frames: str = "raw frames",
    ):
        host, port = check_listen_address(address, keys)
        self.spec, self.silent_after_s, self.reward = spec, silent_after_s, reward
        self.frames = frames
        self.config_hash, self.config_fields = wire.agent_identity(agent_config)
        self.spec_wire = wire.spec_to_wire(spec)
        self._lock = threading.Lock()
        self._ready: dict[str, list] = {s: [] for s in STREAMS}
        self._ready_marks: list[tuple[int, int, str, int]] = []  # (source, seq, stream, rows)
        self.applied_in_buffers: dict[int, int] = dict(applied or {})
        self.ledger: dict[int, dict] = {int(k): {**new_ledger(), **v} for k, v in (ledger or {}).items()}
        for source, seq in self.applied_in_buffers.items():
            self.ledger.setdefault(source, new_ledger())["seq"] = seq
        self.accepted: dict[int, int] = dict(self.applied_in_buffers)  # logged, by source
        self._next_row = {s: entry["transitions"] for s, entry in self.ledger.items()}
        self.received_transitions = 0
        self.allowed_transitions: int | None = None
        self.rejected = 0
        self.failure: str | None = None
        self.sessions: dict[bytes, Session] = {}
        self._params: tuple[int, bytes] | None = None
        self._events = EventLog()
        self.log = DurableLog(log_dir)
        self.said = SaidLog(said_log or Path(log_dir) / "said.jsonl")
        self.controls_log = Path(log_dir) / "controls.jsonl"  # every control accepted, who and when
        self._corrections: list[tuple[Correction, float]] = []  # recent ones, with their arrival
        self._say_rate = RateLimit()
        self.controls = Controls()
        #: what a console in its own process is shown: watch({(actor, camera): seq seen}) -> {"state",
        #: "frames"} (robokit.console.hub.ConsoleHub.watch); None: this learner shows no console
        self.watch_source: Callable[[dict], dict] | None = None
        #: where actors' camera views go (view_sink(actor, {camera: frame}); an encoded actor's
        #: transitions carry no frames), and whether anyone looks at them now (told to actors)
        self.view_sink: Callable[[int, dict], None] | None = None
        self.views_wanted: Callable[[], bool] = lambda: False
        self._local_calls: queue.SimpleQueue = queue.SimpleQueue()  # (call, reply queue): console
        self._replay()
        self.context = zmq.Context()
        self.sock = self.context.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        self.authenticator = None
        if keys:
            report = lambda line: self._event("refused", line)  # noqa: E731
            self.authenticator = secure_learner(self.context, self.sock, keys, report)
        endpoint = f"tcp://{host}:{port if port else '*'}"
        try:
            self.sock.bind(endpoint)
        except zmq.ZMQError as err:
            self.close()
            raise OSError(f"cannot listen on {host}:{port} ({err}): pick a free port.") from None
        self.port = int(self.sock.getsockopt_string(zmq.LAST_ENDPOINT).rpartition(":")[2])
        self._running = True
        self._thread = threading.Thread(target=self._serve, name="link-learner", daemon=True)
        self._thread.start()

    # -- LearnerLink -------------------------------------------------------------------------------
    def drain(self) -> dict[str, list]:
        if self.failure is not None:
            raise LinkFailed(f"the link stopped receiving ({self.failure})")
        with self._lock:
            out, self._ready = self._ready, {s: [] for s in STREAMS}
            marks, self._ready_marks = self._ready_marks, []
            for source, seq, stream, rows in marks:
                self.applied_in_buffers[source] = max(self.applied_in_buffers.get(source, -1), seq)
                entry = self.ledger[source]
                entry["seq"] = max(entry["seq"], seq)
                if stream in STREAMS:  # not a quarantined or lost batch's mark
                    entry["batches"] += 1
                    entry["transitions" if stream == "transitions" else "rows"] += rows
        return out

    def publish(self, params, version: int) -> None:
        from flax import serialization

        data = serialization.msgpack_serialize(params)
        frame = wire.pack({"t": "params", "version": version, "data": data})
        with self._lock:
            self._params = (version, frame)

    # -- pacing, checkpoints, status ---------------------------------------------------------------
    def allow(self, transitions: int | None) -> None:
        """Ask paced actors to wait once this many transitions have arrived (None: never)."""
        self.allowed_transitions = transitions

    def ledger_snapshot(self) -> dict[int, dict]:
        """The ledger of what the buffers hold (as of the last drain), for a checkpoint."""
        with self._lock:
            return {source: dict(entry) for source, entry in self.ledger.items()}

    def checkpointed(self, applied: dict[int, int]) -> int:
        """A checkpoint now holds everything up to `applied`: delete the log segments it covers."""
        with self._lock:
            self.log.close()
            return self.log.drop_covered(applied)

    def events(self) -> list[str]:
        """Log lines since the last call (actors joining, refused, silent; rejected messages),
        rate-limited per kind."""
        with self._lock:
            return self._events.take()

    def close(self) -> None:
        self._running = False
        if getattr(self, "_thread", None) is not None:
            self._thread.join(timeout=5)
        with self._lock, contextlib.suppress(LogBroken):
            self.log.close()
        if self.authenticator is not None:
            self.authenticator.stop()
        self.sock.close(linger=0)
        self.context.term()

    # -- replay of the durable log -----------------------------------------------------------------
    def _replay(self) -> None:
        """Logged batches the checkpoint does not hold yet go to the first drain; one that cannot be
        applied (e.g. logged by a version that checked less) is quarantined, never a crash loop."""
        replayed = 0
        for source, seq, payload in self.log.replay():
            if seq <= self.accepted.get(source, -1):
                continue
            try:
                _, stream, data = wire.decode_batch(wire.unpack(payload), self.spec)
            except Exception as err:
                reason = str(err) if isinstance(err, wire.MessageError) else f"{type(err).__name__}: {err}"
                path = self.log.quarantine(source, seq, payload, reason)
                self._event(
                    "quarantine", f"quarantined logged batch {seq} of source {source} ({reason}): {path}"
                )
                self.accepted[source] = seq
                self._mark(source, seq, "quarantine", 0)
                self.ledger.setdefault(source, new_ledger())["quarantined"] += 1
                continue
            self._accept(source, seq, stream, data)
            replayed += 1
        if replayed:
            self._event("replay", f"replayed {replayed} logged batches the checkpoint did not hold")

    # -- the I/O thread ------------------------------------------------------------------------------
    def _accept(self, source: int, seq: int, stream: str, data) -> None:
        self.accepted[source] = seq
        rows = len(data)
        if stream == "transitions":
            # which actor spool, and where in its stream: buffers pair each one's frames and the
            # audit finds each transition's place
            first = self._next_row.get(source, 0)
            self._next_row[source] = first + rows
            data = dataclasses.replace(data, source=source, first_row=first)
        with self._lock:
            # transitions stay one TransitionBatch per message; other streams arrive as rows
            (self._ready[stream].append if stream == "transitions" else self._ready[stream].extend)(data)
        self._mark(source, seq, stream, rows)
        if stream == "transitions":
            self.received_transitions += rows

    def _mark(self, source: int, seq: int, stream: str, rows: int) -> None:
        with self._lock:
            self._ready_marks.append((source, seq, stream, rows))
            self.ledger.setdefault(source, new_ledger())

    def _serve(self) -> None:
        try:
            self._serve_forever()
        except BaseException as err:  # the thread must not die silently: drain() raises LinkFailed
            self.failure = f"{type(err).__name__}: {err}"
            log.critical("the link's I/O thread stopped", exc_info=True)

    def _serve_forever(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        last_check = 0.0
        while self._running:
            if poller.poll(5):
                acks = self._receive_round()
                self._send_acks(acks)
            self._take_local_calls()
            self._push_params()
            self._push_corrections()
            self._push_controls()
            now = time.monotonic()
            if now - last_check > 0.5:
                last_check = now
                self._check_silent(now)

    def _receive_round(self) -> dict[bytes, int]:
        """Handle the waiting messages (up to 1,000, or ROUND_S); accepted batches are logged and
        fsynced before the acknowledgements (returned, by identity) go out."""
        acks: dict[bytes, int] = {}
        logged = False
        deadline = time.monotonic() + ROUND_S
        for _ in range(1000):
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            logged |= self._receive(frames, acks)
            if time.monotonic() > deadline:
                break
        if logged:
            with self._lock:
                self.log.sync()
        return acks

    def _receive(self, frames: list, acks: dict[bytes, int]) -> bool:
        """One message, whatever it holds: True if it was logged. Only a broken log gets out."""
        identity = frames[0].bytes if frames else None
        if len(frames) != 2:
            self._reject(identity, None, f"{len(frames) - 1} frames, expected 1")
            return False
        try:
            address = frames[1].get("Peer-Address")
        except (zmq.ZMQError, UnicodeDecodeError):
            address = "?"
        frame = frames[1].bytes
        try:
            if identity not in self.sessions and len(frame) > wire.MAX_HANDSHAKE_BYTES:
                # never decoded: before a hello only a small message is read (a restarted learner
                # asks a known actor to say hello again)
                self._reject(identity, address, f"{len(frame)} bytes before a handshake", reply="hello?")
                return False
            return self._handle(identity, address, wire.unpack(frame), frame, acks)
        except wire.MessageError as err:
            self._reject(identity, address, str(err))
        except LogBroken:
            raise
        except Exception as err:
            log.debug("handling a message raised", exc_info=True)
            self._reject(identity, address, f"the learner could not handle it ({type(err).__name__})")
        return False

    def _handle(self, identity: bytes, address: str, message: dict, frame: bytes, acks: dict) -> bool:
        kind = message["t"]
        if kind == "hello":
            self._hello(identity, address, message)
            return False
        if kind in ("say", "control", "watch"):  # an operator: no handshake, only its keys
            self._operator(identity, address, message)
            return False
        session = self.sessions.get(identity)
        if session is None:  # e.g. this learner restarted under a connected actor: ask for a hello
            self._send(identity, {"t": "hello?", "reason": f"{wire.short(kind, 20)} before a handshake"})
            return False
        session.last_seen = time.monotonic()
        if session.silent:
            session.silent = False
            self._event("back", f"actor {session.actor} is back")
        if kind == "ping":
            session.params_has = wire.field(message, "version", int)
            said = message.get("said", -1)
            if isinstance(said, int) and not isinstance(said, bool):
                session.said_has = said
            pong = {"t": "pong", "hold": self._hold(), "acked": self._acked(session)}
            self._send(identity, {**pong, "view": self.view_sink is not None and bool(self.views_wanted())})
            if "status" in message:  # checked after the pong: a bad status is no missed heartbeat
                session.status = read_status(message["status"])
                if "control" in session.status:
                    self.controls.acknowledged(session.actor, session.status["control"])
            return False
        if kind == "view":  # camera frames for the console alone: never logged, never acknowledged
            views = wire.decode_view(message)
            if self.view_sink is not None:
                self.view_sink(session.actor, views)
            return False
        if kind != "batch":
            raise wire.MessageError(f"unknown message type {wire.short(kind, 20)}")
        seq, stream, data = wire.decode_batch(message, self.spec)
        acks[identity] = session.source
        expected = self._acked(session) + 1
        if seq != expected:  # a duplicate (acknowledged again) or a gap (the actor resends)
            with self._lock:
                entry = self.ledger.setdefault(session.source, new_ledger(session.actor))
                entry["duplicates" if seq < expected else "gaps"] += 1
            return False
        with self._lock:
            self.log.append(session.source, seq, frame)
            self.ledger.setdefault(session.source, new_ledger())["actor"] = session.actor
        self._accept(session.source, seq, stream, data)
        return True

    def _acked(self, session: Session) -> int:
        return self.accepted.get(session.source, session.start)

    def _hello(self, identity: bytes, address: str, message: dict) -> None:
        actor = wire.identifier(message, "actor")
        source = wire.identifier(message, "source")
        reason = self._refusal(identity, actor, source, message)
        if reason is not None:
            self._event("refused", f"refused actor {actor} at {address}: {reason}")
            self._send(identity, {"t": "refused", "reason": reason})
            return
        start = message.get("acked", -1)
        # a spool this run has never seen (e.g. an actor's spool kept from an earlier run): its
        # batches up to the actor's own acknowledged mark went to that run, not to this one
        start = (
            start
            if isinstance(start, int) and not isinstance(start, bool) and -1 <= start < wire.MAX_ID
            else -1
        )
        known = self.accepted.get(source)
        if known is not None and start > known:
            # the actor holds acknowledgements this learner's state does not (its log was deleted,
            # or an older checkpoint restored): those batches are gone; say so, count them, go on
            self._event(
                "lost",
                f"actor {actor}'s batches {known + 1}..{start} were acknowledged by a learner state "
                "that is gone: they are lost",
            )
            self.accepted[source] = start
            self._mark(source, start, "lost", 0)
            with self._lock:
                self.ledger[source]["lost"] += start - known
        for other_identity in [i for i, s in self.sessions.items() if s.source == source]:
            del self.sessions[other_identity]  # the same actor, reconnected on a new socket
        if len(self.sessions) >= MAX_SESSIONS:  # forget the longest-silent (it says hello again)
            del self.sessions[min(self.sessions, key=lambda i: self.sessions[i].last_seen)]
        session = Session(actor, source, bool(message.get("paced")), time.monotonic(), start, address)
        self.sessions[identity] = session
        if source in self.ledger:
            self.ledger[source]["actor"] = actor
        self._event("connected", f"actor {actor} connected from {address}")
        self._send(identity, {"t": "welcome", "acked": self._acked(session), "hold": self._hold()})

    def _refusal(self, identity: bytes, actor: int, source: int, message: dict) -> str | None:
        """Why an actor's hello is refused (one sentence that names the fix), or None."""
        if message.get("protocol") != wire.PROTOCOL:
            return (
                f"the actor speaks link protocol {wire.short(message.get('protocol'), 20)}, the learner "
                f"{wire.PROTOCOL}: install the same robokit version on both machines"
            )
        difference = wire.spec_difference(message.get("spec"), self.spec_wire)
        if difference:
            return f"{difference}: start the actor with the learner's --env and camera size"
        if message.get("config_hash") != self.config_hash:
            theirs = message.get("config")
            difference = wire.config_difference(theirs, self.config_fields)
            return (
                f"the actor's agent config differs from the learner's ({difference}): start the actor "
                "with the learner's agent options"
            )
        if message.get("reward", "simulator") != self.reward:
            return (
                f"the actor rewards episodes by {wire.short(message.get('reward'), 60)}, the learner by "
                f"{self.reward}: start the actor with the learner's --reward-classifier (or task classifier)"
            )
        if message.get("frames", "raw frames") != self.frames:
            return (
                f"the actor's policy reads {wire.short(message.get('frames'), 60)}, the learner's "
                f"{self.frames}: start the actor with the learner's --encoder"
            )
        now = time.monotonic()
        for other_identity, other in self.sessions.items():
            live = now - other.last_seen < self.silent_after_s
            if other.actor == actor and other_identity != identity and other.source != source and live:
                return f"actor id {actor} is already connected: give each actor its own --actor-id"
        return None

    def _send_acks(self, acks: dict[bytes, int]) -> None:
        hold = self._hold()
        for identity in acks:
            session = self.sessions.get(identity)
            if session is not None:
                self._send(identity, {"t": "ack", "acked": self._acked(session), "hold": hold})

    def _push_params(self) -> None:
        if self._params is None:
            return
        version, frame = self._params
        now = time.monotonic()
        for identity, session in self.sessions.items():
            if session.params_has >= version or session.silent:
                continue
            # one version in flight per actor; resend if the actor has not reported it within 2 s
            arrived = session.params_sent <= session.params_has
            if session.params_sent < version and (arrived or now - session.params_sent_at > 2.0):
                self._send_frame(identity, frame)
                session.params_sent, session.params_sent_at = version, now

    def actor_of(self, source: int) -> int | None:
        """The actor id of the session whose spool is `source` (None: none connected with it)."""
        return next((s.actor for s in list(self.sessions.values()) if s.source == source), None)

    def corrections(self) -> list[dict]:
        """Every correction accepted in this run (the said log's records, oldest first)."""
        with self._lock:
            return list(self.said.records)

    def say(self, message: dict, who: str, timeout_s: float = 5.0) -> dict:
        """A correction said in this process (the operator console), checked, recorded and pushed
        exactly as one from `robokit say`; returns {"id", "actors"}, or raises MessageError with
        the reason."""
        return self._call_in_thread(lambda: self._say(None, who, message), who, timeout_s)

    def control(self, actor: int, command: str, who: str, timeout_s: float = 5.0) -> dict:
        """Pause, resume or stop actor `actor`, or label its episode under way (robokit.link.control);
        returns {"id", "connected"}, or raises MessageError with the reason."""
        return self._call_in_thread(lambda: self._control(actor, command, who), who, timeout_s)

    def actor_statuses(self) -> dict[int, dict]:
        """{actor id: what it last said it is doing, with "seen_s_ago"} for the connected actors."""
        now = time.monotonic()
        return {
            s.actor: {**(s.status or {}), "seen_s_ago": round(now - s.last_seen, 2)}
            for s in list(self.sessions.values())
        }

    def _call_in_thread(self, call, who: str, timeout_s: float) -> dict:
        reply: queue.SimpleQueue = queue.SimpleQueue()
        self._local_calls.put((call, who, reply))
        try:
            answer = reply.get(timeout=timeout_s)
        except queue.Empty:
            raise wire.MessageError(f"the learner's link did not answer within {timeout_s:g} s") from None
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _take_local_calls(self) -> None:
        while True:
            try:
                call, who, reply = self._local_calls.get_nowait()
            except queue.Empty:
                return
            try:
                reply.put(call())
            except wire.MessageError as err:
                self._reject(None, who, str(err))
                reply.put(err)

    def _operator(self, identity: bytes, address: str, message: dict) -> None:
        """A say, control or watch from an operator (`robokit say`, `robokit console`), answered."""
        kind = message["t"]
        if kind == "say":
            self._say(identity, address, message)
        elif kind == "control":
            actor, command = wire.identifier(message, "actor"), message.get("command")
            self._send(identity, self._control(actor, command, address))
        else:
            if self.watch_source is None:
                raise wire.MessageError("this learner shows no console (it is not a training run's)")
            shown = self.watch_source(read_seen(message.get("seen")))
            self._send(identity, {"t": "watched", **shown})

    def _control(self, actor: int, command: str, who: str) -> dict:
        if not any(s.actor == actor for s in self.sessions.values()):
            raise wire.MessageError(f"actor {actor} is not connected")
        control_id = self.controls.add(actor, command)
        record = {"id": control_id, "actor": actor, "command": command, "who": who, "time": time.time()}
        append_line_durably(self.controls_log, json.dumps(record))  # on disk before it is sent
        self._event("control", f"{command} for actor {actor} from {who} (control {control_id})")
        return {"t": "controlled", "id": control_id, "actor": actor, "command": command}

    def _say(self, identity: bytes | None, address: str, message: dict) -> dict:
        if not self._say_rate.allow():
            raise wire.MessageError("too many corrections: say at most 5 a second")
        correction = read_correction(message, self.said.next_id)
        with self._lock:
            self.said.append(correction)  # on disk before anyone hears of it
        self._corrections = [*self._corrections[-63:], (correction, time.monotonic())]
        now = time.monotonic()
        reached = [
            s for s in self.sessions.values()
            if correction.actor in (-1, s.actor) and now - s.last_seen < self.silent_after_s
        ]  # fmt: skip
        self._event("said", f"correction {correction.id} from {address}: {correction.text!r}")
        answer = {"t": "said", "id": correction.id, "actors": len(reached)}
        if identity is not None:
            self._send(identity, answer)
        return answer

    def _push_corrections(self) -> None:
        """Each live actor gets the newest fresh correction addressed to it, resent every 0.5 s
        until its ping reports it."""
        if not self._corrections:
            return
        now = time.monotonic()
        for identity, session in self.sessions.items():
            newest = next((c for c in reversed(self._corrections) if c[0].actor in (-1, session.actor)), None)
            if session.silent or newest is None:
                continue
            correction, arrived_at = newest
            if session.said_has == correction.id or now - arrived_at > DELIVER_WITHIN_S:
                continue
            if session.said_sent != correction.id or now - session.said_sent_at > 0.5:
                self._send(identity, instruct_message(correction))
                session.said_sent, session.said_sent_at = correction.id, now

    def _push_controls(self) -> None:
        if not self.controls.pending:
            return
        now = time.monotonic()
        for identity, session in self.sessions.items():
            if not session.silent:
                for message in self.controls.due(session.actor, now):
                    self._send(identity, message)

    def _check_silent(self, now: float) -> None:
        for session in self.sessions.values():
            if not session.silent and now - session.last_seen > self.silent_after_s:
                session.silent = True
                self._event("silent", f"actor {session.actor} silent for {now - session.last_seen:.1f} s")

    def _hold(self) -> bool:
        allowed = self.allowed_transitions
        return allowed is not None and self.received_transitions >= allowed

    def _reject(self, identity: bytes | None, address: str | None, reason: str, reply: str = "error") -> None:
        self.rejected += 1
        self._event(
            "rejected", f"rejected a message from {address or '?'} ({self.rejected} so far): {reason}"
        )
        if identity is not None:
            self._send(identity, {"t": reply, "reason": reason})

    def _send(self, identity: bytes, message: dict) -> None:
        self._send_frame(identity, wire.pack(message))

    def _send_frame(self, identity: bytes, frame: bytes) -> None:
        # a peer that is gone or whose queue is full misses it: heartbeats and resends recover
        with contextlib.suppress(zmq.ZMQError):
            self.sock.send_multipart([identity, frame], zmq.NOBLOCK, copy=False)

    def _event(self, kind: str, text: str) -> None:
        with self._lock:
            self._events.add(kind, text)
