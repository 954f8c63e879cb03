"""Episode videos for `robokit eval --video`: an .mp4 written by ffmpeg (imageio-ffmpeg), or a .gif.

The ffmpeg process is started before JAX is imported: forking after JAX's threads exist risks a
deadlock (and JAX warns). Frames of another size than the video's are resized to it."""

from __future__ import annotations

from pathlib import Path

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
