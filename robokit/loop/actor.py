"""The actor loop: act in an env with the newest policy it has, and send what happens to the learner.

actor = Actor(env, agent, link, seed=0)
while running:
    actor.collect(steps=1)       # never waits for the learner: acts randomly until params arrive

Before each step the actor takes the operator's newest correction, if the link has a new one
(robokit.link.corrections): an instructed env (robokit.language.instructed) runs it from that step
on, and a "corrections" row tells the learner when and on what it acted. It also takes the
operator's controls (robokit.link.control): pause and resume (a paused actor takes no step), stop
(`stop_requested`), and a success / failure label for the episode under way (an env that keeps
labelled frames, robokit.rewards.labels_log, labels its frames from that step on); an
"interventions" row tells the learner each one it acted on, and `link.report` what it is doing.
"""

from __future__ import annotations

import logging
import time

import jax
import numpy as np

from robokit.link.base import ActorLink
from robokit.types import Transition, TransitionBatch

log = logging.getLogger("robokit.actor")

VIEW_EVERY_S = 0.2  # an encoded env's camera frames go to the console at most 5 times a second


class Actor:
    def __init__(self, env, agent, link: ActorLink, seed: int = 0, actor_id: int = 0):
        self.env, self.agent, self.link, self.actor_id = env, agent, link, actor_id
        self.rng = np.random.default_rng(seed)
        self.key = jax.random.PRNGKey(seed)
        self.params, self.version = None, -1
        self.obs, info = env.reset(seed=seed)
        self.episode_return, self.episode_length = 0.0, 0
        self.env_steps, self.episodes = 0, 0
        self.keys = tuple(sorted(env.observation_space.spaces))
        self.correction_id = -1  # the last operator correction taken
        self.paused = self.stop_requested = False
        self.label: str | None = None  # the operator's label for the episode under way
        self.instruction: str | None = info.get("instruction")  # an instructed env's, in force
        self._camera_frames = _camera_frames_of(env)
        self._viewed_at = -VIEW_EVERY_S

    def refresh_params(self) -> None:
        latest = self.link.latest_params()
        if latest is not None and latest[0] > self.version:
            self.version, self.params = latest

    def act(self, obs) -> np.ndarray:
        if self.params is None:  # nothing learned yet: explore uniformly
            return self.rng.uniform(-1.0, 1.0, self.env.action_space.shape).astype(np.float32)
        self.key, sub = jax.random.split(self.key)
        batched = {k: v[None] for k, v in obs.items()}
        return np.asarray(self.agent.act(self.params, batched, sub, explore=True))[0]

    def collect(self, steps: int) -> int:
        """Take `steps` actions (each an action chunk's env steps with a chunking env), then send
        them as one TransitionBatch, and each finished episode's metrics; returns the actions taken
        (fewer once the operator pauses or stops this actor)."""
        self.refresh_params()
        rows = []
        for _ in range(steps):
            self.take_controls()
            if self.paused or self.stop_requested:
                break
            self.follow_corrections()
            action = self.act(self.obs)
            next_obs, reward, terminated, truncated, info = self.env.step(action)
            env_steps = int(info.get("chunk_steps", 1))  # an action chunk runs several
            # the same next_obs object starts the next row, so the batch holds its frame once
            rows.append(
                Transition(
                    self.obs, action, float(reward), bool(terminated), bool(truncated), next_obs, env_steps
                )
            )
            self.env_steps += env_steps
            self.episode_return += float(reward)
            self.episode_length += env_steps
            self.instruction = info.get("instruction", self.instruction)
            if terminated or truncated:
                self._end_episode(bool(info.get("success", False)))
            else:
                self.obs = next_obs
        if rows:
            self.link.send("transitions", TransitionBatch.from_rows(rows, self.keys, self.actor_id))
        self.report()
        self.show_cameras()
        return len(rows)

    def show_cameras(self) -> None:
        """Hand the link an encoded env's newest camera frames for the console (its transitions
        carry only their embedding), at most every VIEW_EVERY_S; the link sends them only while a
        console watches."""
        view = getattr(self.link, "view", None)
        now = time.monotonic()
        if self._camera_frames is None or view is None or now - self._viewed_at < VIEW_EVERY_S:
            return
        self._viewed_at = now
        frames = self._camera_frames()
        if frames:
            view(frames)

    def take_controls(self) -> None:
        """Act on the operator's controls that arrived (none: at once)."""
        take = getattr(self.link, "take_controls", None)
        commands = take() if take is not None else []
        for command in commands:
            if command in ("pause", "resume"):
                self.paused = command == "pause"
            elif command == "stop":
                self.stop_requested = True
            else:
                self._label(command)
            row = {"actor": self.actor_id, "time": time.time(), "control": command, "episode": self.episodes,
                   "step": self.episode_length, "env_step": self.env_steps}  # fmt: skip
            self.link.send("interventions", [row])
            log.info("actor %d: %s (operator)", self.actor_id, command)
        if commands:
            self.report(urgent=True)

    def _label(self, verdict: str) -> None:
        self.label = verdict
        try:
            label = self.env.get_wrapper_attr("label")
        except AttributeError:
            return  # the label still reaches the learner (an "interventions" row) and the page
        label(verdict == "success")

    def report(self, urgent: bool = False) -> None:
        """Tell the link what this actor is doing (the console shows it); `urgent`: now."""
        report = getattr(self.link, "report", None)
        if report is not None:
            text = self.instruction[:200] if isinstance(self.instruction, str) else None
            status = {"paused": self.paused, "stopping": self.stop_requested, "episode": self.episodes,
                      "step": self.episode_length, "instruction": text, "label": self.label}  # fmt: skip
            report(status, urgent)

    def follow_corrections(self) -> None:
        """Take the operator's newest correction, if it is new: the env runs it from this step."""
        latest = getattr(self.link, "latest_instruction", None)
        correction = latest() if latest is not None else None
        if correction is None or correction.id == self.correction_id:
            return
        self.correction_id = correction.id
        row = {"actor": self.actor_id, "time": time.time(), "text": correction.text, "id": correction.id,
               "env_step": self.env_steps}  # fmt: skip
        try:
            correct = self.env.get_wrapper_attr("correct")
        except AttributeError:
            log.warning(
                "actor %d ignored correction %r: its env takes no instructions",
                self.actor_id,
                correction.text,
            )
            row["acted"] = False
        else:
            self.obs, nearest, cosine = correct(
                self.obs, correction.text, correction.embedding, correction.steps
            )
            log.info(
                "actor %d runs correction %d %r for %d steps (nearest known: %r, cosine %.2f)",
                *(self.actor_id, correction.id, correction.text, correction.steps, nearest, cosine),
            )
            row.update(acted=True, nearest=nearest, cosine=round(cosine, 4))
        self.link.send("corrections", [row])

    def _end_episode(self, success: bool) -> None:
        self.episodes += 1
        row = {
            "actor": self.actor_id,
            "episode_return": self.episode_return,
            "episode_length": self.episode_length,
            "success": success,
            "time": time.time(),
        }
        if self.label is not None:
            row["label"] = self.label
        self.link.send("metrics", [row])
        self.obs, info = self.env.reset()
        self.episode_return, self.episode_length, self.label = 0.0, 0, None
        self.instruction = info.get("instruction")


def run_actor(
    actor: Actor,
    link,
    should_stop,
    on_learner_lost: str = "continue",
    send_every: int = 1,
    max_steps: int | None = None,
) -> int:
    """Drive `actor` until `should_stop()` or `max_steps`; returns the env steps taken.

    While the learner is unreachable the actor goes on with its last params ("continue"), or stops
    stepping ("hold": a real arm holds its pose; its driver keeps the last command)."""
    steps = 0
    while not should_stop() and not actor.stop_requested and (max_steps is None or steps < max_steps):
        if on_learner_lost == "hold" and not getattr(link, "connected", True):
            time.sleep(0.05)
            continue
        if actor.paused:  # held still (a real arm's driver keeps its last command) until resumed
            time.sleep(0.01)
            actor.take_controls()
            continue
        steps += actor.collect(send_every)
    return steps


def _camera_frames_of(env):
    """The env's camera_frames() (robokit.agents.pose_encoder.Encoded), if it has one."""
    try:
        return env.get_wrapper_attr("camera_frames")
    except AttributeError:
        return None
