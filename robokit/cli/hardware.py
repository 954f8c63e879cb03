"""`robokit find-cameras`, `robot-check` and `keys`: the real cell and the link's keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FindCameras:
    """List the RealSense cameras connected to this machine (serial, name, firmware, USB type)."""


@dataclass(frozen=True)
class RobotCheck:
    """Check a real robot setup: connect, read, home, move 1 cm and back, time the control loop,
    read every camera."""

    config: Path
    """YAML file describing the robot, cameras and task (its format: the docstring of envs/real.py)."""


@dataclass(frozen=True)
class Keys:
    """Make CURVE keys for the link: copy the folder to the learner and every actor machine."""

    out: Path


def find_cameras(args: FindCameras) -> None:
    from robokit.drivers.realsense import list_cameras

    cameras = list_cameras()
    if not cameras:
        print("no RealSense cameras found (check the USB 3 cable and that no other program holds them)")
    for camera in cameras:
        print(f"{camera['serial']}  {camera['name']}  firmware {camera['firmware']}  USB {camera['usb']}")


def robot_check(args: RobotCheck) -> None:
    from robokit.envs.robot_check import robot_check

    robot_check(args.config)
    print("robot check passed")


def keys(args: Keys) -> None:
    from robokit.link.keys import create_keys

    folder = create_keys(args.out)
    print(f"keys written to {folder}: copy the folder to the learner and every actor machine, pass --keys")
