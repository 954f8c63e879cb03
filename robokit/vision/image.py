"""One image pipeline from a camera's frame to the policy's input, for every camera robokit has: the
simulated cameras (robokit.envs.sim.camera), the RealSense driver and its recorded-stream playback
(robokit.drivers.realsense). A policy trained in simulation then sees real frames framed, sized and
coloured the way it saw simulated ones.

    spec = ImageSpec(size=128, crop=(80, 0, 560, 480), order="rgb")
    image = to_policy_image(frame, spec)     # H x W x 3 uint8 -> size x size x 3 uint8, RGB

Steps, in this order: the crop (x0, y0, x1, y1 of the camera's frame), the colour order to RGB, the
resize to size x size with area interpolation (OpenCV's INTER_AREA: each output pixel averages the
input pixels it covers, so a downsized frame does not alias; linear when enlarging).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

MIN_SIZE, MAX_SIZE = 8, 2048


@dataclass(frozen=True)
class ImageSpec:
    size: int | None = 128
    """Side of the square image the policy reads (None: the cropped size)."""
    crop: tuple[int, int, int, int] | None = None
    """(x0, y0, x1, y1) of the camera's frame to keep, before resizing (None: all of it)."""
    order: Literal["rgb", "bgr"] = "rgb"
    """The colour order of the camera's frames (the policy always reads RGB)."""

    def check(self, width: int, height: int, camera: str = "the camera") -> None:
        """One sentence naming the fix if frames of width x height cannot give this image."""
        if self.size is not None and not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(
                f"image size {self.size} for {camera} is impossible: use {MIN_SIZE} to {MAX_SIZE}."
            )
        if self.order not in ("rgb", "bgr"):
            raise ValueError(f"colour order {self.order!r} for {camera} is unknown: use rgb or bgr.")
        if self.crop is not None:
            x0, y0, x1, y1 = self.crop
            if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                raise ValueError(
                    f"crop {tuple(self.crop)} does not fit {camera}'s {width}x{height} frames: give "
                    f"(x0, y0, x1, y1) with 0 <= x0 < x1 <= {width} and 0 <= y0 < y1 <= {height}."
                )


def crop(frame: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """The part of `frame` (any dtype: colour or depth) inside box (x0, y0, x1, y1)."""
    if box is None:
        return frame
    x0, y0, x1, y1 = box
    return frame[y0:y1, x0:x1]


def to_policy_image(frame: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """The policy's input for one camera frame: cropped, RGB, resized; always a new contiguous uint8
    array (never a view of the camera's buffer, which the next frame overwrites)."""
    import cv2

    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"a camera frame must be H x W x 3 uint8 colour, got {frame.dtype} {frame.shape}: stream "
            "colour (rgb8 or bgr8), not depth or infrared, from this camera."
        )
    image = np.ascontiguousarray(crop(frame, spec.crop))
    if spec.order == "bgr":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if spec.size is not None and image.shape[:2] != (spec.size, spec.size):
        shrinking = image.shape[0] >= spec.size and image.shape[1] >= spec.size
        method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        image = cv2.resize(image, (spec.size, spec.size), interpolation=method)
    return image.copy() if np.shares_memory(image, frame) else image
