"""Labelled frames on the real arm: an operator says "success" with a key press while the arm moves.

Keys (read on a thread; a terminal is put in cbreak mode, so no Enter is needed):
  s  success: this frame and the ones after it show the task done
  f  failure: from now on the frames do not
  n  next: end this episode now
  q  quit: end this episode and stop recording
Every episode starts labelled failure. Each frame keeps the label in force when it was taken.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from robokit.data.datasets import Episode, EpisodeRecorder, check_output_dir, write_dataset

KEYS_HELP = "keys: s = success from now on, f = failure from now on, n = next episode, q = quit"


class KeyLabels:
    def __init__(self, stream=None, on_key: Callable[[str], None] | None = None) -> None:
        """Reads `stream` (the terminal) a key at a time; `on_key(key)` also hears each key."""
        self.stream = sys.stdin if stream is None else stream
        self.on_key = on_key
        self.success, self.next_episode, self.quit = False, False, False
        self._restore = None
        fileno = getattr(self.stream, "fileno", None)
        if fileno is not None and self.stream.isatty():
            import termios
            import tty

            saved = termios.tcgetattr(fileno())
            tty.setcbreak(fileno())
            self._restore = lambda: termios.tcsetattr(fileno(), termios.TCSADRAIN, saved)
        threading.Thread(target=self._read, daemon=True, name="key-labels").start()

    def _read(self) -> None:
        while not self.quit:
            key = self.stream.read(1)
            if key == "":  # end of input: nothing more will be said
                return
            key = key.lower()
            if self.on_key is not None:
                self.on_key(key)
            if key == "s":
                self.success = True
            elif key == "f":
                self.success = False
            elif key == "n":
                self.next_episode = True
            elif key == "q":
                self.stop()

    def stop(self) -> None:
        """End this episode and the recording (what q does; the console's Stop)."""
        self.next_episode = self.quit = True

    def start_episode(self) -> None:
        self.success, self.next_episode = False, False

    def close(self) -> None:
        if self._restore is not None:
            with contextlib.suppress(Exception):
                self._restore()


class Wander:
    """Slow, smooth random motion (what the arm does while an operator labels, without a policy)."""

    def __init__(self, action_dim: int, seed: int = 0, scale: float = 0.5, smoothing: float = 0.8):
        self.rng, self.scale, self.smoothing = np.random.default_rng(seed), scale, smoothing
        self.action = np.zeros(action_dim, np.float32)

    def __call__(self, obs) -> np.ndarray:
        noise = self.rng.normal(0.0, self.scale, self.action.shape)
        self.action = np.clip(self.smoothing * self.action + (1 - self.smoothing) * noise, -1, 1)
        return self.action.astype(np.float32)


def record_labelled_real_frames(
    env,
    episodes: int,
    out: Path,
    labels: KeyLabels,
    policy: Callable[[dict], np.ndarray] | None = None,
    say: Callable[[str], None] = print,
) -> Path | None:
    """Run `episodes` episodes (to their time limit, or until 'n'/'q'), labelling each frame with the
    operator's current label, and save them as a Minari dataset (None if no frame was recorded)."""
    out = check_output_dir(out)
    policy = policy or Wander(env.action_space.shape[0])
    kept: list[Episode] = []
    say(KEYS_HELP)
    try:
        for index in range(episodes):
            if labels.quit:
                break
            obs, _ = env.reset()
            labels.start_episode()
            recorder = EpisodeRecorder()
            recorder.start(obs, {"success": labels.success})
            done = False
            while not done:
                action = policy(obs)
                obs, reward, terminated, truncated, _ = env.step(action)
                truncated = truncated or labels.next_episode
                recorder.add(action, obs, reward, terminated, truncated, {"success": labels.success})
                done = terminated or truncated or labels.next_episode
            episode = recorder.finish()
            kept.append(episode)
            positives = int(episode.infos["success"].sum())
            say(f"episode {index + 1}: {len(episode) + 1} frames, {positives} labelled success")
    except KeyboardInterrupt:
        say("interrupted: saving the episodes recorded so far")
    if not kept:
        return None
    return write_dataset(
        out, kept, env.observation_space, env.action_space,
        algorithm_name="robokit operator-labelled frames", description=f"{len(kept)} labelled episodes",
    )  # fmt: skip
