"""An operator's requests to a learner over the link: a correction (`robokit say`), a control (pause,
resume, stop, label) and a watch (what the console shows), each one message answered by one reply,
on a DEALER socket with an actor's CURVE keys when the learner uses keys (the transport checks them;
an operator needs no handshake).

    reply = request("127.0.0.1:5555", keys, {"t": "control", "actor": 0, "command": "pause"})
    watcher = Watcher("127.0.0.1:5555", keys)     # one socket, kept: watch() 15 times a second
    reply = watcher.watch({"0/front": 12})         # the state, and the frames newer than those seen

The learner answers a watch with {"t": "watched", "state": {...}, "frames": [[actor, camera, seq,
received, jpeg], ...]}: the state a console page shows and each camera's newest frame the watcher
has not seen (robokit.console.hub.ConsoleHub.watch).
"""

from __future__ import annotations

from pathlib import Path

import zmq

from robokit.link import wire
from robokit.link.keys import actor_keys, secure_actor, split_address

MAX_SEEN = 256  # (actor, camera) pairs a watch may name


def _socket(context: zmq.Context, address: str, keys: Path | None) -> zmq.Socket:
    host, port = split_address(address)
    curve = actor_keys(keys) if keys is not None else None
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    sock.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
    if curve is not None:
        secure_actor(sock, curve)
    sock.connect(f"tcp://{host}:{port}")
    return sock


def no_answer(address: str, timeout_s: float) -> str:
    return (
        f"the learner at {address} did not answer within {timeout_s:g} s: check that it runs there "
        "and, if it uses keys, pass --keys with an authorized actor's keys folder"
    )


def request(address: str, keys: Path | None, message: dict, timeout_s: float = 5.0) -> dict:
    """Send one request on a fresh socket and return the learner's reply (an "error" reply too);
    OSError in one sentence when nobody answers."""
    context = zmq.Context()
    sock = _socket(context, address, keys)
    try:
        sock.send(wire.pack(message))
        if not sock.poll(int(timeout_s * 1000)):
            raise OSError(no_answer(address, timeout_s))
        return wire.unpack(sock.recv())
    finally:
        sock.close(linger=0)
        context.term()


class Watcher:
    """One socket for a console's steady watch requests; a request not answered in time drops the
    socket (and whatever late reply it would get) for a fresh one."""

    def __init__(self, address: str, keys: Path | None):
        split_address(address)
        self.address, self.keys = address, keys
        self.context = zmq.Context()
        self.sock = _socket(self.context, address, keys)

    def watch(self, seen: dict[str, int], timeout_s: float = 1.0) -> dict:
        self.sock.send(wire.pack({"t": "watch", "seen": seen}))
        if not self.sock.poll(int(timeout_s * 1000)):
            self.sock.close(linger=0)
            self.sock = _socket(self.context, self.address, self.keys)
            raise OSError(no_answer(self.address, timeout_s))
        return wire.unpack(self.sock.recv())

    def close(self) -> None:
        self.sock.close(linger=0)
        self.context.term()


def read_seen(value) -> dict[tuple[int, str], int]:
    """A watch's {"actor/camera": seq} as {(actor, camera): seq}; MessageError for anything else."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_SEEN:
        raise wire.MessageError(f"a watch's seen frames are a map of at most {MAX_SEEN} cameras")
    seen = {}
    for key, seq in value.items():
        actor, _, camera = key.partition("/") if isinstance(key, str) else ("", "", "")
        if not actor.isdigit() or not camera or len(key) > 80 or not isinstance(seq, int):
            raise wire.MessageError(f"a watch names a camera {wire.short(key, 40)}: expected 'ACTOR/CAMERA'")
        seen[(int(actor), camera)] = seq
    return seen
