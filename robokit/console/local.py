"""The console for a loop that runs its env in this process (train-reset-free, record --frames on a
real arm): the env is Watched, so each step's frames and arm state reach a ConsoleHub, and the page's
controls act here: pause holds the env still before its next step, stop asks the loop to end, and
the Success / Failure buttons answer the operator's verdicts on a claimed success
(robokit.rewards.operator_verdicts) or, while none is claimed, set the label of the frames being
recorded (as the s / f keys do: robokit.envs.labelling.KeyLabels).

    hub = ConsoleHub(statuses=...)
    env = Watched(make_env(), hub)
    controls = LocalControls(watched_envs, verdicts, stop=...)
    commands = ConsoleCommands(no_say, table, log, lambda: {0}, controls)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from robokit.link.wire import MessageError
from robokit.types import Transition, TransitionBatch


class Watched(gym.Wrapper):
    """Shows each step of `env` on the hub as actor `actor`'s; waits before a step while paused."""

    def __init__(self, env: gym.Env, hub, actor: int = 0):
        super().__init__(env)
        self.hub, self.actor = hub, actor
        self.keys = tuple(sorted(env.observation_space.spaces))
        self.obs = None
        self.resumed = threading.Event()
        self.resumed.set()

    def reset(self, *, seed=None, options=None):
        self.obs, info = self.env.reset(seed=seed, options=options)
        return self.obs, info

    def step(self, action):
        self.resumed.wait()  # paused: the env (a real arm: its driver holds the pose) waits here
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.obs is not None:
            row = Transition(self.obs, np.asarray(action, np.float32), float(reward), bool(terminated),
                             bool(truncated), obs, 1)  # fmt: skip
            self.hub.take_transitions(TransitionBatch.from_rows([row], self.keys, self.actor))
            if terminated or truncated:
                success = bool(info.get("success", False))
                self.hub.take_metrics([{"actor": self.actor, "success": success, "episode_return": 0.0}])
        self.obs = obs
        return obs, reward, terminated, truncated, info


class LocalControls:
    """The console's controls for the envs of this process: call(actor, command, who) as a link's
    control would be, acting at once."""

    def __init__(self, watched: list[Watched], verdicts=None, stop: Callable[[], None] | None = None,
                 labels=None):  # fmt: skip
        self.watched, self.verdicts, self.stop, self.labels = watched, verdicts, stop, labels
        self.paused = self.stopping = False

    def __call__(self, actor: int, command: str, who: str) -> dict:
        if command in ("pause", "resume"):
            self.paused = command == "pause"
            for env in self.watched:
                (env.resumed.clear if self.paused else env.resumed.set)()
        elif command == "stop":
            self.stopping = True
            for env in self.watched:
                env.resumed.set()  # a paused loop must reach its end
            if self.stop is not None:
                self.stop()
        elif self.verdicts is not None and self.verdicts.give(command == "success"):
            pass  # the answer to a claimed success
        elif self.labels is not None:
            self.labels.success = command == "success"  # the frames from now on
        else:
            raise MessageError("no claimed success is waiting for a verdict now")
        return {"t": "controlled", "id": int(time.time() * 1000), "actor": actor, "command": command}

    def status(self) -> dict[int, dict]:
        waiting = self.verdicts is not None and self.verdicts.asking
        status = {"paused": self.paused, "stopping": self.stopping, "waiting": waiting, "seen_s_ago": 0.0}
        if self.labels is not None:
            status["label"] = "success" if self.labels.success else "failure"
        return {0: status}


def serve_local(options, run_dir, verdicts=None, say=print, labels=None, stop=None):
    """Serve the console for a loop in this process: (the server, watch(env) -> Watched env). The
    page's stop calls `stop()`, by default ending the loop as Ctrl-C does (SIGINT to this process);
    `labels` (a KeyLabels) takes the Success / Failure buttons no claim waits for. The page's
    commands are logged in RUN_DIR/console/interventions.jsonl."""
    import os
    import signal
    from pathlib import Path

    from robokit.console.app import make_app
    from robokit.console.commands import ConsoleCommands
    from robokit.console.hub import ConsoleHub
    from robokit.console.security import ListenPolicy
    from robokit.console.server import EvaluationsFile, serve
    from robokit.language.encoder import EmbeddingTable

    policy = ListenPolicy.check(options.host, options.token, options.cert, options.key, options.insecure)
    watched: list[Watched] = []
    stop = stop or (lambda: os.kill(os.getpid(), signal.SIGINT))
    controls = LocalControls(watched, verdicts, stop, labels)
    evaluations = EvaluationsFile(Path(run_dir) / "evals.jsonl")
    hub = ConsoleHub(statuses=controls.status, evaluations=evaluations.rows)

    def no_corrections(message: dict) -> dict:
        raise MessageError("this loop takes no corrections (it has no instructions)")

    log = Path(run_dir) / "console" / "interventions.jsonl"
    commands = ConsoleCommands(no_corrections, EmbeddingTable(), log, lambda: {0}, controls)
    server = serve(make_app(hub, commands, policy), options, policy, say)

    def watch(env):
        watched.append(Watched(env, hub))
        return watched[-1]

    return server, watch
