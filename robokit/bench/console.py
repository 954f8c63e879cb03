"""`robokit bench console`: what the operator console delivers to a browser, and what it costs.

A real actor process (PickCubeVision-v0: two 128 x 128 cameras, random actions, the real Actor loop
and zmq link, one batch per env step) streams to this process, which plays the learner: it drains
the link every 5 ms. In "console" windows the batches also feed a ConsoleHub served by the console's
own app (uvicorn), watched either by a WebSocket client process that takes every message and draws
nothing ("socket": the console's own cost) or by Debian's Chromium (Playwright) showing the real page
("browser": on a 2-core machine the browser's drawing competes with the actor for the cores, which
an operator's own computer would not); in "plain" windows nothing feeds the hub and nobody watches.
The three kinds of window alternate while the same actor runs (side by side in one run); medians
over the windows.

Rows: frames per second the page showed per camera; a frame's age when the page showed it (from the
learner taking its batch to the image's load event; the actor -> learner hop before it is `bench
link`'s); the learner process's CPU (the console's own cost is its rise in socket windows); the
actor's env steps/s in socket and browser windows over plain ones; the round trip of a pause
(the console's control until the learner hears the actor is paused, an upper bound on its effect).
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from robokit.bench import bench_row

HASH = "bench-console"
_row = functools.partial(bench_row, "console")


def _actor_main(make_env, port: int, folder: str, steps, stop) -> None:
    """The actor process: the real Actor loop in `make_env()`, counting its env steps."""
    from robokit.link.zmq_actor import ZmqActorLink
    from robokit.loop.actor import Actor
    from robokit.types import EnvSpec

    env = make_env()
    spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    link = ZmqActorLink(f"127.0.0.1:{port}", 0, spec, HASH, Path(folder) / "spool", durable=False)
    actor = Actor(env, agent=None, link=link, seed=0)
    try:
        link.wait_connected(30)
        while not stop.is_set():
            if actor.paused:
                time.sleep(0.01)
                actor.take_controls()
            else:
                actor.collect(1)
            steps.value = actor.env_steps
    finally:
        link.close()
        env.close()


def _socket_main(url: str, stop) -> None:
    """A page that draws nothing: takes every message the console sends until stopped."""
    from websockets.sync.client import connect

    with connect(url.replace("http", "ws", 1) + "ws", origin=url.rstrip("/")) as ws:
        while not stop.is_set():
            try:
                ws.recv(timeout=0.5)
            except TimeoutError:
                continue


def _spec(make_env):
    from robokit.types import EnvSpec

    env = make_env()
    try:
        return EnvSpec.from_spaces(env.observation_space, env.action_space)
    finally:
        env.close()


def _browser():
    """(playwright, browser) of Debian's Chromium, or None with the reason."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None, "pip install playwright"
    if chromium is None:
        return None, "apt-get install chromium"
    playwright = sync_playwright().start()
    return (playwright, playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])), ""


def _drain_for(link, hub, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        drained = link.drain()
        if hub is not None:
            for batch in drained["transitions"]:
                hub.take_transitions(batch)
        time.sleep(0.005)


def bench_console(make_env, repeats: int = 3, window_s: float = 8.0) -> Iterator[dict]:
    """`make_env`: a picklable function returning the actor's env (PickCubeVision-v0 for the
    stated targets); it runs in the actor process."""
    from robokit.console import require_console

    require_console()
    from robokit.console.app import make_app
    from robokit.console.commands import ConsoleCommands
    from robokit.console.hub import ConsoleHub
    from robokit.console.security import ListenPolicy
    from robokit.console.server import ConsoleOptions, ConsoleServer
    from robokit.link.zmq_learner import ZmqLearnerLink

    opened, why = _browser()
    if opened is None:
        raise RuntimeError(f"bench console watches the page in Chromium: {why}.")
    playwright, browser = opened
    ctx = mp.get_context("spawn")
    steps, stop = ctx.Value("q", 0), ctx.Event()
    with tempfile.TemporaryDirectory() as folder:
        link = ZmqLearnerLink("127.0.0.1:0", _spec(make_env), HASH, Path(folder) / "link_log")
        hub = ConsoleHub(statuses=link.actor_statuses)
        commands = ConsoleCommands(lambda m: {}, None, Path(folder) / "log.jsonl", lambda: {0}, link.control)
        policy = ListenPolicy("127.0.0.1", None, None, None)
        server = ConsoleServer(make_app(hub, commands, policy), ConsoleOptions(port=0))
        actor = ctx.Process(target=_actor_main, args=(make_env, link.port, folder, steps, stop), daemon=True)
        actor.start()
        try:
            _drain_for(link, None, 20.0)  # the actor's imports, env and first steps
            rates = {"plain": [], "socket": [], "browser": []}
            cpu = {mode: [] for mode in rates}  # this process's (the learner's) CPU, in cores
            fps, ages = [], []
            for _ in range(repeats):
                for mode in rates:
                    page = _watch(mode, browser, server.url, ctx)
                    if mode != "plain":
                        _drain_for(link, hub, 2.0)  # the page connects and shows its first frames
                    if mode == "browser":
                        page.evaluate("window.consoleStats = {frames: {}, ages: []}")
                    before, started, cpu_before = steps.value, time.monotonic(), time.process_time()
                    _drain_for(link, None if mode == "plain" else hub, window_s)
                    elapsed = time.monotonic() - started
                    rates[mode].append((steps.value - before) / elapsed)
                    cpu[mode].append((time.process_time() - cpu_before) / elapsed)
                    if mode == "browser":
                        stats = page.evaluate("window.consoleStats")
                        fps += [n / window_s for n in stats["frames"].values()]
                        ages += stats["ages"]
                    _unwatch(page)
            pauses = _pause_round_trips(link, hub, 10)
        finally:
            stop.set()
            actor.join(timeout=10)
            server.close()
            link.close()
            browser.close()
            playwright.stop()
    yield from _rows(rates, cpu, fps, ages, pauses)


def _watch(mode: str, browser, url: str, ctx):
    """What watches the console in a window of `mode`: a Chromium page, a socket client process."""
    if mode == "browser":
        page = browser.new_page()
        page.goto(url)
        return page
    if mode == "socket":
        stop = ctx.Event()
        process = ctx.Process(target=_socket_main, args=(url, stop), daemon=True)
        process.start()
        return process, stop
    return None


def _unwatch(watcher) -> None:
    if isinstance(watcher, tuple):
        process, stop = watcher
        stop.set()
        process.join(timeout=10)
    elif watcher is not None:
        watcher.close()


def _pause_round_trips(link, hub, times: int) -> list[float]:
    """Seconds from the console's pause until the learner hears the actor is paused (then resume)."""
    trips = []
    for command, paused in [("pause", True), ("resume", False)] * times:
        sent = time.perf_counter()
        link.control(0, command, who="bench")
        while link.actor_statuses().get(0, {}).get("paused") is not paused:
            link.drain()
            time.sleep(0.0005)
        if paused:
            trips.append(time.perf_counter() - sent)
        _drain_for(link, hub, 0.2)
    return trips


def _rows(rates: dict, cpu: dict, fps: list, ages: list, pauses: list) -> Iterator[dict]:
    plain = float(np.median(rates["plain"]))
    yield _row("learner", "cpu_plain", float(np.median(cpu["plain"])), "cores")
    yield _row("learner", "cpu_serving_the_console", float(np.median(cpu["socket"])), "cores")
    yield _row("actor", "env_steps_per_s_plain", plain, "steps/s")
    for mode in ("socket", "browser"):
        watched = float(np.median(rates[mode]))
        yield _row("actor", f"env_steps_per_s_{mode}", watched, "steps/s")
        yield _row("actor", f"{mode}_over_plain", watched / plain, "x")
    yield _row("page", "fps_per_camera_min", float(np.min(fps)), "frames/s")
    yield _row("page", "fps_per_camera_median", float(np.median(fps)), "frames/s")
    ms = 1000 * np.asarray(ages)
    yield _row("page", "frame_age_p50", float(np.median(ms)), "ms")
    yield _row("page", "frame_age_p95", float(np.percentile(ms, 95)), "ms")
    yield _row("control", "pause_round_trip_p50", 1000 * float(np.median(pauses)), "ms")
    yield _row("control", "pause_round_trip_max", 1000 * float(np.max(pauses)), "ms")
