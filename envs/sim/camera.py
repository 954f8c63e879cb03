"""Simulated cameras behind the Camera interface: render on demand from a named MJCF camera."""

from __future__ import annotations

import atexit
import weakref

import mujoco
import numpy as np

from robokit.envs.sim import gl
from robokit.envs.sim.scene import World
from robokit.types import Device, Frame
from robokit.vision.image import ImageSpec, to_policy_image

MIN_SIZE, MAX_SIZE = 8, 2048

# Renderers left open at interpreter exit make some GL backends (OSMesa) print errors from their
# finalisers once ctypes is half torn down; closing them first keeps shutdown quiet.
_open_cameras: weakref.WeakSet = weakref.WeakSet()
atexit.register(lambda: [camera.close() for camera in list(_open_cameras)])


def check_camera_size(width: int, height: int) -> None:
    """Raise one sentence if a camera of this size cannot be rendered."""
    for side, value in (("width", width), ("height", height)):
        if not isinstance(value, int | np.integer) or not MIN_SIZE <= value <= MAX_SIZE:
            raise ValueError(
                f"camera {side} {value!r} is impossible: use a whole number of pixels "
                f"between {MIN_SIZE} and {MAX_SIZE} (the default is 128)."
            )


class SimCamera(Device):
    """Renders `camera_name` from the world's current state each time it is read, at width x height,
    then through the image pipeline every robokit camera shares (robokit.vision.image: `spec`'s
    crop and size; by default the render is the policy's image as it is)."""

    def __init__(
        self,
        world: World,
        camera_name: str,
        width: int = 128,
        height: int = 128,
        spec: ImageSpec | None = None,
    ):
        check_camera_size(width, height)
        self.spec = spec or ImageSpec(size=None)
        self.spec.check(width, height, f"camera {camera_name}")
        self.name = camera_name
        self.width, self.height = (self.spec.size, self.spec.size) if self.spec.size else (width, height)
        if self.spec.crop is not None and not self.spec.size:
            x0, y0, x1, y1 = self.spec.crop
            self.width, self.height = x1 - x0, y1 - y0
        self._world = world
        self._camera_id = world.model.camera(camera_name).id
        try:
            self._renderer = mujoco.Renderer(world.model, height=height, width=width)  # the sensor's size
        except Exception as err:  # every GL backend failure looks different; all mean the same
            raise gl.RenderingUnavailable(gl.unavailable_message(f"{type(err).__name__}: {err}")) from err
        _open_cameras.add(self)

    def read(self, max_age_s: float = 0.1) -> Frame:
        """Render now: a simulated frame is never stale, so `max_age_s` is always met."""
        self._renderer.update_scene(self._world.data, camera=self._camera_id)
        rgb = to_policy_image(self._renderer.render(), self.spec)  # a copy: the renderer reuses its buffer
        return Frame(rgb=rgb, stamp=float(self._world.data.time))

    def close(self) -> None:
        self._renderer.close()
        _open_cameras.discard(self)
