"""`robokit bench language`: how fast a spoken correction takes effect, and what a new phrase costs.

say -> actor: from the moment an operator's correction is sent (as `robokit say` sends it: a fresh
socket to the learner, the learner's fsynced record and reply, its push to the actor) until the
actor's link holds it, over the real zmq link on 127.0.0.1; say -> action: until a 10 Hz actor loop
acts on it (the transport plus the wait for the next control step). Encoder: the sentence encoder's
first load, and its time per new phrase (a known phrase is a table lookup).
"""

from __future__ import annotations

import functools
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from robokit.bench import bench_row
from robokit.language.encoder import EMBEDDING_DIM
from robokit.link.corrections import say_message, send_correction
from robokit.link.zmq_actor import ZmqActorLink
from robokit.link.zmq_learner import ZmqLearnerLink
from robokit.types import EnvSpec

SPEC = EnvSpec(
    observations=(("instruction", (EMBEDDING_DIM,), "float32"), ("state", (7,), "float32")), action_dim=4
)


_row = functools.partial(bench_row, "language")


def _percentiles(case: str, samples: list[float]) -> Iterator[dict]:
    ms = 1000 * np.asarray(samples)
    yield _row(case, "p50", float(np.median(ms)), "ms")
    yield _row(case, "p99", float(np.percentile(ms, 99)), "ms")


def bench_language(repeats: int = 3, says: int = 40, control_hz: float = 10.0) -> Iterator[dict]:
    rng = np.random.default_rng(0)
    vector = rng.normal(size=EMBEDDING_DIM).astype(np.float32)
    vector /= np.linalg.norm(vector)
    with tempfile.TemporaryDirectory() as folder:
        learner = ZmqLearnerLink("127.0.0.1:0", SPEC, "bench", Path(folder) / "link_log")
        link = ZmqActorLink(f"127.0.0.1:{learner.port}", 0, SPEC, "bench", Path(folder) / "spool")
        acted: dict[int, float] = {}
        stop = threading.Event()

        def actor_loop() -> None:  # what Actor.follow_corrections does before each 10 Hz step
            while not stop.is_set():
                latest = link.latest_instruction()
                if latest is not None and latest.id not in acted:
                    acted[latest.id] = time.perf_counter()
                time.sleep(1.0 / control_hz)

        try:
            if not link.wait_connected(10.0):
                raise RuntimeError("the bench's actor did not connect to its learner on 127.0.0.1")
            loop = threading.Thread(target=actor_loop, daemon=True)
            loop.start()
            transport, to_action = [], []
            for i in range(says):
                learner._say_rate.tokens = learner._say_rate.burst  # the bench says faster than a person
                time.sleep(rng.uniform(0.0, 1.0 / control_hz))  # at any moment of the actor's period
                sent = time.perf_counter()
                reply = send_correction(f"127.0.0.1:{learner.port}", None, say_message(f"go {i}", vector))
                while (latest := link.latest_instruction()) is None or latest.id != reply["id"]:
                    time.sleep(0.0002)
                transport.append(time.perf_counter() - sent)
                while reply["id"] not in acted:
                    time.sleep(0.001)
                to_action.append(acted[reply["id"]] - sent)
            yield from _percentiles("say_to_actor", transport)
            yield from _percentiles(f"say_to_action_{control_hz:g}hz", to_action)
        finally:
            stop.set()
            link.close()
            learner.close()
    yield from bench_encoder(repeats)


def bench_encoder(repeats: int = 3, phrases: int = 20) -> Iterator[dict]:
    from robokit.language.encoder import EmbeddingTable, SentenceEncoder

    started = time.perf_counter()
    encoder = SentenceEncoder()
    yield _row("encoder", "first_load", time.perf_counter() - started, "s")
    table = EmbeddingTable(encoder=encoder)
    table.embed("warm up")
    new, known = [], []
    for r in range(repeats):
        for i in range(phrases):
            t = time.perf_counter()
            table.embed(f"move {i} centimetres to the left, round {r}")
            new.append(time.perf_counter() - t)
            t = time.perf_counter()
            table.embed(f"move {i} centimetres to the left, round {r}")
            known.append(time.perf_counter() - t)
    yield _row("encoder", "new_phrase_p50", 1000 * float(np.median(new)), "ms")
    yield _row("encoder", "known_phrase_p50", 1000 * float(np.median(known)), "ms")
