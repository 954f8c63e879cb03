"""Headless rendering: image shape and content, backend choice, and the one-sentence failure."""

from __future__ import annotations

import os
import subprocess
import sys

import mujoco
import numpy as np
import pytest

from robokit.envs.sim import gl
from robokit.envs.sim.camera import SimCamera
from robokit.envs.sim.scene import ASSETS, World


@pytest.fixture(scope="module")
def world():
    w = World.from_task_xml(ASSETS / "pick_cube.xml")
    w.reset()
    return w


@pytest.mark.parametrize("camera", ["front", "fr3_wrist"])
@pytest.mark.parametrize("size", [(128, 128), (96, 64)])
def test_frames_have_the_asked_shape_and_real_content(world, camera, size):
    cam = SimCamera(world, camera, width=size[0], height=size[1])
    frame = cam.read()
    assert frame.rgb.shape == (size[1], size[0], 3) and frame.rgb.dtype == np.uint8
    assert frame.rgb.std() > 10  # a rendered scene, not a blank buffer
    assert frame.stamp == pytest.approx(world.data.time)
    cam.close()


def test_a_camera_in_a_with_block_is_closed_even_when_the_block_raises(world):
    from robokit.envs.sim.camera import _open_cameras

    with pytest.raises(RuntimeError, match="inside"), SimCamera(world, "front", 32, 32) as cam:
        assert cam in _open_cameras and cam.read().rgb.shape == (32, 32, 3)
        raise RuntimeError("inside the block")
    assert cam not in _open_cameras
    cam.close()  # a second close is harmless


def test_cameras_see_the_cube_move(world):
    cam = SimCamera(world, "front")
    before = cam.read().rgb.astype(int)
    world.set_free_body("cube", np.array([0.45, 0.1, 0.02]))
    mujoco.mj_forward(world.model, world.data)
    after = cam.read().rgb.astype(int)
    assert np.abs(after - before).sum() > 1000
    cam.close()


def test_a_working_backend_was_chosen():
    assert os.environ.get("MUJOCO_GL") in gl.BACKENDS


def test_egl_is_preferred_and_osmesa_is_the_fallback(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL")
    tried = []

    def probe(backend):
        tried.append(backend)
        return "no EGL device" if backend == "egl" else None

    monkeypatch.setattr(gl, "_bind_late", lambda backend: True)
    assert gl.select_backend(probe) == "osmesa"
    assert tried == ["egl", "osmesa"]


def test_no_backend_gives_one_sentence_naming_the_packages(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.setattr(gl, "failures", {})
    assert gl.select_backend(lambda backend: f"{backend} library not found") is None
    message = gl.unavailable_message()
    assert "libegl1" in message and "libosmesa6" in message and "apt-get install" in message
    assert "egl: egl library not found" in message and message.count("\n") == 0


def test_camera_reports_a_broken_gl_as_the_clear_error(world, monkeypatch):
    def broken(*args, **kwargs):
        raise mujoco.FatalError("gladLoadGL error")

    monkeypatch.setattr(mujoco, "Renderer", broken)
    with pytest.raises(gl.RenderingUnavailable, match="install Debian's libegl1"):
        SimCamera(world, "front")


def test_an_unusable_backend_in_a_real_process_fails_with_the_sentence():
    # A real process whose EGL cannot load: point libEGL at nothing.
    code = (
        "import robokit.envs, robokit.envs.sim.camera as c, robokit.envs.sim.scene as s\n"
        "w = s.World.from_task_xml(s.ASSETS / 'pick_cube.xml')\n"
        "c.SimCamera(w, 'front')\n"
    )
    env = dict(os.environ, MUJOCO_GL="egl", MUJOCO_EGL_DEVICE_ID="999")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "RenderingUnavailable" in result.stderr and "libegl1" in result.stderr


def test_osmesa_takes_over_when_egl_fails_in_a_real_process():
    # An EGL device that does not exist makes the EGL probe fail for real; OSMesa must then render.
    code = (
        "import os, robokit.envs\n"
        "env = robokit.envs.make('PickCubeVision-v0', camera_size=32)\n"
        "obs, _ = env.reset(seed=0)\n"
        "assert obs['wrist'].std() > 5, 'blank image'\n"
        "print(os.environ['MUJOCO_GL'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    env["MUJOCO_EGL_DEVICE_ID"] = "999"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "osmesa"
    assert result.stderr.strip() == ""  # a clean exit, no finaliser noise


def test_mujoco_imported_first_still_renders():
    code = (
        "import os, mujoco\n"
        "import robokit.envs\n"
        "env = robokit.envs.make('PickCubeVision-v0', camera_size=32)\n"
        "obs, _ = env.reset(seed=0)\n"
        "assert obs['front'].std() > 5, 'blank image'\n"
        "print(os.environ['MUJOCO_GL'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in gl.BACKENDS
