"""The learner end of the zmq link: a ROUTER socket served by one I/O thread.

The thread checks every message, appends accepted batches to the durable log, fsyncs, and only then
acknowledges them; `drain()` hands the checked batches to the learner loop. Batches are deduplicated
by (source, seq), where a source is one actor spool. Policy params go to each actor as soon as they
are published, at most one version in flight per actor (no queue of stale 40 MB copies).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import zmq

from robokit.link import wire
from robokit.link.base import STREAMS
from robokit.link.durable_log import DurableLog
from robokit.link.keys import check_listen_address, secure_learner
from robokit.types import EnvSpec

log = logging.getLogger("robokit.link")


@dataclass
class Session:
    actor: int
    source: int
    paced: bool
    last_seen: float
    params_sent: int = -1
    params_sent_at: float = 0.0
    params_has: int = -1
    silent: bool = False


class ZmqLearnerLink:
    """LearnerLink over zmq. `applied` is {source: last seq in the buffers} from a checkpoint."""

    def __init__(
        self,
        address: str,
        spec: EnvSpec,
        config_hash: str,
        log_dir: Path,
        applied: dict[int, int] | None = None,
        keys: Path | None = None,
        silent_after_s: float = 5.0,
    ):
        host, port = check_listen_address(address, keys)
        self.spec, self.config_hash, self.silent_after_s = spec, config_hash, silent_after_s
        self.spec_wire = wire.spec_to_wire(spec)
        self._lock = threading.Lock()
        self._ready: dict[str, list] = {s: [] for s in STREAMS}
        self._ready_marks: dict[int, int] = {}
        self.applied_in_buffers: dict[int, int] = dict(applied or {})
        self.accepted: dict[int, int] = dict(self.applied_in_buffers)  # logged, by source
        self.received_transitions = 0
        self.allowed_transitions: int | None = None
        self.rejected = 0
        self.sessions: dict[bytes, Session] = {}
        self._params: tuple[int, bytes] | None = None
        self._events: deque[str] = deque(maxlen=1000)
        self.log = DurableLog(log_dir)
        self._replay()
        self.context = zmq.Context()
        self.sock = self.context.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        self.authenticator = secure_learner(self.context, self.sock, keys) if keys else None
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
        with self._lock:
            out, self._ready = self._ready, {s: [] for s in STREAMS}
            marks, self._ready_marks = self._ready_marks, {}
        for source, seq in marks.items():
            self.applied_in_buffers[source] = max(self.applied_in_buffers.get(source, -1), seq)
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

    def checkpointed(self, applied: dict[int, int]) -> int:
        """A checkpoint now holds everything up to `applied`: delete the log segments it covers."""
        with self._lock:
            self.log.close()
            return self.log.drop_covered(applied)

    def events(self) -> list[str]:
        """Log lines since the last call (actors joining, refused, silent; rejected messages)."""
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    def close(self) -> None:
        self._running = False
        if getattr(self, "_thread", None) is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self.log.close()
        if self.authenticator is not None:
            self.authenticator.stop()
        self.sock.close(linger=0)
        self.context.term()

    # -- the I/O thread ------------------------------------------------------------------------------
    def _replay(self) -> None:
        """Logged batches the checkpoint does not hold yet go to the first drain."""
        replayed = 0
        for source, seq, payload in self.log.replay():
            if seq <= self.accepted.get(source, -1):
                continue
            _, stream, data = wire.decode_batch(wire.unpack(payload), self.spec)
            self._accept(source, seq, stream, data)
            replayed += 1
        if replayed:
            self._event(f"replayed {replayed} logged batches the checkpoint did not hold")

    def _accept(self, source: int, seq: int, stream: str, data) -> None:
        self.accepted[source] = seq
        if stream == "transitions":
            # which actor spool: buffers pair each one's frames and follow each one's episodes
            data = dataclasses.replace(data, source=source)
        with self._lock:
            # transitions stay one TransitionBatch per message; other streams arrive as rows
            (self._ready[stream].append if stream == "transitions" else self._ready[stream].extend)(data)
            self._ready_marks[source] = seq
        if stream == "transitions":
            self.received_transitions += len(data)

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        last_check = 0.0
        while self._running:
            if poller.poll(5):
                acks = self._receive_round()
                self._send_acks(acks)
            self._push_params()
            now = time.monotonic()
            if now - last_check > 0.5:
                last_check = now
                self._check_silent(now)

    def _receive_round(self) -> dict[bytes, int]:
        """Handle up to 1,000 waiting messages; accepted batches are logged and fsynced before the
        acknowledgements (returned, by identity) go out."""
        acks: dict[bytes, int] = {}
        logged = False
        for _ in range(1000):
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                break
            if len(frames) != 2:
                self._reject(frames[0] if frames else None, f"{len(frames) - 1} frames, expected 1")
                continue
            identity, frame = frames
            try:
                logged |= self._handle(identity, wire.unpack(frame), frame, acks)
            except wire.MessageError as err:
                self._reject(identity, str(err))
        if logged:
            with self._lock:
                self.log.sync()
        return acks

    def _handle(self, identity: bytes, message: dict, frame: bytes, acks: dict[bytes, int]) -> bool:
        kind = message["t"]
        if kind == "hello":
            self._hello(identity, message)
            return False
        session = self.sessions.get(identity)
        if session is None:  # e.g. this learner restarted under a connected actor: ask for a hello
            self._send(identity, {"t": "hello?", "reason": f"{kind!r} before a handshake"})
            return False
        session.last_seen = time.monotonic()
        if session.silent:
            session.silent = False
            self._event(f"actor {session.actor} is back")
        if kind == "ping":
            session.params_has = wire.field(message, "version", int)
            acked = self.accepted.get(session.source, -1)
            self._send(identity, {"t": "pong", "hold": self._hold(), "acked": acked})
            return False
        if kind != "batch":
            raise wire.MessageError(f"unknown message type {kind!r}")
        seq, stream, data = wire.decode_batch(message, self.spec)
        acks[identity] = session.source
        expected = self.accepted.get(session.source, -1) + 1
        if seq != expected:  # a duplicate (acknowledged again) or a gap (the actor resends)
            return False
        with self._lock:
            self.log.append(session.source, seq, frame)
        self._accept(session.source, seq, stream, data)
        return True

    def _hello(self, identity: bytes, message: dict) -> None:
        actor = wire.field(message, "actor", int)
        source = wire.field(message, "source", int)
        reason = None
        if message.get("protocol") != wire.PROTOCOL:
            reason = (
                f"the actor speaks link protocol {message.get('protocol')!r}, the learner {wire.PROTOCOL}: "
                "install the same robokit version on both machines"
            )
        elif message.get("spec") != self.spec_wire:
            reason = (
                f"the actor's env spec {message.get('spec')} differs from the learner's {self.spec_wire}: "
                "start the actor with the learner's --env and camera size"
            )
        elif message.get("config_hash") != self.config_hash:
            reason = (
                f"the actor's agent config (hash {message.get('config_hash')}) differs from the learner's "
                f"({self.config_hash}): start the actor with the learner's agent options"
            )
        else:
            now = time.monotonic()
            for other_identity, other in self.sessions.items():
                live = now - other.last_seen < self.silent_after_s
                if other.actor == actor and other_identity != identity and other.source != source and live:
                    reason = f"actor id {actor} is already connected: give each actor its own --actor-id"
        if reason is not None:
            self._event(f"refused actor {actor}: {reason}")
            self._send(identity, {"t": "refused", "reason": reason})
            return
        if source not in self.accepted:
            # a spool this run has never seen (e.g. an actor's spool kept from an earlier run): its
            # batches up to the actor's own acknowledged mark went to that run, not to this one
            start = message.get("acked", -1)
            start = start if isinstance(start, int) and not isinstance(start, bool) and start >= -1 else -1
            self.accepted[source] = self.applied_in_buffers[source] = start
        for other_identity in [i for i, s in self.sessions.items() if s.source == source]:
            del self.sessions[other_identity]  # the same actor, reconnected on a new socket
        self.sessions[identity] = Session(actor, source, bool(message.get("paced")), time.monotonic())
        self._event(f"actor {actor} connected")
        self._send(identity, {"t": "welcome", "acked": self.accepted.get(source, -1), "hold": self._hold()})

    def _send_acks(self, acks: dict[bytes, int]) -> None:
        hold = self._hold()
        for identity, source in acks.items():
            self._send(identity, {"t": "ack", "acked": self.accepted.get(source, -1), "hold": hold})

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

    def _check_silent(self, now: float) -> None:
        for session in self.sessions.values():
            if not session.silent and now - session.last_seen > self.silent_after_s:
                session.silent = True
                self._event(f"actor {session.actor} silent for {now - session.last_seen:.1f} s")

    def _hold(self) -> bool:
        allowed = self.allowed_transitions
        return allowed is not None and self.received_transitions >= allowed

    def _reject(self, identity: bytes | None, reason: str) -> None:
        self.rejected += 1
        if self.rejected <= 10 or self.rejected % 1000 == 0:
            self._event(f"rejected a message ({self.rejected} so far): {reason}")
        if identity is not None:
            self._send(identity, {"t": "error", "reason": reason})

    def _send(self, identity: bytes, message: dict) -> None:
        self._send_frame(identity, wire.pack(message))

    def _send_frame(self, identity: bytes, frame: bytes) -> None:
        # a peer that is gone or whose queue is full misses it: heartbeats and resends recover
        with contextlib.suppress(zmq.ZMQError):
            self.sock.send_multipart([identity, frame], zmq.NOBLOCK, copy=False)

    def _event(self, text: str) -> None:
        log.info(text)
        self._events.append(text)
