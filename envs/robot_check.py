"""`robokit robot-check --config FILE`: connect, read, home, move 1 cm and back, time the control loop,
read every camera, and say exactly what is wrong when something is."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from robokit.drivers.franka import FrankaArm
from robokit.drivers.realsense import RealSenseCamera
from robokit.envs.real import load_config
from robokit.types import Command


def robot_check(path: Path, say: Callable[[str], None] = print) -> dict[str, float]:
    config = load_config(path)
    arm = FrankaArm(config["robot"])
    arm.connect()
    report: dict[str, float] = {}
    try:
        state = arm.state()
        say(f"arm at {config['robot'].ip}: q {_round(state.q)}, TCP {_round(state.tcp_pos)}")
        state = arm.home()
        say(f"homed: TCP {_round(state.tcp_pos)} (inside the safety box)")
        start = state.tcp_pos.copy()
        errors = []
        for goal in (start + np.array([0.01, 0.0, 0.0]), start):
            for _ in range(int(config["robot"].control_hz)):  # one second per move
                state = arm.step(Command(goal, state.tcp_quat, 0.0))
            errors.append(float(np.linalg.norm(state.tcp_pos - goal)))
        report["move_error_mm"] = 1000 * max(errors)
        say(f"moved 1 cm along x and back: worst final error {report['move_error_mm']:.2f} mm")
        timing = arm.tick_timing()
        report |= {f"tick_{k}_ms": 1000 * timing[k] for k in ("p50", "p99", "max")}
        p50, p99, worst = (report[f"tick_{k}_ms"] for k in ("p50", "p99", "max"))
        report |= {k: timing[k] for k in ("missed", "missed_share", "success_rate")}
        say(
            f"control loop: tick period p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {worst:.3f} ms "
            f"over the last {min(timing['ticks'], 1000)} ticks; {timing['missed']} robot cycles missed of "
            f"{timing['ticks'] + timing['missed']} ({timing['missed_share']:.2%}), command success rate "
            f"{timing['success_rate']:.1%}"
        )
        warning = arm.loop_warning()
        if warning:
            say(f"WARNING: {warning}")
    finally:
        arm.close()
    for key, camera_config in config["cameras"].items():
        camera = RealSenseCamera(camera_config)
        camera.connect()
        try:
            deadline = time.monotonic() + 5.0
            while camera.frames == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            frame = camera.read(max_age_s=1.0)
            height, width = frame.rgb.shape[:2]
            say(f"camera {key} ({camera_config.serial}): {width}x{height} frames arriving")
        finally:
            camera.close()
    return report


def _round(values) -> list[float]:
    return np.round(values, 3).tolist()
