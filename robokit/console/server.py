"""The console served beside a learner: uvicorn in a thread of the learner's process, fed by the
learner's stream handlers, sending corrections through the learner's own link.

    console = start_console(run, ConsoleOptions(port=8080))   # robokit train --console 8080
    ...
    console.close()
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("robokit.console")


@dataclass(frozen=True)
class ConsoleOptions:
    port: int
    host: str = "127.0.0.1"
    token: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    insecure: bool = False


class ConsoleServer:
    """uvicorn serving `app` on a daemon thread; `url` once started, `close()` to stop."""

    def __init__(self, app, options: ConsoleOptions):
        import uvicorn

        config = uvicorn.Config(
            app, host=options.host, port=options.port, log_level="warning", lifespan="off",
            ws_max_size=64 * 1024,  # a command is at most 4 KB: bigger frames are refused by the protocol
            ssl_certfile=str(options.cert) if options.cert else None,
            ssl_keyfile=str(options.key) if options.key else None,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.scheme = "https" if options.cert else "http"
        self.thread = threading.Thread(target=self.server.run, name="robokit-console", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10.0
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                where = f"{options.host}:{options.port}"
                raise RuntimeError(f"the console could not listen on {where}: pick another --console port.")
            time.sleep(0.02)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"{self.scheme}://{host}:{port}/"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5.0)


def watch_hub(run, frames_unwatched: bool = False):
    """The hub a console shows for an OnlineRun, fed by its learner's handlers; a serving link
    answers a console in its own process (`robokit console --learner`) from it. What actors acted
    on is logged in RUN/console/interventions.jsonl. `frames_unwatched`: keep the newest frames even
    while no page watches (the run serves its own page)."""
    from robokit.console.commands import log_acted
    from robokit.console.hub import ConsoleHub

    learner = run.learner
    counters = lambda: {"updates": learner.updates, "env_steps": learner.env_steps}  # noqa: E731
    actor_of = getattr(run.link, "actor_of", lambda source: 0)  # in process: actor 0
    evaluations = EvaluationsFile(run.log.evals_path)
    hub = ConsoleHub(counters, actor_of, run.link.actor_statuses, evaluations.rows, frames_unwatched)
    learner.on("transitions", hub.take_transitions)
    learner.on("metrics", hub.take_metrics)
    log_path = Path(run.run_dir) / "console" / "interventions.jsonl"
    for stream in ("corrections", "interventions"):
        learner.on(stream, hub.take_actions)
        learner.on(stream, lambda rows: log_acted(log_path, rows))
    hub.quick = list(_instruction_table(run).texts)[:12]
    run.link.view_sink, run.link.views_wanted = hub.take_view, hub.wants_frames  # encoded actors' cameras
    if run.remote:
        run.link.watch_source = hub.watch
    return hub


def start_console(run, hub, options: ConsoleOptions, say=print) -> ConsoleServer:
    """Serve the console for an OnlineRun from its `hub` (watch_hub); corrections and controls go
    through the run's link; the page's commands are logged in RUN/console/interventions.jsonl."""
    from robokit.console import require_console

    require_console()
    from robokit.console.app import make_app
    from robokit.console.commands import ConsoleCommands
    from robokit.console.security import ListenPolicy

    policy = ListenPolicy.check(options.host, options.token, options.cert, options.key, options.insecure)
    send = (
        (lambda m: run.link.say(m, who="console")) if run.remote else (lambda m: _say_in_process(run.link, m))
    )
    known = lambda: set(hub.actors)  # noqa: E731
    log_path = Path(run.run_dir) / "console" / "interventions.jsonl"
    commands = ConsoleCommands(send, _instruction_table(run), log_path, known, run.link.control)
    return serve(make_app(hub, commands, policy), options, policy, say)


def serve(app, options: ConsoleOptions, policy, say=print) -> ConsoleServer:
    """Serve `app`, saying where (and any warning of the listen policy)."""
    server = ConsoleServer(app, options)
    if policy.warning:
        say(f"warning: {policy.warning}")
    token = "?token=<the token in " + str(options.token) + ">" if policy.token else ""
    say(f"operator console: {server.url}{token}")
    return server


class EvaluationsFile:
    """The run's evaluations (RUN/evals.jsonl) as [env steps, success rate] rows, read again
    only when the file grew."""

    def __init__(self, path: Path):
        self.path, self.size, self.cached = Path(path), -1, []

    def rows(self) -> list[dict]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size != self.size:
            rows = []
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue  # a line being written
            self.size, self.cached = size, rows
        return self.cached


def _instruction_table(run):
    """The run's instruction embeddings: its instructor's table, else one in the run folder (a new
    phrase then needs the language extra's encoder, said in one sentence when it is missing)."""
    from robokit.language.encoder import EmbeddingTable

    instructor = getattr(run.config, "instructor", None)
    path = Path(instructor) / "instructions.npz" if instructor else Path(run.run_dir) / "instructions.npz"
    return EmbeddingTable.open(path)


def _say_in_process(link, message: dict) -> dict:
    vector = np.frombuffer(message["embedding"], dtype="<f4")
    correction = link.say(message["text"], vector, message["actor"], message["steps"])
    return {"id": correction.id, "actors": 1}
