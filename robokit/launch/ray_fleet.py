"""Actors as Ray actors: each is one robokit actor built in-process by the actor builder
(robokit.loop.build.build_actor, never by composing a command line), acting on a thread of its Ray
worker process and linked to the learner over zmq. Ray restarts a worker process that dies
(max_restarts); its __init__ then builds the actor again, which reconnects and resends its spool
(on the same machine's disk). The fleet notices a restart by the worker's new pid and says so."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from robokit.loop.build import ActorOptions

RAY_MISSING = "pip install 'robokit[ray]'"


class RayMissing(RuntimeError):
    """The ray extra is not installed; the message says how to install it."""


def require_ray():
    """The ray module, or one sentence naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise RayMissing(f"--launcher ray needs Ray, which is not installed: {RAY_MISSING}.") from None
    return ray


class ActorHost:
    """One robokit actor in a Ray worker process (made a Ray actor by RayFleet)."""

    def __init__(self, options: ActorOptions, curve: tuple | None):
        self.pid, self.options = os.getpid(), options
        self.stopping = threading.Event()
        self.steps, self.error, self.done, self.run = 0, None, False, None
        self.thread = threading.Thread(target=self._act, args=(curve,), daemon=True)
        self.thread.start()

    def _act(self, curve) -> None:
        from robokit.cli.actor import built_actor

        try:
            self.run = built_actor(self.options, curve)
            try:
                self.steps = self.run.run(self.stopping.is_set)
            finally:
                self.run.close()
        except Exception as err:  # reported by status(); the fleet says it and leaves the actor down
            self.error = f"{type(err).__name__}: {err}"
        self.done = True

    def status(self) -> dict:
        return {"pid": self.pid, "done": self.done, "error": self.error, "steps": self.steps}

    def stop(self, timeout_s: float = 10.0) -> dict:
        """Stop acting, flush the spool, close; the final status."""
        self.stopping.set()
        if self.run is not None:
            self.run.link.release()
        self.thread.join(timeout_s)
        return self.status()


@dataclass(frozen=True)
class RayResources:
    actor_cpus: float = 0.5
    max_restarts: int = 3


class RayFleet:
    """The actors of one run as Ray actors (robokit.recipes.online.ActorFleet): `check` reports
    restarts and actors that stopped, `stop` stops every one robokit started and nothing else."""

    CHECK_EVERY_S = 1.0

    def __init__(self, actors: list[ActorOptions], curve: tuple | None, resources: RayResources):
        ray = require_ray()
        self.ray, self.options = ray, actors
        host = ray.remote(ActorHost)
        self.handles = [
            host.options(num_cpus=resources.actor_cpus, max_restarts=resources.max_restarts).remote(o, curve)
            for o in actors
        ]
        self.pids: list[int | None] = [None] * len(actors)
        self.restarts = [0] * len(actors)
        self.down = [False] * len(actors)
        self.pending: dict[int, object] = {}
        self.last_check = 0.0

    def check(self) -> list[str]:
        """Lines about restarts and stopped actors (polled at most once a second, never blocking)."""
        if time.monotonic() - self.last_check < self.CHECK_EVERY_S:
            return []
        self.last_check = time.monotonic()
        lines = []
        for i, handle in enumerate(self.handles):
            if self.down[i]:
                continue
            ref = self.pending.get(i)
            if ref is None:
                self.pending[i] = handle.status.remote()
                continue
            ready, _ = self.ray.wait([ref], timeout=0)
            if not ready:
                continue
            del self.pending[i]
            try:
                status = self.ray.get(ref)
            except self.ray.exceptions.RayActorError:  # dead for good (restarts used up), or restarting
                continue
            lines += self._news(i, status)
        return lines

    def _news(self, i: int, status: dict) -> list[str]:
        lines = []
        if self.pids[i] is not None and status["pid"] != self.pids[i]:
            self.restarts[i] += 1
            lines.append(f"actor {i} was restarted by Ray (restart {self.restarts[i]}, pid {status['pid']})")
        self.pids[i] = status["pid"]
        if status["done"]:
            self.down[i] = True
            why = (
                f": {status['error']}" if status["error"] else " (its steps done, or stopped by the operator)"
            )
            lines.append(f"actor {i} stopped{why} and stays down")
        return lines

    def stop(self, timeout_s: float = 10.0) -> None:
        """Each actor flushes its spool and closes; then its Ray actor is killed (no restart)."""
        stops = [handle.stop.remote() for handle in self.handles]
        self.ray.wait(stops, num_returns=len(stops), timeout=timeout_s + 5)
        for handle in self.handles:
            self.ray.kill(handle, no_restart=True)
        self.handles = []
