"""RealSense cameras over pyrealsense2, behind the Camera interface.

A background thread keeps the newest frame (colour, and depth aligned to it when asked), cropped and
resized to the policy's size; `read(max_age_s)` raises StaleFrameError when the stream has stopped
(a cable pulled, a USB 2 port starving it). `playback` plays a recording (.db3 / .bag) through the
same pipeline, which is how the tests run without a camera.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robokit.types import Device, Frame, StaleFrameError
from robokit.vision.image import ImageSpec, crop, to_policy_image


class CameraError(RuntimeError):
    """A camera cannot be opened; the message says what to do."""


@dataclass(frozen=True)
class RealSenseConfig:
    serial: str
    name: str = "front"
    width: int = 640
    """Capture size and rate (a mode the camera supports)."""
    height: int = 480
    fps: int = 30
    depth: bool = False
    """Also stream depth, aligned to the colour image, in metres."""
    crop: tuple[int, int, int, int] | None = None
    """(x0, y0, x1, y1) of the captured image to keep, before resizing."""
    size: int | None = 128
    """Side of the square image handed to the policy (None: keep the cropped size)."""
    fy: float | None = None
    """Vertical focal length in pixels at width x height (`rs-enumerate-devices -c` lists it): a
    simulated camera given this config frames the scene as this one does (make(..., cameras_like=))."""
    playback: Path | None = None
    """Play this recording instead of opening a device."""
    real_time: bool = True
    """Play a recording at its recorded pace (False: as fast as it can be read)."""
    loop: bool = False
    """Play a recording over and over."""


#: what pyrealsense2's wheel needs from the system
LIBUSB_FIX = "install Debian's libusb-1.0-0 (sudo apt-get install libusb-1.0-0)"


def _rs():
    try:
        import pyrealsense2 as rs
    except ModuleNotFoundError:
        raise CameraError("pyrealsense2 is not installed: pip install 'robokit[real]'.") from None
    except ImportError as err:  # installed, but a system library is missing
        raise CameraError(f"pyrealsense2 cannot load ({err}): {LIBUSB_FIX}.") from None
    return rs


def list_cameras() -> list[dict[str, str]]:
    """Connected RealSense devices (name, serial, firmware, USB type); an empty list is normal."""
    rs = _rs()
    found = []
    for device in rs.context().query_devices():

        def info(key, d=device):
            return d.get_info(key) if d.supports(key) else ""

        found.append(
            {
                "name": info(rs.camera_info.name),
                "serial": info(rs.camera_info.serial_number),
                "firmware": info(rs.camera_info.firmware_version),
                "usb": info(rs.camera_info.usb_type_descriptor),
            }
        )
    return found


class RealSenseCamera(Device):
    def __init__(self, config: RealSenseConfig, on_frame: Callable[[Frame], None] | None = None):
        self.config, self.name, self.on_frame = config, config.name, on_frame
        crop = config.crop
        cropped = (crop[2] - crop[0], crop[3] - crop[1]) if crop else (config.width, config.height)
        self.width, self.height = (config.size, config.size) if config.size else cropped
        self._latest: Frame | None = None
        self._lock = threading.Lock()
        self._running = False
        self.frames = 0

    def connect(self) -> None:
        rs, c = _rs(), self.config
        rs_config = rs.config()
        if c.playback is not None:
            if not Path(c.playback).exists():
                raise CameraError(
                    f"recording {c.playback} does not exist: pass the path of a .db3 or .bag file."
                )
            rs_config.enable_device_from_file(str(c.playback), repeat_playback=c.loop)
        else:
            serials = [d["serial"] for d in list_cameras()]
            if c.serial not in serials:
                raise CameraError(
                    f"no RealSense camera with serial {c.serial} (connected: {serials or 'none'}): check the "
                    "serial in the config (`robokit find-cameras` lists them) and the USB 3 cable."
                )
            rs_config.enable_device(c.serial)
            rs_config.enable_stream(rs.stream.color, c.width, c.height, rs.format.rgb8, c.fps)
            if c.depth:
                rs_config.enable_stream(rs.stream.depth, c.width, c.height, rs.format.z16, c.fps)
        self._pipeline = rs.pipeline()
        try:
            profile = self._pipeline.start(rs_config)
        except RuntimeError as err:
            raise CameraError(
                f"camera {c.name} ({c.serial}) did not start ({err}): pick a mode it supports."
            ) from None
        if c.playback is not None:
            profile.get_device().as_playback().set_real_time(c.real_time)
        self._orders = {rs.format.rgb8: "rgb", rs.format.bgr8: "bgr"}
        color = profile.get_stream(rs.stream.color).as_video_stream_profile()
        try:
            self._spec(color.format()).check(color.width(), color.height(), f"camera {c.name}")
        except ValueError:
            self._pipeline.stop()
            raise
        self._align = rs.align(rs.stream.color) if c.depth else None
        self._depth_scale = 0.001
        for sensor in profile.get_device().query_sensors():
            if sensor.is_depth_sensor():
                self._depth_scale = sensor.as_depth_sensor().get_depth_scale()
        self._running = True
        self._thread = threading.Thread(target=self._serve, name=f"realsense-{c.name}", daemon=True)
        self._thread.start()

    def read(self, max_age_s: float = 0.1) -> Frame:
        with self._lock:
            frame = self._latest
        age = float("inf") if frame is None else time.monotonic() - frame.stamp
        if age > max_age_s:
            c = self.config
            raise StaleFrameError(
                f"camera {c.name} ({c.serial}) has no frame newer than {max_age_s} s "
                f"({'none yet' if frame is None else f'newest is {age:.2f} s old'}): check its USB 3 cable "
                "and that no other program holds the camera."
            )
        return frame

    def _spec(self, stream_format) -> ImageSpec:
        """The shared image pipeline's spec for this camera's colour stream (robokit.vision.image)."""
        order = self._orders.get(stream_format)
        if order is None:
            raise CameraError(
                f"camera {self.config.name} streams colour as {stream_format}: record or stream rgb8 "
                "or bgr8 colour."
            )
        return ImageSpec(self.config.size, self.config.crop, order)

    def close(self) -> None:
        if self._running:
            self._running = False
            self._thread.join(timeout=3)
            self._pipeline.stop()

    def _serve(self) -> None:
        c = self.config
        while self._running:
            try:
                ok, frames = self._pipeline.try_wait_for_frames(200)
            except RuntimeError:
                ok = False
            if not ok:
                continue
            if self._align is not None:
                frames = self._align.process(frames)
            color = frames.get_color_frame()
            depth = None
            if self._align is not None and frames.get_depth_frame():
                raw = (
                    np.asanyarray(frames.get_depth_frame().get_data()).astype(np.float32) * self._depth_scale
                )
                depth = np.ascontiguousarray(crop(raw, c.crop))
            spec = self._spec(color.get_profile().format())
            rgb = to_policy_image(np.asanyarray(color.get_data()), spec)
            frame = Frame(rgb=rgb, depth=depth, stamp=time.monotonic())
            with self._lock:
                self._latest = frame
                self.frames += 1
            if self.on_frame is not None:
                self.on_frame(frame)
