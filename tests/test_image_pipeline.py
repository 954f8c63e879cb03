"""The one image pipeline (robokit.vision.image) on its own, and through the real pyrealsense2
pipeline playing recordings of a known pattern in both colour orders."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import REALSENSE_MISSING

from robokit.vision.image import ImageSpec, to_policy_image

RED, BLUE = (255, 0, 0), (0, 0, 255)


def halves(height: int = 48, width: int = 64) -> np.ndarray:
    """Left half red, right half blue (RGB), with a green 8 x 8 square at the top left corner."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = RED
    image[:, width // 2 :] = BLUE
    image[:8, :8] = (0, 255, 0)
    return image


def test_area_interpolation_averages_what_each_output_pixel_covers():
    checker = np.indices((64, 64)).sum(axis=0) % 2 * 255  # one-pixel checker: 0, 255, 0, ...
    frame = np.repeat(checker[..., None], 3, axis=2).astype(np.uint8)
    image = to_policy_image(frame, ImageSpec(size=16))
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    assert np.all(np.abs(image.astype(int) - 128) <= 1)  # nearest or bilinear would alias to 0 / 255


def test_crop_colour_order_and_size_put_a_known_pattern_where_expected():
    frame = halves()
    right = to_policy_image(frame, ImageSpec(size=16, crop=(32, 0, 64, 48)))
    assert np.all(right == BLUE)
    left = to_policy_image(frame, ImageSpec(size=48, crop=(0, 0, 32, 48)))  # 32 px wide -> 48
    assert np.all(left[:6, :10] == (0, 255, 0)) and np.all(left[10:, 14:] == RED)  # green: 8 -> 12 px
    bgr = np.ascontiguousarray(frame[..., ::-1])
    swapped = to_policy_image(bgr, ImageSpec(size=16, crop=(32, 0, 64, 48), order="bgr"))
    np.testing.assert_array_equal(swapped, right)


@pytest.mark.parametrize(
    ("frame", "spec", "fix"),
    [
        (np.zeros((48, 64), np.uint16), ImageSpec(), "stream colour"),
        (np.zeros((48, 64, 3), np.float32), ImageSpec(), "stream colour"),
    ],
)
def test_a_frame_that_is_not_colour_is_one_sentence(frame, spec, fix):
    with pytest.raises(ValueError, match=fix):
        to_policy_image(frame, spec)


@pytest.mark.parametrize(
    ("spec", "fix"),
    [
        (ImageSpec(crop=(0, 0, 65, 48)), r"0 <= x0 < x1 <= 64"),
        (ImageSpec(crop=(10, 10, 10, 20)), r"does not fit camera front's 64x48"),
        (ImageSpec(size=4), "use 8 to 2048"),
        (ImageSpec(order="yuv"), "use rgb or bgr"),
    ],
)
def test_a_spec_that_cannot_fit_the_camera_is_one_sentence(spec, fix):
    with pytest.raises(ValueError, match=fix):
        spec.check(64, 48, "camera front")


@pytest.mark.parametrize("bgr", [False, True])
def test_a_recorded_realsense_stream_reaches_the_policy_cropped_resized_and_rgb(tmp_path, bgr):
    """Real pyrealsense2 playback of the pattern, recorded as rgb8 and as bgr8: the same policy image."""
    pytest.importorskip("pyrealsense2", reason=REALSENSE_MISSING, exc_type=ImportError)
    from realsense_recording import record

    from robokit.drivers.realsense import RealSenseCamera, RealSenseConfig

    path = tmp_path / "pattern.db3"
    record(path, [halves()] * 6, bgr=bgr)
    seen = []
    config = RealSenseConfig(serial="000111", width=64, height=48, playback=path, real_time=False,
                             crop=(0, 0, 48, 48), size=24)  # fmt: skip
    camera = RealSenseCamera(config, on_frame=seen.append)
    camera.connect()
    try:
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        image = seen[-1].rgb
    finally:
        camera.close()
    assert image.shape == (24, 24, 3)
    assert np.all(image[:4, :4] == (0, 255, 0))  # the green corner: 8 of 48 px -> 4 of 24
    assert np.all(image[8:, 4:15] == RED) and np.all(image[:, 17:] == BLUE)  # x 0-31 red, 32-47 blue
    np.testing.assert_array_equal(image, to_policy_image(halves(), ImageSpec(24, (0, 0, 48, 48))))


def _robot_yaml(tmp_path, cameras: str):
    path = tmp_path / "robot.yaml"
    path.write_text(f"robot: {{ip: 127.0.0.1}}\ncameras:\n{cameras}")
    return str(path)


def test_a_simulated_camera_frames_the_scene_as_the_robot_yaml_camera_does(tmp_path, make_env):
    # fy giving the front camera's own 50 degrees, no crop: the very frame of the plain sim camera
    fy_50 = 64 / np.tan(np.radians(25))
    same = _robot_yaml(tmp_path, f"  front: {{serial: '1', width: 128, height: 128, fy: {fy_50}, size: 128}}")
    plain, like = make_env("PickCubeVision-v0"), make_env("PickCubeVision-v0", cameras_like=same)
    a, b = plain.reset(seed=3)[0], like.reset(seed=3)[0]
    np.testing.assert_array_equal(a["front"], b["front"])
    # a 640x480 camera with a 480x480 crop to 64 px and a wider lens: its size, and the cube smaller
    wide = _robot_yaml(
        tmp_path,
        "  front: {serial: '1', width: 640, height: 480, crop: [80, 0, 560, 480], size: 64, fy: 300}",
    )
    env = make_env("PickCubeVision-v0", cameras_like=wide)
    obs = env.reset(seed=3)[0]
    assert obs["front"].shape == (64, 64, 3) and obs["wrist"].shape == (128, 128, 3)
    model = env.unwrapped.task.world.model
    fovy = model.cam_fovy[model.camera("front").id]
    assert fovy == pytest.approx(np.degrees(2 * np.arctan(240 / 300)))  # 77 degrees, from 50
    assert env.observation_space.contains(obs)


def test_a_camera_without_a_simulated_twin_is_one_sentence(tmp_path, make_env):
    side = _robot_yaml(tmp_path, "  side: {serial: '1'}")
    with pytest.raises(ValueError, match="has no simulated twin: name it front or wrist"):
        make_env("PickCubeVision-v0", cameras_like=side)
    bad = _robot_yaml(tmp_path, "  front: {serial: '1', fy: -3}")
    with pytest.raises(ValueError, match="give the focal length in pixels"):
        make_env("PickCubeVision-v0", cameras_like=bad)
