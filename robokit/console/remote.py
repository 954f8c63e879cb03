"""`robokit console --learner HOST:PORT`: the console in its own process (on the operator's machine,
say), showing a running learner over robokit's link (with an actor's CURVE keys where the learner
uses keys) instead of inside the learner's process.

    hub = RemoteHub("127.0.0.1:5555", keys)   # polls the learner's "watch" 15 times a second
    hub.snapshot(); hub.frame_seqs(); hub.frame(actor, camera)   # what the web app reads

Corrections and controls from the page go to the learner as `robokit say` sends them (one request
each); the page's commands are logged in this process's --log file, and the learner keeps its own
records (said.jsonl, controls.jsonl, console/interventions.jsonl in the run folder).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from robokit.console.hub import Frame
from robokit.link import wire
from robokit.link.operator import Watcher, request

WATCH_EVERY_S = 1 / 15


class RemoteHub:
    """The reading side of a ConsoleHub, filled from a learner's watch replies by a thread."""

    def __init__(self, address: str, keys: Path | None):
        self.address, self.keys = address, keys
        self.watcher = Watcher(address, keys)
        self.lock = threading.Lock()
        self.state: dict = {"t": "state", "env_steps": 0, "actors": [], "cameras": [], "progress": [],
                            "rates": {"env_steps_per_s": 0.0, "updates_per_s": 0.0}}  # fmt: skip
        self.frames: dict[tuple[int, str], Frame] = {}
        self.problem: str | None = "connecting to the learner"
        self.actors: set[int] = set()
        self._running = True
        self.thread = threading.Thread(target=self._poll, name="console-watch", daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while self._running:
            started = time.monotonic()
            seen = {f"{a}/{c}": f.seq for (a, c), f in list(self.frames.items())}
            try:
                reply = self.watcher.watch(seen)
                self._take(reply)
            except (OSError, wire.MessageError, KeyError, TypeError, ValueError) as err:
                self.problem = str(err)
            time.sleep(max(0.0, WATCH_EVERY_S - (time.monotonic() - started)))

    def _take(self, reply: dict) -> None:
        if reply.get("t") != "watched":
            raise ValueError(f"the learner did not show its console: {wire.short(reply.get('reason'), 200)}")
        state = reply["state"]
        if not isinstance(state, dict) or not isinstance(reply.get("frames"), list):
            raise ValueError("the learner's watch reply is malformed")
        with self.lock:
            for actor, camera, seq, received, jpeg in reply["frames"]:
                if isinstance(jpeg, bytes) and isinstance(camera, str):
                    self.frames[(int(actor), camera)] = Frame(None, int(seq), float(received), jpeg)
            self.state = state
            self.actors = {int(a["actor"]) for a in state.get("actors", [])}
            self.problem = None

    def snapshot(self) -> dict:
        with self.lock:
            state = dict(self.state)
        state["cameras"] = [[a, c, f.seq] for (a, c), f in sorted(self.frames.items())]
        state["learner"] = self.problem  # None: the learner answers
        return state

    def frame_seqs(self) -> dict[tuple[int, str], int]:
        with self.lock:
            return {key: frame.seq for key, frame in self.frames.items()}

    def frame(self, actor: int, camera: str) -> Frame | None:
        with self.lock:
            return self.frames.get((actor, camera))

    def send(self, message: dict) -> dict:
        """A say or control to the learner; its reply, or MessageError with its reason."""
        try:
            reply = request(self.address, self.keys, message)
        except OSError as err:
            raise wire.MessageError(str(err)) from None
        if reply.get("t") == "error":
            raise wire.MessageError(str(reply.get("reason"))[:300])
        return reply

    def close(self) -> None:
        self._running = False
        self.thread.join(timeout=2.0)
        self.watcher.close()
