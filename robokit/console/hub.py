"""What the operator console shows, kept up to date by the learner: each actor's newest camera
frames and status, and the run's progress. The learner's handlers feed it (in the learner's
thread); the web app reads it (in the server's thread); a lock keeps the two apart.

    hub = ConsoleHub(counters, actor_of, statuses, evaluations)   # see __init__
    learner.on("transitions", hub.take_transitions)    # newest frames, arm state, steps per actor
    learner.on("metrics", hub.take_metrics)            # finished episodes
    learner.on("corrections", hub.take_actions)        # what actors acted on, and when
    learner.on("interventions", hub.take_actions)
    hub.snapshot()                                     # JSON for the page
    hub.frame(actor, camera)                           # the newest Frame, with its JPEG bytes

Frames are kept newest-only and encoded to JPEG when a page asks for one it has not seen, once per
frame whoever asks: a slow browser gets fewer frames, never a queue of old ones.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("robokit.console")

RECENT_EPISODES = 20  # the success rate shown per actor is over its last 20 episodes
PROGRESS_POINTS = 2000  # finished episodes kept for the progress plot
ACTIONS_SHOWN = 30  # the newest corrections / controls actors acted on
WATCHED_WITHIN_S = 10.0  # an unwatched hub (no page for this long) keeps no frames, if told so


@dataclass
class ActorStatus:
    actor: int
    env_steps: int = 0
    episodes: int = 0
    episode_return: float = 0.0  # of the episode under way
    episode_steps: int = 0
    last_seen: float = 0.0
    recent: deque = field(default_factory=lambda: deque(maxlen=RECENT_EPISODES))
    tcp: list | None = None  # the arm's TCP position (m) and gripper width in the newest frame
    gripper: float | None = None

    def row(self, now: float) -> dict:
        return {
            "actor": self.actor,
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "episode_return": round(self.episode_return, 3),
            "episode_steps": self.episode_steps,
            "seen_s_ago": round(now - self.last_seen, 2) if self.last_seen else None,
            "recent_success": round(float(np.mean(self.recent)), 3) if self.recent else None,
            "tcp": self.tcp,
            "gripper": self.gripper,
        }


@dataclass
class Frame:
    pixels: np.ndarray
    seq: int
    received: float = 0.0  # time.time() when the learner took the batch it came in
    jpeg: bytes | None = None


class ConsoleHub:
    def __init__(self, counters=None, actor_of=None, statuses=None, evaluations=None, frames_unwatched=True):
        """`counters()`, if given, returns the learner's {"updates", "env_steps"} for the rates;
        `actor_of(source)` the actor id of a batch's source (a spool; default: the source);
        `statuses()` {actor: what it says it is doing} (the link's actor_statuses);
        `evaluations()` the run's evaluations ({"env_steps", "success_rate"} rows);
        `frames_unwatched` False: copy no frame while nobody watches (a run without --console)."""
        self.counters = counters
        self.actor_of = actor_of or (lambda source: source)
        self.statuses = statuses or dict
        self.evaluations = evaluations or list
        self.actions: deque = deque(maxlen=ACTIONS_SHOWN)
        self.quick: list[str] = []  # the run's known instructions: one-click corrections
        self.frames_unwatched, self.watched_at = frames_unwatched, -WATCHED_WITHIN_S
        self.lock = threading.Lock()
        self.actors: dict[int, ActorStatus] = {}
        self.frames: dict[tuple[int, str], Frame] = {}
        self.progress: deque = deque(maxlen=PROGRESS_POINTS)  # [env steps, success, return]
        self.env_steps = 0
        self._rate_mark: tuple[float, int, int] | None = None
        self.rates = {"env_steps_per_s": 0.0, "updates_per_s": 0.0}

    def take_transitions(self, batch) -> None:
        """A TransitionBatch from an actor: its newest frame of each image entry, its steps. It
        never raises: what the console shows must not disturb the learner (which would quarantine
        a batch whose handler failed)."""
        try:
            self._take_transitions(batch)
        except Exception:
            log.warning("the console could not show a batch", exc_info=True)

    def take_view(self, actor: int, frames: dict[str, np.ndarray]) -> None:
        """An actor's camera frames sent for the console alone ({camera: (H, W, 3) uint8}; an
        encoded env's transitions carry only their embedding); never raises, as take_transitions."""
        try:
            with self.lock:
                status = self._status(int(actor))
                status.last_seen = time.time()
                for camera, pixels in frames.items():
                    previous = self.frames.get((status.actor, camera))
                    seq = previous.seq + 1 if previous else 0
                    self.frames[(status.actor, camera)] = Frame(np.array(pixels), seq, status.last_seen)
        except Exception:
            log.warning("the console could not show an actor's cameras", exc_info=True)

    def wants_frames(self) -> bool:
        """Whether frames are worth keeping (and actors' views worth sending): a page looked within
        WATCHED_WITHIN_S, or the run serves its own page."""
        return self.frames_unwatched or time.monotonic() - self.watched_at <= WATCHED_WITHIN_S

    def take_metrics(self, rows: list[dict]) -> None:
        """Finished episodes (the metrics stream's rows); never raises, as take_transitions."""
        try:
            self._take_metrics(rows)
        except Exception:
            log.warning("the console could not show an episode's metrics", exc_info=True)

    def take_actions(self, rows: list[dict]) -> None:
        """Corrections and controls actors acted on ("corrections" / "interventions" rows)."""
        try:
            with self.lock:
                for row in rows:
                    what = row.get("text") or row.get("control")
                    acted = bool(row.get("acted", True))
                    item = {"time": float(row["time"]), "actor": int(row["actor"]), "what": str(what)[:200]}
                    self.actions.append({**item, "acted": acted})
        except Exception:
            log.warning("the console could not show what an actor acted on", exc_info=True)

    def _take_transitions(self, batch) -> None:
        actor = self.actor_of(int(batch.source))
        with self.lock:
            status = self._status(int(batch.source) if actor is None else int(actor))
            steps = int(np.sum(batch.env_steps))
            status.env_steps += steps
            self.env_steps += steps
            status.last_seen = time.time()
            ends = np.asarray(batch.terminated) | np.asarray(batch.truncated)
            for reward, end, n in zip(batch.rewards, ends, batch.env_steps, strict=True):
                status.episode_return += float(reward)
                status.episode_steps += int(n)
                if end:
                    status.episode_return, status.episode_steps = 0.0, 0
            newest = int(batch.next_index[-1]) if len(batch) else None
            if not self.wants_frames():
                newest = None  # nobody watches: the arm's state and frames are not copied
            state = batch.frames.get("state")
            if newest is not None and state is not None and state.ndim == 2 and state.shape[1] >= 7:
                # every robokit arm's state starts [TCP xyz, TCP velocity xyz, gripper width]
                status.tcp = [round(float(v), 4) for v in state[newest, :3]]
                status.gripper = round(float(state[newest, 6]), 4)
            for key, column in batch.frames.items():
                if newest is not None and column.ndim == 4 and column.dtype == np.uint8:
                    previous = self.frames.get((status.actor, key))
                    seq = previous.seq + 1 if previous else 0
                    self.frames[(status.actor, key)] = Frame(np.array(column[newest]), seq, status.last_seen)

    def _take_metrics(self, rows: list[dict]) -> None:
        with self.lock:
            for row in rows:
                status = self._status(int(row.get("actor", 0)))
                status.episodes += 1
                success = bool(row.get("success", False))
                status.recent.append(success)
                self.progress.append([self.env_steps, success, float(row.get("episode_return", 0.0))])

    def snapshot(self) -> dict:
        """Everything the page shows but the pixels, as JSON-able values."""
        now = time.time()
        self.watched_at = time.monotonic()
        statuses = self.statuses()
        evaluations = [
            [e["env_steps"], e["success_rate"]]
            for e in self.evaluations()
            if isinstance(e, dict) and "env_steps" in e and "success_rate" in e
        ]
        with self.lock:
            self._update_rates(now)
            for actor in statuses:
                self._status(actor)
            actors = [
                {**s.row(now), "link": statuses.get(s.actor)}
                for s in sorted(self.actors.values(), key=lambda s: s.actor)
            ]
            return {
                "t": "state",
                "time": now,
                "env_steps": self.env_steps,
                "actors": actors,
                "cameras": sorted([list(k) + [f.seq] for k, f in self.frames.items()]),
                "progress": list(self.progress),
                "evaluations": evaluations,
                "actions": list(self.actions),
                "quick": self.quick,
                "rates": dict(self.rates),
            }

    def watch(self, seen: dict[tuple[int, str], int]) -> dict:
        """What a console in its own process is sent (robokit.link.operator): the state, and each
        camera's newest frame unless its seq is the one `seen` names."""
        state = self.snapshot()
        frames = [[a, c, f.seq, f.received, f.jpeg] for (a, c), f in new_frames(self, seen).items()]
        return {"state": state, "frames": frames}

    def frame_seqs(self) -> dict[tuple[int, str], int]:
        """{(actor, camera): the newest frame's seq}."""
        with self.lock:
            return {key: frame.seq for key, frame in self.frames.items()}

    def frame(self, actor: int, camera: str) -> Frame | None:
        """The newest frame of `camera` on `actor`, its JPEG encoded once (outside the lock: the
        learner's handlers never wait on an encoder)."""
        with self.lock:
            frame = self.frames.get((actor, camera))
        if frame is not None and frame.jpeg is None:
            frame.jpeg = encode_jpeg(frame.pixels)  # two pages may both encode it: same bytes
        return frame

    def _status(self, actor: int) -> ActorStatus:
        if actor not in self.actors:
            self.actors[actor] = ActorStatus(actor)
        return self.actors[actor]

    def _update_rates(self, now: float) -> None:
        own = {"updates": 0, "env_steps": self.env_steps}
        counters = self.counters() if self.counters is not None else own
        mark = (now, int(counters["env_steps"]), int(counters["updates"]))
        if self._rate_mark is not None and now - self._rate_mark[0] >= 1.0:
            dt = now - self._rate_mark[0]
            self.rates = {
                "env_steps_per_s": round((mark[1] - self._rate_mark[1]) / dt, 2),
                "updates_per_s": round((mark[2] - self._rate_mark[2]) / dt, 2),
            }
            self._rate_mark = mark
        elif self._rate_mark is None:
            self._rate_mark = mark


def new_frames(hub, seen: dict[tuple[int, str], int]) -> dict[tuple[int, str], Frame]:
    """{(actor, camera): its newest Frame} of each camera whose newest seq is not the one `seen`
    holds, from a ConsoleHub or a console's RemoteHub (their frame_seqs() and frame())."""
    frames = {}
    for key, seq in hub.frame_seqs().items():
        frame = hub.frame(*key) if seen.get(key) != seq else None
        if frame is not None:
            frames[key] = frame
    return frames


def encode_jpeg(pixels: np.ndarray, quality: int = 85) -> bytes:
    """An RGB (or grey) uint8 image as JPEG bytes (Pillow: ~0.2 ms at 128 x 128)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()
