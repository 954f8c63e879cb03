"""Builds the simulated FrankaEnv for a task: world, arm, cameras (the registered entry point)."""

from __future__ import annotations

import math

from robokit.envs.franka_env import EnvConfig, FrankaEnv
from robokit.envs.sim.arm import SimArmConfig, SimFrankaArm
from robokit.envs.sim.camera import SimCamera, check_camera_size
from robokit.envs.sim.scene import World
from robokit.envs.tasks import SIM_TASKS
from robokit.vision.image import ImageSpec

#: observation key -> MJCF camera name
SIM_CAMERAS = {"front": "front", "wrist": "fr3_wrist"}
#: what env.render() shows (videos): the wide "view" camera at this size, never a policy's camera
RENDER_CAMERA, RENDER_SIZE = "view", (640, 480)


def make_sim_env(
    task: str,
    vision: bool = False,
    camera_size: int | tuple[int, int] = 128,
    control_hz: float = 10.0,
    physics_hz: float = 500.0,
    reward_type: str = "sparse",
    terminate_on_success: bool = True,
    action_scale: float = 0.03,
    task_kwargs: dict | None = None,
    render_mode: str | None = None,
    privileged_state: bool | None = None,
    looks: str | None = None,
    cameras_like: str | None = None,
) -> FrankaEnv:
    """A MuJoCo FrankaEnv; `vision` swaps the object features for front and wrist images
    (`privileged_state=True` keeps the object features too, e.g. for a reward classifier's cameras);
    `looks` "train" or "held_out" draws the cell's looks anew at each reset (envs/sim/looks.py);
    `cameras_like` (a robot.yaml) renders each camera the file names at its capture size, field of
    view (fy) and through its crop and size, so that simulated frames frame the scene as real ones."""
    if task not in SIM_TASKS:
        raise ValueError(f"unknown task {task!r}: use one of {', '.join(SIM_TASKS)}.")
    width, height = camera_size if isinstance(camera_size, tuple | list) else (camera_size, camera_size)
    check_camera_size(width, height)
    real = real_cameras(cameras_like) if vision and cameras_like else {}
    widest = (
        max([width, *(c.width for c in real.values())]),
        max([height, *(c.height for c in real.values())]),
    )
    sim_task = SIM_TASKS[task](**(task_kwargs or {}))
    world = World.from_task_xml(
        sim_task.scene_xml,
        customize=sim_task.customize,
        render_size=(max(widest[0], RENDER_SIZE[0]), max(widest[1], RENDER_SIZE[1])),
    )
    sim_task.bind(world)
    box = {} if sim_task.safety_box is None else {"safety_box": sim_task.safety_box}
    arm = SimFrankaArm(world, SimArmConfig(control_hz=control_hz, physics_hz=physics_hz, **box))
    cameras = {}
    if vision:
        cameras = {key: SimCamera(world, name, width, height) for key, name in SIM_CAMERAS.items()}
        cameras.update({key: like_real(world, SIM_CAMERAS[key], c) for key, c in real.items()})
    render_camera = SimCamera(world, RENDER_CAMERA, *RENDER_SIZE) if render_mode == "rgb_array" else None
    config = EnvConfig(
        action_scale=action_scale,
        reward_type=reward_type,
        terminate_on_success=terminate_on_success,
        privileged_state=not vision if privileged_state is None else privileged_state,
    )
    env = FrankaEnv(arm, cameras, sim_task, config, render_camera=render_camera, render_mode=render_mode)
    if looks is None:
        return env
    from robokit.envs.sim.looks import Looks, RandomLooks

    return RandomLooks(env, Looks(world.model, looks, sim_task.recolourable))


def real_cameras(robot_config: str) -> dict:
    """The cameras of a robot.yaml ({key: RealSenseConfig}) that a simulated twin can imitate."""
    from robokit.envs.real import load_cameras

    cameras = load_cameras(robot_config)
    for key in cameras:
        if key not in SIM_CAMERAS:
            raise ValueError(
                f"camera {key!r} of {robot_config} has no simulated twin: name it "
                f"{' or '.join(SIM_CAMERAS)} in the config."
            )
    return cameras


def like_real(world: World, name: str, real) -> SimCamera:
    """A simulated camera rendered as `real` (a RealSenseConfig) captures: its size, its vertical
    field of view (from fy), then its crop and policy size through the shared image pipeline."""
    if real.fy is not None:
        if real.fy <= 0:
            raise ValueError(
                f"camera {real.name}: fy {real.fy} is impossible: give the focal length in pixels."
            )
        world.model.cam_fovy[world.model.camera(name).id] = math.degrees(
            2 * math.atan(real.height / (2 * real.fy))
        )
    return SimCamera(world, name, real.width, real.height, spec=ImageSpec(real.size, real.crop))
