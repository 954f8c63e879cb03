"""robokit.drivers.realsense through the real pyrealsense2 pipeline, playing recordings made here
with rs.software_device + rs.recorder (no camera needed)."""

from __future__ import annotations

import time

import numpy as np
import pytest

rs = pytest.importorskip("pyrealsense2", reason="pip install 'robokit[real]'")

from robokit.drivers.realsense import (  # noqa: E402
    CameraError,
    RealSenseCamera,
    RealSenseConfig,
    list_cameras,
    process,
)
from robokit.types import StaleFrameError  # noqa: E402

W, H = 64, 48


def recorded_frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def record(path, frames: list[np.ndarray], serial: str = "000111") -> None:
    """Write `frames` as a colour stream of a software device to a recording."""
    device = rs.software_device()
    device.register_info(rs.camera_info.serial_number, serial)
    device.register_info(rs.camera_info.name, "robokit test camera")
    sensor = device.add_sensor("RGB Camera")
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height, intrinsics.fx, intrinsics.fy = W, H, 50.0, 50.0
    intrinsics.ppx, intrinsics.ppy, intrinsics.model = W / 2, H / 2, rs.distortion.none
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid, stream.fps, stream.bpp = rs.stream.color, 0, 0, 30, 3
    stream.width, stream.height, stream.fmt, stream.intrinsics = W, H, rs.format.rgb8, intrinsics
    profile = sensor.add_video_stream(stream)
    recorder = rs.recorder(str(path), device)
    sensor.open(profile)
    sensor.start(lambda frame: None)
    for i, image in enumerate(frames):
        frame = rs.software_video_frame()
        frame.pixels, frame.bpp, frame.stride = image.tobytes(), 3, W * 3
        frame.timestamp, frame.domain, frame.frame_number = (
            i * 1000 / 30,
            rs.timestamp_domain.hardware_clock,
            i,
        )
        frame.profile = profile.as_video_stream_profile()
        sensor.on_video_frame(frame)
        time.sleep(0.005)
    sensor.stop()
    sensor.close()
    del recorder  # the recording is written when the recorder goes


@pytest.fixture
def recording(tmp_path):
    frames = recorded_frames(12)
    path = tmp_path / "front.db3"
    record(path, frames)
    return path, frames


def play(path, **options) -> tuple[RealSenseCamera, list]:
    seen = []
    camera = RealSenseCamera(
        RealSenseConfig(serial="000111", width=W, height=H, playback=path, real_time=False, **options),
        on_frame=seen.append,
    )
    camera.connect()
    return camera, seen


def wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_recorded_frames_come_out_of_the_pipeline_pixel_exact(recording):
    path, frames = recording
    camera, seen = play(path, size=None)
    try:
        wait_for(lambda: len(seen) == len(frames))
        for got, sent in zip(seen, frames, strict=True):
            np.testing.assert_array_equal(got.rgb, sent)
        assert camera.read(max_age_s=5.0).rgb.shape == (H, W, 3)
    finally:
        camera.close()


def test_crop_and_resize_give_the_policy_its_size(recording):
    path, frames = recording
    camera, seen = play(path, crop=(8, 4, 56, 44), size=32)
    try:
        wait_for(lambda: len(seen) == len(frames))
        assert (camera.width, camera.height) == (32, 32)
        np.testing.assert_array_equal(seen[-1].rgb, process(frames[-1], (8, 4, 56, 44), 32))
        assert seen[-1].rgb.shape == (32, 32, 3)
    finally:
        camera.close()


def test_a_stream_that_stops_raises_a_stale_frame_error(recording):
    path, frames = recording
    camera, seen = play(path)
    try:
        wait_for(lambda: len(seen) == len(frames))  # the recording has ended: no new frames
        time.sleep(0.3)
        with pytest.raises(StaleFrameError, match="check its USB 3 cable"):
            camera.read(max_age_s=0.2)
    finally:
        camera.close()


def test_a_missing_camera_or_recording_is_one_sentence(tmp_path):
    assert isinstance(list_cameras(), list)  # empty on a machine without cameras
    with pytest.raises(CameraError, match="robokit find-cameras"):
        RealSenseCamera(RealSenseConfig(serial="no-such-serial")).connect()
    with pytest.raises(CameraError, match="does not exist"):
        RealSenseCamera(RealSenseConfig(serial="x", playback=tmp_path / "none.db3")).connect()
