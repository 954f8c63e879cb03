"""`robokit bench link`: transitions per second from actor `send` to the learner's replay buffer
(durable log and actor spool included), and the time a params publish takes to reach an actor.

Actors are separate processes; the learner (link thread + a loop that drains into a ReplayBuffer)
is this process. A plain fsync'd disk write is measured too, since the log and spools share a disk.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from robokit.bench import bench_row
from robokit.data.replay import ReplayBuffer
from robokit.link.zmq_actor import ZmqActorLink
from robokit.link.zmq_learner import ZmqLearnerLink
from robokit.loop.learner import Learner, LearnerConfig
from robokit.types import EnvSpec, Transition, TransitionBatch

STATE_SPEC = EnvSpec(observations=(("state", (10,), "float32"),), action_dim=4)
IMAGE_SPEC = EnvSpec(
    observations=(
        ("front", (128, 128, 3), "uint8"),
        ("state", (10,), "float32"),
        ("wrist", (128, 128, 3), "uint8"),
    ),
    action_dim=4,
)
HASH = "bench"


def _episode(spec: EnvSpec, n: int, rng: np.random.Generator) -> list[Transition]:
    """n transitions of one episode (each next observation is the following observation)."""
    frames = [
        {k: rng.integers(0, 255, shape, np.uint8) if d == "uint8" else rng.normal(size=shape).astype(d)
         for k, shape, d in spec.observations}
        for _ in range(n + 1)
    ]  # fmt: skip
    action = np.zeros(spec.action_dim, np.float32)
    return [Transition(frames[i], action, 0.0, False, i == n - 1, frames[i + 1]) for i in range(n)]


def _actor_main(port, actor_id, spec, spool, batches, batch, go, done, durable) -> None:
    link = ZmqActorLink(f"127.0.0.1:{port}", actor_id, spec, HASH, spool, durable=durable)
    items = _episode(spec, batch, np.random.default_rng(actor_id))
    link.wait_connected(30)
    go.wait()
    for _ in range(batches):  # the actor's own work: rows to one column batch, then send
        link.send("transitions", TransitionBatch.from_rows(items, spec.observation_keys, actor_id))
    link.flush(120)
    link.close()
    done.set()


def transitions_per_s(
    spec: EnvSpec, actors: int, batches: int, batch: int, folder: Path, durable: bool = True
) -> float:
    """Transitions per second from the start signal until the learner's buffer holds every one sent
    (`durable`: actors fsync each spooled batch, as they do by default)."""
    total = actors * batches * batch
    link = ZmqLearnerLink("127.0.0.1:0", spec, HASH, folder / "log")
    buffer = ReplayBuffer(spec, total + 1)
    learner = Learner(None, None, {"online": buffer}, {"online": 1.0}, link, LearnerConfig())
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    dones = [ctx.Event() for _ in range(actors)]
    procs = [
        ctx.Process(
            target=_actor_main,
            args=(link.port, i, spec, folder / f"spool{i}", batches, batch, go, dones[i], durable),
            daemon=True,
        )
        for i in range(actors)
    ]
    for p in procs:
        p.start()
    deadline = time.monotonic() + 120
    while len(link.sessions) < actors and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.perf_counter()
    go.set()
    while learner.env_steps < total and time.monotonic() < deadline + 120:
        if not learner.ingest():
            time.sleep(0.0005)
    seconds = time.perf_counter() - start
    for p in procs:
        p.join(30)
    link.close()
    if learner.env_steps != total:
        raise RuntimeError(f"the link delivered {learner.env_steps} of {total} transitions")
    return total / seconds


def publish_ms(megabytes: float, folder: Path, repeats: int) -> float:
    """Median time from `publish` until an actor's `latest_params` returns the new version."""
    link = ZmqLearnerLink("127.0.0.1:0", STATE_SPEC, HASH, folder / "plog")
    actor = ZmqActorLink(f"127.0.0.1:{link.port}", 0, STATE_SPEC, HASH, folder / "pspool")
    actor.wait_connected(30)
    n = int(megabytes * 2**20 / 4)
    params = {"actor": {"kernel": np.random.default_rng(0).normal(size=n).astype(np.float32)}}
    times = []
    for version in range(1, repeats + 2):
        start = time.perf_counter()
        link.publish(params, version)
        while (actor.latest_params() or (0,))[0] < version:
            time.sleep(0.0002)
        times.append(time.perf_counter() - start)
        time.sleep(0.6)  # let the actor's report of this version reach the learner
    actor.close()
    link.close()
    return statistics.median(times[1:]) * 1000


def disk_mb_per_s(folder: Path, megabytes: int = 256) -> float:
    data = os.urandom(2**20)
    start = time.perf_counter()
    with open(folder / "disk_probe", "wb") as f:
        for _ in range(megabytes):
            f.write(data)
        f.flush()
        os.fsync(f.fileno())
    seconds = time.perf_counter() - start
    (folder / "disk_probe").unlink()
    return megabytes / seconds


def bench_link(repeats: int = 3) -> Iterator[dict]:
    with tempfile.TemporaryDirectory(prefix="robokit-bench-link-") as tmp:
        root = Path(tmp)
        yield _row("disk", "fsync_write", disk_mb_per_s(root), "MB/s")
        cases = (
            ("state_1_actor", STATE_SPEC, 1, 400, 256),
            ("state_4_actors", STATE_SPEC, 4, 100, 256),
            ("image_2x128px_1_actor", IMAGE_SPEC, 1, 60, 32),
            ("state_1_actor_1_step_batches", STATE_SPEC, 1, 1000, 1),
        )
        for case, spec, actors, batches, batch in cases:
            # the cost of fsyncing each spooled batch, side by side: the same case with and without
            for durable in (True, False):
                name = case if durable else f"{case}_no_fsync"
                rates = [
                    transitions_per_s(spec, actors, batches, batch, root / f"{name}-{r}", durable)
                    for r in range(repeats)
                ]
                yield _row(name, "transitions_per_s", statistics.median(rates), "1/s")
        for megabytes in (3, 40):
            yield _row(f"params_{megabytes}mb", "publish_to_actor_ms", publish_ms(megabytes, root, 5), "ms")


_row = functools.partial(bench_row, "link")
