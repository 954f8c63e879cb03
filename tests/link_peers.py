"""Learner and actor processes for the link's fault tests: the real zmq link, spool, durable log and
replay buffer, with numbered transitions so a test can count exactly what arrived.

python tests/link_peers.py learner PORT RUN_DIR
python tests/link_peers.py actor PORT ACTOR_ID SPOOL_DIR TOTAL BATCH INTERVAL_S

Transition k of actor a carries state [a, k, 0]. The actor's batch with sequence number s holds
transitions s*BATCH .. s*BATCH + BATCH - 1, so a restarted actor continues exactly where its
spool left off. The learner checkpoints its buffer and the link's applied table together, atomically.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import zmq

from robokit.data.replay import ReplayBuffer
from robokit.link import wire
from robokit.link.zmq_actor import ZmqActorLink
from robokit.link.zmq_learner import ZmqLearnerLink
from robokit.loop.learner import Learner, LearnerConfig
from robokit.types import EnvSpec, Transition, TransitionBatch

SPEC = EnvSpec(observations=(("state", (3,), "float32"),), action_dim=2)
CONFIG_HASH = "link-test"


class RawActor:
    """A hand-driven DEALER socket speaking the wire format directly."""

    def __init__(self, port: int):
        self.context = zmq.Context()
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(f"tcp://127.0.0.1:{port}")

    def send(self, message: dict) -> None:
        self.sock.send(wire.pack(message))

    def send_frame(self, frame: bytes) -> None:
        self.sock.send(frame)

    def reply_frame(self, timeout_ms: int = 5000) -> bytes:
        assert self.sock.poll(timeout_ms), "no reply"
        return self.sock.recv()

    def reply(self, kind: str, timeout_ms: int = 5000) -> dict:
        deadline = time.monotonic() + timeout_ms / 1000
        while time.monotonic() < deadline:
            if self.sock.poll(100):
                message = wire.unpack(self.sock.recv())
                if message["t"] == kind:
                    return message
        raise AssertionError(f"no {kind!r} reply")

    def close(self) -> None:
        self.sock.close()
        self.context.term()


def transitions(actor: int, first: int, count: int, steps: int = 1) -> TransitionBatch:
    """One episode's `count` transitions of `actor`, numbered from `first`, as an actor sends them."""
    frames = [{"state": np.array([actor, first + i, 0], np.float32)} for i in range(count + 1)]
    rows = [
        Transition(frames[i], np.zeros(2, np.float32), 0.0, False, i == count - 1, frames[i + 1], steps)
        for i in range(count)
    ]
    return TransitionBatch.from_rows(rows, SPEC.observation_keys, actor)


def save(run_dir: Path, buffer: ReplayBuffer, link: ZmqLearnerLink) -> None:
    """The buffer with the link's applied marks and ledger, in one file, atomically."""
    tmp = run_dir / "state.npz.partial"
    applied, ledger = dict(link.applied_in_buffers), link.ledger_snapshot()
    with open(tmp, "wb") as f:
        np.savez(f, applied=json.dumps(applied), ledger=json.dumps(ledger), **buffer.state_dict())
    os.replace(tmp, run_dir / "state.npz")
    link.checkpointed(applied)


def load(run_dir: Path) -> tuple[ReplayBuffer, dict[int, int], dict[int, dict]]:
    path = run_dir / "state.npz"
    if not path.exists():
        return ReplayBuffer(SPEC, 200_000), {}, {}
    with np.load(path) as data:
        applied = {int(k): v for k, v in json.loads(str(data["applied"])).items()}
        ledger = {int(k): v for k, v in json.loads(str(data["ledger"])).items()}
    # ReplayBuffer.load reads the same arrays
    return ReplayBuffer.load(path, SPEC), applied, ledger


def run_learner(port: int, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    buffer, applied, ledger = load(run_dir)
    link = ZmqLearnerLink(f"127.0.0.1:{port}", SPEC, CONFIG_HASH, run_dir / "log", applied, ledger=ledger)
    learner = Learner(None, None, {"online": buffer}, {"online": 1.0}, link, LearnerConfig())
    stop = {"requested": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(requested=True))
    (run_dir / "ready").write_text(str(os.getpid()))
    last = time.monotonic()
    while not stop["requested"]:
        learner.ingest()
        for event in link.events():
            print(event, flush=True)
        if time.monotonic() - last > 0.3:
            save(run_dir, buffer, link)
            last = time.monotonic()
        time.sleep(0.005)
    learner.ingest()
    save(run_dir, buffer, link)
    print(f"rejected {link.rejected}", flush=True)
    link.close()


def run_actor(port: int, actor: int, spool: Path, total: int, batch: int, interval_s: float) -> None:
    link = ZmqActorLink(f"127.0.0.1:{port}", actor, SPEC, CONFIG_HASH, spool)
    stop = {"requested": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(requested=True))
    while link.next_seq * batch < total and not stop["requested"]:
        link.send("transitions", transitions(actor, link.next_seq * batch, batch))
        progress = spool.parent / f"progress_{actor}"
        progress.with_suffix(".partial").write_text(str(link.next_seq * batch))
        os.replace(progress.with_suffix(".partial"), progress)
        time.sleep(interval_s)
    flushed = link.flush(timeout_s=60.0)
    print(f"actor {actor} flushed={flushed} reconnects={link.reconnects}", flush=True)
    link.close()
    sys.exit(0 if flushed else 1)


if __name__ == "__main__":
    role, args = sys.argv[1], sys.argv[2:]
    if role == "learner":
        run_learner(int(args[0]), Path(args[1]))
    else:
        run_actor(int(args[0]), int(args[1]), Path(args[2]), int(args[3]), int(args[4]), float(args[5]))
