"""Visual randomisation: how the simulated cell looks changes at each reset, how it behaves does not.

    env = make_sim_env("pick_cube", vision=True, looks="train")      # or make(..., looks="held_out")

At each reset a draw sets: the two lights' brightness and the sun's direction; the table's tint;
the colour of the task's objects (hue, saturation and value about their own colour, so a red cube
stays a red cube); the front camera's position, orientation and field of view; and how many of the
workcell's distractors (visual-only shapes, no collisions) stand on the table's sides, where, and in
which colour. Only model fields the renderer reads change: the same seed and actions give the same
states with or without looks.

"train" draws each quantity from its range; "held_out" from the bands just outside it (half its
width on each side) and shows every distractor, so an evaluation on held-out looks meets lights,
tints, colours and camera poses no training episode showed. The draws come from the reset's seed.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import gymnasium as gym
import mujoco
import numpy as np

LEVELS = ("train", "held_out")
DISTRACTORS = ("distractor_0", "distractor_1", "distractor_2")


@dataclass(frozen=True)
class LookRanges:
    sun: tuple[float, float] = (0.65, 1.0)  # diffuse brightness
    fill: tuple[float, float] = (0.2, 0.4)
    sun_tilt: tuple[float, float] = (-0.25, 0.25)  # x and y of the sun's direction
    table_tint: tuple[float, float] = (0.8, 1.15)  # per colour channel
    hue_shift: tuple[float, float] = (-0.04, 0.04)  # of an object's colour, in turns
    saturation: tuple[float, float] = (0.8, 1.1)
    value: tuple[float, float] = (0.8, 1.1)
    camera_shift_m: tuple[float, float] = (-0.015, 0.015)  # each axis
    camera_turn_rad: tuple[float, float] = (-0.025, 0.025)  # about each axis
    fovy_shift_deg: tuple[float, float] = (-2.0, 2.0)
    distractors: tuple[int, int] = (0, 2)  # how many stand on the table (held out: all)


def draw(rng: np.random.Generator, bounds: tuple[float, float], level: str) -> float:
    """A value in `bounds` ("train"), or in the bands of half its width just outside ("held_out")."""
    lo, hi = bounds
    if level == "train":
        return float(rng.uniform(lo, hi))
    band = 0.5 * (hi - lo)
    return float(rng.uniform(lo - band, lo) if rng.random() < 0.5 else rng.uniform(hi, hi + band))


def _quat_about(axis: int, angle: float) -> np.ndarray:
    q = np.zeros(4)
    q[0], q[1 + axis] = np.cos(angle / 2), np.sin(angle / 2)
    return q


class Looks:
    """Applies a draw of looks to a compiled model; `objects` are the task's geoms to recolour."""

    def __init__(self, model: mujoco.MjModel, level: str, objects: tuple[str, ...] = (),
                 ranges: LookRanges | None = None):  # fmt: skip
        if level not in LEVELS:
            raise ValueError(f"looks {level!r} is unknown: use train or held_out (or none).")
        self.model, self.level, self.ranges = model, level, ranges or LookRanges()
        self.rng = np.random.default_rng()
        m = model
        self.lights = {name: m.light(name).id for name in ("sun", "fill")}
        self.sun_dir = m.light_dir[self.lights["sun"]].copy()
        self.table = m.mat("table").id
        self.table_rgba = m.mat_rgba[self.table].copy()
        self.objects = {m.geom(name).id: m.geom_rgba[m.geom(name).id].copy() for name in objects}
        self.camera = m.camera("front").id
        fovy = float(m.cam_fovy[self.camera])
        self.camera_pose = (m.cam_pos[self.camera].copy(), m.cam_quat[self.camera].copy(), fovy)
        self.distractors = [m.geom(name).id for name in DISTRACTORS]

    def apply(self, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = np.random.default_rng([seed, 7919])  # not the env's own stream
        m, r, level, rng = self.model, self.ranges, self.level, self.rng
        m.light_diffuse[self.lights["sun"]] = draw(rng, r.sun, level)
        m.light_diffuse[self.lights["fill"]] = draw(rng, r.fill, level)
        tilt = [draw(rng, r.sun_tilt, level) for _ in range(2)]
        direction = self.sun_dir + np.array([tilt[0], tilt[1], 0.0])
        m.light_dir[self.lights["sun"]] = direction / np.linalg.norm(direction)
        tint = [draw(rng, r.table_tint, level) for _ in range(3)]
        m.mat_rgba[self.table, :3] = np.clip(self.table_rgba[:3] * tint, 0.0, 1.0)
        for geom, rgba in self.objects.items():
            m.geom_rgba[geom, :3] = self._recolour(rgba[:3])
        self._move_camera()
        self._place_distractors()

    def _recolour(self, rgb: np.ndarray) -> np.ndarray:
        r, rng, level = self.ranges, self.rng, self.level
        h, s, v = colorsys.rgb_to_hsv(*rgb)
        h = (h + draw(rng, r.hue_shift, level)) % 1.0
        s = min(1.0, s * draw(rng, r.saturation, level))
        v = min(1.0, v * draw(rng, r.value, level))
        return np.asarray(colorsys.hsv_to_rgb(h, s, v))

    def _move_camera(self) -> None:
        m, r, rng, level = self.model, self.ranges, self.rng, self.level
        pos, quat, fovy = self.camera_pose
        m.cam_pos[self.camera] = pos + [draw(rng, r.camera_shift_m, level) for _ in range(3)]
        turned = quat.copy()
        for axis in range(3):
            mujoco.mju_mulQuat(turned, turned, _quat_about(axis, draw(rng, r.camera_turn_rad, level)))
        m.cam_quat[self.camera] = turned
        m.cam_fovy[self.camera] = fovy + draw(rng, r.fovy_shift_deg, level)

    def _place_distractors(self) -> None:
        m, rng = self.model, self.rng
        low, high = self.ranges.distractors
        shown = len(self.distractors) if self.level == "held_out" else int(rng.integers(low, high + 1))
        for i, geom in enumerate(self.distractors):
            if i >= shown:
                m.geom_rgba[geom, 3] = 0.0  # hidden
                continue
            side = 1.0 if rng.random() < 0.5 else -1.0
            x, y = rng.uniform(0.3, 0.75), side * rng.uniform(0.32, 0.5)  # the table's sides
            cylinder = m.geom_type[geom] == mujoco.mjtGeom.mjGEOM_CYLINDER
            m.geom_pos[geom] = (x, y, m.geom_size[geom, 1 if cylinder else 2])  # standing on the table
            m.geom_rgba[geom] = (*rng.uniform(0.1, 0.9, 3), 1.0)


class RandomLooks(gym.Wrapper):
    """A simulated env whose looks are drawn anew at each reset (from the reset's seed, if any)."""

    def __init__(self, env: gym.Env, looks: Looks):
        super().__init__(env)
        self.looks = looks

    def reset(self, *, seed=None, options=None):
        self.looks.apply(seed)
        return self.env.reset(seed=seed, options=options)
