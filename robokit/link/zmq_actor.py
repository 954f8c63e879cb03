"""The actor end of the zmq link: a DEALER socket served by one I/O thread; `send` never waits on it.

`send` encodes a batch, writes it to the spool and queues it. The thread sends, heartbeats every
0.5 s, keeps the newest params, and when the learner is silent for `dead_after_s` it drops the
socket and reconnects on a fresh one; after each handshake it resends every batch the learner has
not acknowledged as durable.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from robokit.data.durable import write_durably
from robokit.link import wire
from robokit.link.base import LinkFailed, check_stream
from robokit.link.control import read_control
from robokit.link.corrections import Correction, read_correction
from robokit.link.keys import actor_keys, secure_actor, split_address
from robokit.link.spool import Spool
from robokit.types import EnvSpec

log = logging.getLogger("robokit.link")

_HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


class LinkRefused(RuntimeError):
    """The learner refused this actor's handshake; the reason says what to change."""


class ZmqActorLink:
    """ActorLink over zmq. `agent_config`: the agent config (or only its hash) the learner must
    share; `reward`: how this actor's episodes are rewarded ("simulator", or a classifier's
    fingerprint); `frames`: what the policy reads of the cameras ("raw frames", or an encoder's
    fingerprint); `paced`: honour the learner's requests to wait (simulation only); `durable`:
    fsync each spooled batch (False trades what a power cut keeps for speed)."""

    def __init__(
        self,
        address: str,
        actor_id: int,
        spec: EnvSpec,
        agent_config: Any,
        spool_dir: Path,
        keys: Path | tuple[bytes, bytes, bytes] | None = None,
        paced: bool = False,
        dead_after_s: float = 2.0,
        spool_bytes: int = 4 * 2**30,
        reward: str = "simulator",
        durable: bool = True,
        frames: str = "raw frames",
    ):
        host, port = split_address(address)
        self.endpoint, self.keys = f"tcp://{host}:{port}", keys
        # a keys folder (bad keys: one sentence, here), or the keys themselves, handed over in memory
        self._curve = keys if isinstance(keys, tuple) else actor_keys(keys) if keys is not None else None
        self.actor_id, self.spec, self.paced, self.reward = actor_id, spec, paced, reward
        self.frames = frames
        self.config_hash, self.config_fields = wire.agent_identity(agent_config)
        self.dead_after_s = dead_after_s
        self.spool = Spool(spool_dir, max_bytes=spool_bytes, durable=durable)
        self.source = _spool_source(Path(spool_dir))
        (Path(spool_dir) / "actor").write_text(str(actor_id))  # for `robokit audit`
        acked_file = Path(spool_dir) / "acked"
        self._acked_file = acked_file
        self.acked = _read_acked(acked_file)
        self.spool.acknowledge(self.acked)  # a kill between writing the mark and forgetting
        self.next_seq = max(self.spool.newest_seq, self.acked) + 1
        self._lock = threading.Lock()
        self._outgoing: deque[tuple[int, bytes]] = deque()
        self._params: tuple[int, Any] | None = None
        self._instruction: Correction | None = None
        self._controls: deque[str] = deque()  # the operator's controls, for the actor loop to take
        self.control_seen = -1  # the newest control id taken (controls are acknowledged by it)
        self._status: dict = {}  # what the actor loop last reported, sent with every ping
        self._ping_now = False
        self.connected = False
        self.hold = False
        self.views_wanted = False  # the learner says a console watches: send camera views
        self._view: bytes | None = None  # the newest view not yet sent
        self.released = False
        self.refused: str | None = None
        self.handshake_failure: str | None = None  # the transport refused us (keys), if it said so
        self.failure: str | None = None  # why the I/O thread stopped, if it did: send() raises
        self.reconnects = 0
        self._monitor = None
        self._running = True
        self.context = zmq.Context()
        self.sock = None
        self._thread = threading.Thread(target=self._serve, name=f"link-actor-{actor_id}", daemon=True)
        self._thread.start()

    # -- ActorLink ------------------------------------------------------------------------------------
    def send(self, stream: str, items: list) -> None:
        check_stream(stream)
        if self.failure is not None:
            raise LinkFailed(
                f"actor {self.actor_id}'s link stopped ({self.failure}): restart the actor; its spool "
                f"{self.spool.directory} keeps what the learner has not acknowledged"
            )
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

    def latest_instruction(self) -> Correction | None:
        """The newest operator correction the learner passed on to this actor, or None."""
        return self._instruction

    def take_controls(self) -> list[str]:
        """The operator's controls (robokit.link.control.COMMANDS) that arrived since the last call,
        oldest first."""
        with self._lock:
            taken = list(self._controls)
            self._controls.clear()
        return taken

    def report(self, status: dict, urgent: bool = False) -> None:
        """What the actor is doing (robokit.link.control.STATUS_FIELDS): sent to the learner with
        every heartbeat, and at once when `urgent`."""
        self._status = status
        self._ping_now = self._ping_now or urgent

    def view(self, frames: dict) -> None:
        """The cameras' newest frames ({camera: (H, W, 3) uint8}), for the learner's console alone:
        sent only while the learner says a console watches, never spooled; a newer view replaces
        one not yet sent."""
        if self.views_wanted and self.connected:
            packed = wire.pack(wire.encode_view(frames))
            with self._lock:
                self._view = packed

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

    def no_answer(self) -> str:
        """Why the learner has not answered, as far as this end can tell, with the fix."""
        if self.handshake_failure:
            return self.handshake_failure
        return (
            f"no answer from {self.endpoint.removeprefix('tcp://')} yet (is the learner running, and "
            "is this its address?)"
        )

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=5)
        self._close_socket()
        self.context.term()

    # -- the I/O thread --------------------------------------------------------------------------
    def _close_socket(self) -> None:
        if self._monitor is not None:
            with contextlib.suppress(zmq.ZMQError):
                self.sock.disable_monitor()
            self._monitor.close(linger=0)
            self._monitor = None
        if self.sock is not None:
            self.sock.close(linger=0)
            self.sock = None

    def _connect(self) -> None:
        self._close_socket()
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        if self._curve is not None:
            secure_actor(self.sock, self._curve)
        # the transport's handshake failures (missing or wrong keys) are only seen on a monitor
        self._monitor = self.sock.get_monitor_socket(_HANDSHAKE_FAILED)
        self.sock.connect(self.endpoint)
        self._hello()

    def _check_monitor(self) -> None:
        while self._monitor is not None and self._monitor.poll(0):
            try:
                event = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except zmq.ZMQError:
                return
            where = self.endpoint.removeprefix("tcp://")
            if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                why = "the learner does not accept this actor's key (revoked, or from another keys folder)"
                fix = "pass --keys with the folder `robokit keys --add-actor NAME` made for this machine"
            elif self.keys is None:
                why = "the learner uses keys and this actor has none"
                fix = "pass --keys with this machine's folder made by `robokit keys --add-actor NAME`"
            else:
                why = "this actor's keys do not match the learner's (or the learner uses none)"
                fix = "pass --keys with this machine's folder from the learner's keys, or drop --keys"
            text = f"the learner at {where} refused the connection: {why}: {fix}"
            if text != self.handshake_failure:
                log.info("%s", text)
            self.handshake_failure = text

    def _hello(self) -> None:
        hello = {
            "t": "hello",
            "protocol": wire.PROTOCOL,
            "actor": self.actor_id,
            "source": self.source,
            "spec": wire.spec_to_wire(self.spec),
            "config_hash": self.config_hash,
            "config": self.config_fields,
            "reward": self.reward,
            "frames": self.frames,
            "paced": self.paced,
            "acked": self.acked,
        }
        self._try_send(wire.pack(hello))
        self._hello_at = time.monotonic()

    def _serve(self) -> None:
        try:
            self._serve_forever()
        except BaseException as err:  # never a silent death: send() raises LinkFailed from now on
            self.failure = f"{type(err).__name__}: {err}"
            self.connected = False
            log.critical("actor %d's link thread stopped", self.actor_id, exc_info=True)

    def _serve_forever(self) -> None:
        self._connect()
        last_heard, last_ping, last_progress = time.monotonic(), 0.0, time.monotonic()
        while self._running and not self.refused:
            self._check_monitor()
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
                with self._lock:
                    view, self._view = self._view, None
                if view is not None:
                    self._try_send(view)
                if now - last_ping > 0.5 or self._ping_now:
                    self._ping_now = False
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
            self.handshake_failure = None
            self._acknowledge(message.get("acked", -1))
            self._resend()
            return True
        if kind in ("ack", "pong"):
            self.hold = bool(message.get("hold"))
            if "view" in message:
                self.views_wanted = message["view"] is True
            return self._acknowledge(message.get("acked", -1))
        if kind == "params":
            from flax import serialization

            version = message.get("version")
            if isinstance(version, int) and isinstance(message.get("data"), bytes):
                try:
                    params = serialization.msgpack_restore(message["data"])
                except Exception as err:
                    log.warning("ignored params version %s the actor could not read: %s", version, err)
                    return False
                self._params = (version, params)
                self._ping()  # tells the learner which version arrived
        elif kind == "instruct":
            try:
                correction = read_correction(message)
            except wire.MessageError as err:
                log.warning("ignored a correction actor %d could not read: %s", self.actor_id, err)
                return False
            if self._instruction is None or correction.id != self._instruction.id:
                self._instruction = correction
            self._ping()  # tells the learner it arrived
        elif kind == "control":
            try:
                control_id, command = read_control(message)
            except wire.MessageError as err:
                log.warning("ignored a control actor %d could not read: %s", self.actor_id, err)
                return False
            if control_id > self.control_seen:
                with self._lock:
                    self._controls.append(command)
                    self.control_seen = control_id
            self._ping()  # tells the learner it arrived
        elif kind == "error":
            reason = message.get("reason")
            log.warning("the learner rejected a message from actor %d: %s", self.actor_id, reason)
        return False

    def _acknowledge(self, acked: Any) -> bool:
        if not isinstance(acked, int) or isinstance(acked, bool) or acked <= self.acked:
            return False
        if acked >= self.next_seq:
            log.warning(
                "the learner acknowledged batch %s, which actor %d never sent: ignored", acked, self.actor_id
            )
            return False
        # the mark is on disk before the spool forgets: a kill in between never lets this actor
        # reuse a sequence number the learner already holds (it would drop the new batch as a copy)
        write_durably(self._acked_file, str(acked).encode())
        with self._lock:
            self.spool.acknowledge(acked)
            self.acked = acked
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
        said = self._instruction.id if self._instruction else -1
        status = dict(self._status)
        if self.control_seen >= 0:
            status["control"] = self.control_seen
        self._try_send(wire.pack({"t": "ping", "version": version, "said": said, "status": status}))

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
        write_durably(path, str(random.SystemRandom().getrandbits(62)).encode())
    try:
        return int(path.read_text())
    except ValueError:
        raise ValueError(
            f"{path} is damaged: delete the spool folder {folder} (its batches are lost)."
        ) from None


def _read_acked(path: Path) -> int:
    try:
        return int(path.read_text()) if path.exists() else -1
    except ValueError:  # damaged: resending everything is safe (the learner drops duplicates)
        log.warning("%s is damaged: the spool's batches are sent again", path)
        return -1
