"""Episode videos for `robokit eval --video`: an .mp4 written by ffmpeg (imageio-ffmpeg), or a .gif.

The ffmpeg process is started before JAX is imported: forking after JAX's threads exist risks a
deadlock (and JAX warns). Frames of another size than the video's are resized to it."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np


class VideoWriter:
    def __init__(self, path: Path, size: tuple[int, int], fps: int = 10):
        self.path, self.size = Path(path), size
        self.frames: list[np.ndarray] = []  # .gif: written at close
        self.ffmpeg = None
        if self.path.suffix.lower() != ".gif":
            import imageio_ffmpeg

            self.ffmpeg = imageio_ffmpeg.write_frames(str(self.path), size, fps=fps, macro_block_size=1)
            self.ffmpeg.send(None)  # starts ffmpeg now, while this process has one thread
        self.fps = fps

    def append(self, frame: np.ndarray) -> None:
        if frame.shape[1::-1] != self.size:
            from PIL import Image

            frame = np.asarray(Image.fromarray(frame).resize(self.size))
        if self.ffmpeg is not None:
            self.ffmpeg.send(np.ascontiguousarray(frame))
        else:
            self.frames.append(frame)

    def close(self) -> None:
        if self.ffmpeg is not None:
            self.ffmpeg.close()
        elif self.frames:
            import imageio

            imageio.mimwrite(self.path, self.frames, duration=1000 / self.fps, loop=0)


def video_size(render_size: tuple[int, int], cameras: int) -> tuple[int, int]:
    """(width, height) of a video of the render with `cameras` policy inputs in a column beside it."""
    width, height = render_size
    return (width + height // cameras if cameras else width, height)


class PolicyInputs(gym.Wrapper):
    """Keeps the camera frames of an env's newest observation (what a pixel policy is given, before
    any encoder) and draws them in a column beside the render: wrap the env before the policy's own
    wrappers, and send each render through `beside`."""

    def __init__(self, env: gym.Env, keys: tuple[str, ...]):
        super().__init__(env)
        self.keys, self.frames = keys, {}

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.frames = {k: obs[k] for k in self.keys}
        return obs, info

    def step(self, action):
        obs, *rest = self.env.step(action)
        self.frames = {k: obs[k] for k in self.keys}
        return (obs, *rest)

    def beside(self, render: np.ndarray) -> np.ndarray:
        import cv2

        height = render.shape[0]
        side = height // len(self.keys)
        column = []
        for key in self.keys:  # nearest: the policy's own pixels, enlarged
            tile = cv2.resize(np.asarray(self.frames[key]), (side, side), interpolation=cv2.INTER_NEAREST)
            cv2.putText(tile, f"policy input: {key}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 0), 1, cv2.LINE_AA)  # fmt: skip
            column.append(tile)
        column = np.concatenate(column, axis=0)
        pad = np.zeros((height - column.shape[0], side, 3), np.uint8)
        return np.concatenate([render, np.concatenate([column, pad], axis=0)], axis=1)
