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
    """Make CURVE keys for the link: the learner's, and one pair per actor machine (revoke one by
    deleting its file in KEYS/authorized); and the operator console's token (KEYS/console.token)."""

    out: Path
    """The learner's keys folder (new, or existing with --add-actor)."""
    add_actor: str | None = None
    """Add a key pair for one more actor machine to the existing folder --out."""


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
    from robokit.link.keys import add_actor, create_keys

    if args.add_actor is None:
        from robokit.console.security import write_token

        folder = create_keys(args.out)
        actor = folder / "actors" / "actor0"
        print(f"learner keys written to {folder}: start the learner with --keys {folder}")
        token = write_token(folder / "console.token")
        print(f"operator console token written to {token}: serve the console with --console-token {token}")
    else:
        actor = add_actor(args.out, args.add_actor)
    print(
        f"actor keys written to {actor}: copy that folder to the actor machine and start the actor with "
        f"--keys FOLDER; revoke it by deleting {Path(args.out) / 'authorized' / (actor.name + '.key')}; "
        f"add another machine with `robokit keys --out {args.out} --add-actor NAME`"
    )
