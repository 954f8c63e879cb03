"""The actor end of the zmq link: a DEALER socket served by one I/O thread; `send` never waits on it.

`send` encodes a batch, writes it to the spool and queues it. The thread sends, heartbeats every
0.5 s, keeps the newest params, and when the learner is silent for `dead_after_s` it drops the
socket and reconnects on a fresh one; after each handshake it resends every batch the learner has
not acknowledged as durable.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import zmq

from robokit.link import wire
from robokit.link.base import check_stream
from robokit.link.keys import secure_actor, split_address
from robokit.link.spool import Spool
from robokit.types import EnvSpec

log = logging.getLogger("robokit.link")


class LinkRefused(RuntimeError):
    """The learner refused this actor's handshake; the reason says what to change."""


class ZmqActorLink:
    """ActorLink over zmq. `paced`: honour the learner's requests to wait (simulation only)."""

    def __init__(
        self,
        address: str,
        actor_id: int,
        spec: EnvSpec,
        config_hash: str,
        spool_dir: Path,
        keys: Path | None = None,
        paced: bool = False,
        dead_after_s: float = 2.0,
        spool_bytes: int = 4 * 2**30,
    ):
        host, port = split_address(address)
        self.endpoint, self.keys = f"tcp://{host}:{port}", keys
        self.actor_id, self.spec, self.config_hash, self.paced = actor_id, spec, config_hash, paced
        self.dead_after_s = dead_after_s
        self.spool = Spool(spool_dir, max_bytes=spool_bytes)
        self.source = _spool_source(Path(spool_dir))
        acked_file = Path(spool_dir) / "acked"
        self._acked_file = acked_file
        self.acked = int(acked_file.read_text()) if acked_file.exists() else -1
        self.next_seq = max(self.spool.newest_seq, self.acked) + 1
        self._lock = threading.Lock()
        self._outgoing: deque[tuple[int, bytes]] = deque()
        self._params: tuple[int, Any] | None = None
        self.connected = False
        self.hold = False
        self.released = False
        self.refused: str | None = None
        self.reconnects = 0
        self._running = True
        self.context = zmq.Context()
        self.sock = None
        self._thread = threading.Thread(target=self._serve, name=f"link-actor-{actor_id}", daemon=True)
        self._thread.start()

    # -- ActorLink ------------------------------------------------------------------------------------
    def send(self, stream: str, items: list) -> None:
        check_stream(stream)
        if self.refused:
            raise LinkRefused(f"the learner refused actor {self.actor_id}: {self.refused}.")
        if not items:
            return
        data = wire.encode_batch(stream, items, self.spec)
        with self._lock:
            seq = self.next_seq
            self.next_seq += 1
            frame = wire.pack({"t": "batch", "seq": seq, "stream": stream, "data": data})
            self.spool.add(seq, frame)
            self._outgoing.append((seq, frame))
        if self.paced:
            self.wait_while_held()

    def latest_params(self) -> tuple[int, Any] | None:
        return self._params

    # -- for actor processes ---------------------------------------------------------------------
    def wait_while_held(self, timeout_s: float = 60.0) -> None:
        """Wait while a live learner asks actors to (it is behind its update-to-data ratio)."""
        deadline = time.monotonic() + timeout_s
        while self.hold and self.connected and not self.released and time.monotonic() < deadline:
            time.sleep(0.002)

    def release(self) -> None:
        """Stop honouring holds (the actor is shutting down)."""
        self.released = True

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait for the handshake; raises LinkRefused if the learner refuses this actor."""
        deadline = time.monotonic() + timeout_s
        while not self.connected and time.monotonic() < deadline:
            if self.refused:
                raise LinkRefused(f"the learner refused actor {self.actor_id}: {self.refused}.")
            time.sleep(0.01)
        return self.connected

    def flush(self, timeout_s: float) -> bool:
        """Wait until the learner has acknowledged everything sent; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.spool) == 0:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=5)
        if self.sock is not None:
            self.sock.close(linger=0)
        self.context.term()

    # -- the I/O thread --------------------------------------------------------------------------
    def _connect(self) -> None:
        if self.sock is not None:
            self.sock.close(linger=0)
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        if self.keys is not None:
            secure_actor(self.sock, self.keys)
        self.sock.connect(self.endpoint)
        self._hello()

    def _hello(self) -> None:
        hello = {
            "t": "hello",
            "protocol": wire.PROTOCOL,
            "actor": self.actor_id,
            "source": self.source,
            "spec": wire.spec_to_wire(self.spec),
            "config_hash": self.config_hash,
            "paced": self.paced,
            "acked": self.acked,
        }
        self._try_send(wire.pack(hello))
        self._hello_at = time.monotonic()

    def _serve(self) -> None:
        self._connect()
        last_heard, last_ping, last_progress = time.monotonic(), 0.0, time.monotonic()
        while self._running and not self.refused:
            if self.sock.poll(5):
                while True:
                    try:
                        frame = self.sock.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    last_heard = time.monotonic()
                    if self._handle(frame):
                        last_progress = last_heard
            now = time.monotonic()
            if self.connected:
                self._send_outgoing()
                if now - last_ping > 0.5:
                    self._ping()
                    last_ping = now
                if len(self.spool) and now - last_progress > 2.0:
                    self._resend()  # nothing acknowledged for 2 s: the learner may have seen a gap
                    last_progress = now
            if now - last_heard > self.dead_after_s and now - self._hello_at > 1.0:
                if self.connected:
                    silent = now - last_heard
                    log.warning("learner at %s silent for %.1f s: reconnecting", self.endpoint, silent)
                self.connected = False
                self.reconnects += 1
                self._connect()

    def _handle(self, frame: bytes) -> bool:
        """Act on one learner message; True when it acknowledged something new."""
        try:
            message = wire.unpack(frame)
        except wire.MessageError as err:
            log.warning("ignored a malformed message from the learner: %s", err)
            return False
        kind = message["t"]
        if kind == "refused":
            self.refused = str(message.get("reason"))
            log.error("the learner refused actor %d: %s", self.actor_id, self.refused)
            return False
        if kind == "hello?":  # the learner restarted and does not know this socket
            self.connected = False
            if time.monotonic() - self._hello_at > 0.5:
                self._hello()
            return False
        if kind == "welcome":
            self.connected = True
            self._acknowledge(message.get("acked", -1))
            self._resend()
            return True
        if kind in ("ack", "pong"):
            self.hold = bool(message.get("hold"))
            return self._acknowledge(message.get("acked", -1))
        if kind == "params":
            from flax import serialization

            version = message.get("version")
            if isinstance(version, int) and isinstance(message.get("data"), bytes):
                self._params = (version, serialization.msgpack_restore(message["data"]))
                self._ping()  # tells the learner which version arrived
        elif kind == "error":
            reason = message.get("reason")
            log.warning("the learner rejected a message from actor %d: %s", self.actor_id, reason)
        return False

    def _acknowledge(self, acked: Any) -> bool:
        if not isinstance(acked, int) or acked <= self.acked:
            return False
        with self._lock:
            self.spool.acknowledge(acked)
            self.acked = acked
            self.next_seq = max(self.next_seq, acked + 1)
        tmp = self._acked_file.with_suffix(".partial")
        tmp.write_text(str(acked))
        os.replace(tmp, self._acked_file)
        return True

    def _resend(self) -> None:
        with self._lock:
            self._outgoing.clear()
            pending = list(self.spool.pending(after=self.acked))
        for _, frame in pending:
            if not self._try_send(frame):
                return  # the socket's queue is full; the next resend carries on

    def _send_outgoing(self) -> None:
        while True:
            with self._lock:
                if not self._outgoing:
                    return
                item = self._outgoing.popleft()
            if not self._try_send(item[1]):
                with self._lock:
                    self._outgoing.appendleft(item)
                return

    def _ping(self) -> None:
        version = self._params[0] if self._params else -1
        self._try_send(wire.pack({"t": "ping", "version": version}))

    def _try_send(self, frame: bytes) -> bool:
        """Queue `frame` on the socket without ever blocking the thread; False if it is full."""
        try:
            self.sock.send(frame, zmq.NOBLOCK, copy=False)
            return True
        except zmq.Again:
            return False


def _spool_source(folder: Path) -> int:
    """This spool's id: batches are deduplicated per (source, seq), so a fresh spool never collides."""
    path = folder / "source"
    if not path.exists():
        tmp = path.with_suffix(".partial")
        tmp.write_text(str(random.SystemRandom().getrandbits(62)))
        os.replace(tmp, path)
    return int(path.read_text())
