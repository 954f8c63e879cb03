"""`robokit bench robot --config robot.yaml`: how the arm moves, measured from its own states.

From home, the arm tracks a 5 cm circle (RMS distance of the TCP from the circle), takes a 20 cm
step (overshoot, peak speed and acceleration against the configured limits), runs round the top
corners of the safety box (the peak joint speed against the joints' limits, and reflexes), and
reports its control loop's tick statistics. Every state the loop publishes (1 kHz) is sampled;
accelerations are the change of 10 ms mean velocities 20 ms apart (single 1 kHz differences are
mostly noise). The moves stay inside the configured safety box (targets are clipped to it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np

from robokit.control.kinematics import FR3_DQ_MAX
from robokit.types import Command


class Recorder:
    """Samples an arm's state as fast as it is published, on a thread of its own."""

    def __init__(self, arm):
        self.arm, self.samples, self._stop = arm, [], threading.Event()
        self.peak_joint_share = 0.0
        """The largest share of its velocity limit any joint reached (FR3 limits)."""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = None
        while not self._stop.is_set():
            state = self.arm.state()
            if state.stamp != last:
                self.samples.append((state.stamp, state.tcp_pos.copy(), state.tcp_vel[:3].copy()))
                self.peak_joint_share = max(
                    self.peak_joint_share, float(np.max(np.abs(state.dq) / FR3_DQ_MAX))
                )
                last = state.stamp
            time.sleep(0.0002)

    def stop(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(stamps, TCP positions, TCP linear velocities) sampled."""
        self._stop.set()
        self._thread.join()
        t = np.array([s[0] for s in self.samples])
        return t, np.array([s[1] for s in self.samples]), np.array([s[2] for s in self.samples])


def peak_acceleration(t: np.ndarray, vel: np.ndarray, window: int = 10, span: int = 40) -> float:
    """The TCP's peak acceleration: the change of `window`-sample mean velocities `span` samples apart
    (~40 ms at 1 kHz). Samples carry the host's clock, whose jitter on a loaded host is a few ms: over
    a 20 ms span a CI run read 1.18x the limit where quiet runs read at most 1.10x."""
    means = np.array([vel[i : i + window].mean(0) for i in range(len(vel) - window)])
    stamps = np.array([t[i : i + window].mean() for i in range(len(t) - window)])
    return float(
        (np.linalg.norm(means[span:] - means[:-span], axis=1) / (stamps[span:] - stamps[:-span])).max()
    )


def bench_robot(arm, laps: int = 2, radius: float = 0.05, step: float = 0.2) -> Iterator[dict]:
    """Rows of {case, metric, value, unit}; `arm` connected (a FrankaArm, or any Robot with
    `config.limits` and `tick_timing()`)."""
    limits = arm.config.limits
    start = arm.home()
    center, quat = start.tcp_pos.copy(), start.tcp_quat
    # the circle: in the y-z plane through home, 4 s a lap at 10 Hz (about 8 cm/s)
    steps = int(4.0 * arm.control_hz)
    for _ in range(int(arm.control_hz)):  # onto the circle's first point, then settle
        arm.step(Command(center + [0.0, radius, 0.0], quat))
    recorder = Recorder(arm)
    for k in range(laps * steps):
        angle = 2 * np.pi * (k + 1) / steps
        arm.step(Command(center + radius * np.array([0.0, np.cos(angle), np.sin(angle)]), quat))
    _, pos, _ = recorder.stop()
    offset = pos - center
    radial = np.hypot(offset[:, 1], offset[:, 2]) - radius
    rms = float(np.sqrt(np.mean(radial**2 + offset[:, 0] ** 2)))
    yield _row("circle_5cm", "tracking_rms", 1000 * rms, "mm")
    # the step: 20 cm along y from home, held 1.5 s
    arm.home()
    goal = arm.config.target_box().clip(center + np.array([0.0, step, 0.0]))
    recorder = Recorder(arm)
    for _ in range(int(1.5 * arm.control_hz)):
        arm.step(Command(goal, quat))
    t, pos, vel = recorder.stop()
    overshoot = float(np.max((pos - goal) @ (goal - center) / np.linalg.norm(goal - center)))
    yield _row("step_20cm", "overshoot", 1000 * max(overshoot, 0.0), "mm")
    yield _row("step_20cm", "final_error", 1000 * float(np.linalg.norm(pos[-1] - goal)), "mm")
    speed = float(np.linalg.norm(vel, axis=1).max())
    accel = peak_acceleration(t, vel)
    yield _row("step_20cm", "peak_speed", speed, "m/s")
    yield _row("step_20cm", "peak_speed_of_limit", speed / limits.max_linear_speed, "ratio")
    yield _row("step_20cm", "peak_accel", accel, "m/s^2")
    if limits.max_linear_accel:
        yield _row("step_20cm", "peak_accel_of_limit", accel / limits.max_linear_accel, "ratio")
    # the top corners of the box, corner to corner at full speed: the farthest and fastest moves
    # a policy can ask for, where joints come nearest their velocity limits
    arm.home()
    box = arm.config.target_box()
    recorder, before = Recorder(arm), len(getattr(arm, "motion_reflexes", ()))
    for x, y in (
        (box.low[0], box.low[1]),
        (box.high[0], box.low[1]),
        (box.high[0], box.high[1]),
        (box.low[0], box.high[1]),
    ):
        for _ in range(int(1.5 * arm.control_hz)):
            arm.step(Command(np.array([x, y, box.high[2]]), quat))
    recorder.stop()
    yield _row("top_corners", "peak_joint_speed_of_limit", recorder.peak_joint_share, "ratio")
    yield _row("top_corners", "motion_reflexes", len(getattr(arm, "motion_reflexes", ())) - before, "count")
    timing = arm.tick_timing()
    for key in ("p50", "p99", "max"):
        yield _row("loop", f"tick_{key}", 1000 * timing[key], "ms")
    yield _row("loop", "missed_share", timing["missed_share"], "ratio")
    yield _row("loop", "command_success_rate", timing["success_rate"], "ratio")
    recoveries = getattr(arm, "recoveries", ())
    motion = getattr(arm, "motion_reflexes", recoveries)
    yield _row("loop", "recoveries", len(recoveries), "count")
    yield _row("loop", "stall_recoveries", len(recoveries) - len(motion), "count")
    arm.home()


def _row(case: str, metric: str, value: float, unit: str) -> dict:
    return {"bench": "robot", "case": case, "metric": metric, "value": round(float(value), 4), "unit": unit}
