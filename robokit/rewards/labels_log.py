"""An operator's success / failure labels on an actor's episodes, kept as labelled frames: what a
reward classifier trains on (`robokit train-classifier --data`), the same as `robokit record
--frames` makes from key presses on a real arm.

    env = LabelsLog(env, run_dir / "labels" / "actor_0")   # every actor env (robokit.loop.build)
    env.get_wrapper_attr("label")(True)                    # the console's "success" button

Labels follow the key presses' rule (robokit.envs.labelling): every episode starts labelled failure,
and a label holds from the step it was given on. Each episode the operator labelled is written, when
it ends, as its own Minari dataset episode_<n> in the folder: infos["success"] is the operator's
label of each frame, infos["sim_success"] the env's own success flag (the simulator's; always
False on a real arm), to see how the two agree. Episodes nobody labelled are not kept.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

from robokit.data.datasets import EpisodeRecorder, write_next_episode


class LabelsLog(gym.Wrapper):
    def __init__(self, env: gym.Env, folder: Path):
        super().__init__(env)
        self.folder = Path(folder)
        self.recorder = EpisodeRecorder()
        self.success, self.labelled = False, False
        self.written = 0

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.success, self.labelled = False, False
        self.recorder.start(obs, self._info(info), seed=seed)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.recorder.add(action, obs, reward, terminated, truncated, self._info(info))
        if (terminated or truncated) and self.labelled:
            self._write(self.recorder.finish())
        return obs, reward, terminated, truncated, info

    def label(self, success: bool) -> None:
        """The operator's verdict, from the newest frame of the episode under way on (the frame
        the operator was looking at when the label was given)."""
        self.success, self.labelled = bool(success), True
        self.recorder.relabel_last(success=self.success)

    def _info(self, info: dict) -> dict:
        return {"success": self.success, "sim_success": bool(info.get("success", False))}

    def _write(self, episode) -> None:
        self.written = write_next_episode(
            self.folder, self.written, episode, self, algorithm_name="robokit actor + operator labels",
            description="an episode an operator labelled success / failure from the console",
        )  # fmt: skip
