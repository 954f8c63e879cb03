"""robokit.drivers.realsense through the real pyrealsense2 pipeline, playing recordings made here
with rs.software_device + rs.recorder (no camera needed)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import REALSENSE_MISSING

rs = pytest.importorskip("pyrealsense2", reason=REALSENSE_MISSING, exc_type=ImportError)

from realsense_recording import H, W, record, recorded_frames  # noqa: E402

from robokit.drivers.realsense import (  # noqa: E402
    CameraError,
    RealSenseCamera,
    RealSenseConfig,
    list_cameras,
)
from robokit.types import StaleFrameError  # noqa: E402
from robokit.vision.image import ImageSpec, to_policy_image  # noqa: E402


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


def wait_until_played(camera: RealSenseCamera, seen: list) -> None:
    """Until no frame has come for 0.5 s (a pipeline may drop frames a slow reader did not take)."""
    wait_for(lambda: len(seen) > 0)
    wait_for(lambda: time.monotonic() - seen[-1].stamp > 0.5)


def recorded_index(image: np.ndarray, frames: list[np.ndarray]) -> int:
    matches = [i for i, frame in enumerate(frames) if np.array_equal(image, frame)]
    assert len(matches) == 1, "a delivered frame matches no recorded frame exactly"
    return matches[0]


def test_recorded_frames_come_out_of_the_pipeline_pixel_exact(recording):
    path, frames = recording
    camera, seen = play(path, size=None)
    try:
        wait_until_played(camera, seen)
        indices = [recorded_index(frame.rgb, frames) for frame in seen]
        assert indices == sorted(set(indices)) and len(indices) >= len(frames) // 2, indices
        assert camera.read(max_age_s=5.0).rgb.shape == (H, W, 3)
    finally:
        camera.close()


def test_a_camera_in_a_with_block_connects_and_always_closes(recording):
    path, _ = recording
    config = RealSenseConfig(serial="000111", width=W, height=H, playback=path, real_time=False)
    with pytest.raises(RuntimeError, match="inside"), RealSenseCamera(config) as camera:
        assert camera._running  # connected on entering the block
        raise RuntimeError("inside the block")
    assert not camera._running and not camera._thread.is_alive()


def test_crop_and_resize_give_the_policy_its_size(recording):
    path, frames = recording
    camera, seen = play(path, crop=(8, 4, 56, 44), size=32)
    try:
        wait_until_played(camera, seen)
        assert (camera.width, camera.height) == (32, 32)
        expected = [to_policy_image(frame, ImageSpec(32, (8, 4, 56, 44))) for frame in frames]
        recorded_index(seen[-1].rgb, expected)  # exactly one recorded frame, cropped and resized
        assert seen[-1].rgb.shape == (32, 32, 3)
    finally:
        camera.close()


def test_a_stream_that_stops_raises_a_stale_frame_error(recording):
    path, _ = recording
    camera, seen = play(path)
    try:
        wait_until_played(camera, seen)  # the recording has ended: no new frames
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


def test_depth_comes_aligned_to_colour_in_metres(tmp_path):
    from realsense_recording import record_rgbd

    record_rgbd(tmp_path / "rgbd.db3", 20)
    seen = []
    camera = RealSenseCamera(
        RealSenseConfig(
            serial="000222", width=W, height=H, depth=True, size=None, playback=tmp_path / "rgbd.db3"
        ),
        on_frame=seen.append,
    )
    camera.connect()
    try:
        wait_until_played(camera, seen)
    finally:
        camera.close()
    assert len(seen) >= 5
    for frame in seen:
        i = int(frame.rgb[0, 0, 0])
        assert frame.depth is not None and frame.depth.shape == (H, W)
        assert abs(float(frame.depth[H // 2, W // 2]) - (0.5 + 0.01 * i)) < 1e-6, i
