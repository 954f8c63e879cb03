"""Recordings for the RealSense tests: frames pushed through rs.software_device into rs.recorder."""

from __future__ import annotations

import time

import numpy as np
import pyrealsense2 as rs

W, H = 64, 48


def recorded_frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def record(
    path, frames: list[np.ndarray], serial: str = "000111", pace_s: float = 0.005, bgr: bool = False
) -> None:
    """Write `frames` (RGB) as a colour stream of a software device to a recording, as rgb8 or, with
    `bgr`, as bgr8 (the bytes in blue-green-red order, as OpenCV-minded recorders write them)."""
    device = rs.software_device()
    device.register_info(rs.camera_info.serial_number, serial)
    device.register_info(rs.camera_info.name, "robokit test camera")
    sensor = device.add_sensor("RGB Camera")
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height, intrinsics.fx, intrinsics.fy = W, H, 50.0, 50.0
    intrinsics.ppx, intrinsics.ppy, intrinsics.model = W / 2, H / 2, rs.distortion.none
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid, stream.fps, stream.bpp = rs.stream.color, 0, 0, 30, 3
    fmt = rs.format.bgr8 if bgr else rs.format.rgb8
    stream.width, stream.height, stream.fmt, stream.intrinsics = W, H, fmt, intrinsics
    profile = sensor.add_video_stream(stream)
    recorder = rs.recorder(str(path), device)
    sensor.open(profile)
    sensor.start(lambda frame: None)
    for i, image in enumerate(frames):
        frame = rs.software_video_frame()
        pixels = image[..., ::-1] if bgr else image
        frame.pixels, frame.bpp, frame.stride = np.ascontiguousarray(pixels).tobytes(), 3, W * 3
        frame.timestamp, frame.domain, frame.frame_number = (
            i * 1000 / 30,
            rs.timestamp_domain.hardware_clock,
            i,
        )
        frame.profile = profile.as_video_stream_profile()
        sensor.on_video_frame(frame)
        time.sleep(pace_s)
    sensor.stop()
    sensor.close()
    del recorder  # the recording is written when the recorder goes


def _intrinsics() -> rs.intrinsics:
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height, intrinsics.fx, intrinsics.fy = W, H, 50.0, 50.0
    intrinsics.ppx, intrinsics.ppy, intrinsics.model = W / 2, H / 2, rs.distortion.none
    return intrinsics


def record_rgbd(path, n: int, serial: str = "000222") -> None:
    """Colour frame i is all i; depth frame i is (500 + 10 i) mm everywhere; the two streams share
    intrinsics and an identity extrinsic, so alignment keeps the centre pixel."""
    device = rs.software_device()
    device.register_info(rs.camera_info.serial_number, serial)
    depth_sensor, color_sensor = device.add_sensor("Depth"), device.add_sensor("Color")
    streams = []
    for uid, (kind, fmt, bpp) in enumerate(
        ((rs.stream.depth, rs.format.z16, 2), (rs.stream.color, rs.format.rgb8, 3))
    ):
        stream = rs.video_stream()
        stream.type, stream.index, stream.uid, stream.fps, stream.bpp = kind, 0, uid, 30, bpp
        stream.width, stream.height, stream.fmt, stream.intrinsics = W, H, fmt, _intrinsics()
        streams.append(stream)
    depth_profile = depth_sensor.add_video_stream(streams[0])
    color_profile = color_sensor.add_video_stream(streams[1])
    depth_sensor.add_read_only_option(rs.option.depth_units, 0.001)
    identity = rs.extrinsics()
    identity.rotation, identity.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]
    depth_profile.register_extrinsics_to(color_profile, identity)
    recorder = rs.recorder(str(path), device)
    for sensor, profile in ((depth_sensor, depth_profile), (color_sensor, color_profile)):
        sensor.open(profile)
        sensor.start(lambda frame: None)
    for i in range(n):
        images = ((depth_sensor, depth_profile, np.full((H, W), 500 + 10 * i, np.uint16), 2),
                  (color_sensor, color_profile, np.full((H, W, 3), i, np.uint8), 3))  # fmt: skip
        for sensor, profile, image, bpp in images:
            frame = rs.software_video_frame()
            frame.pixels, frame.bpp, frame.stride = image.tobytes(), bpp, W * bpp
            frame.timestamp, frame.frame_number = i * 1000 / 30, i
            frame.domain = rs.timestamp_domain.hardware_clock
            frame.profile = profile.as_video_stream_profile()
            if bpp == 2:
                frame.depth_units = 0.001
            sensor.on_video_frame(frame)
        time.sleep(0.02)
    for sensor in (depth_sensor, color_sensor):
        sensor.stop()
        sensor.close()
    del recorder
