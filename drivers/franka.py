"""The real Franka arm (FR3 + Franka Hand) over pylibfranka, behind the Robot interface.

The 1 kHz torque loop runs in a child process (drivers/franka_loop.py) so that policy inference,
logging or this process's GIL never delay a control tick; `step` sends it the clipped target and
reads the state it publishes through shared memory. The child also connects, within a deadline:
pylibfranka's `Robot()` blocks forever, holding the GIL, against a peer that accepts TCP and never
answers. The gripper runs in a process of its own (drivers/franka_gripper.py), for the same reason
and so that a slow grasp never blocks `step`; a configured hand that is missing or silent is one
sentence at connect.

A FrankaArm may be used from several threads: its calls are serialized by a lock (a `state()` on
one thread never takes a message meant for another's `step()`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing as mp
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from robokit.control.impedance import FR3_HOME_Q, ImpedanceGains
from robokit.control.kinematics import HAND_TCP_OFFSET, box_reach_problems
from robokit.control.reference import ReferenceLimits, checked_command
from robokit.drivers import franka_loop
from robokit.drivers.franka_gripper import MAX_WIDTH, FrankaGripper, GripperError
from robokit.types import Command, Device, RobotState, SafetyBox

log = logging.getLogger("robokit.drivers.franka")


class RobotError(RuntimeError):
    """The arm cannot be used; the message says what to do."""


@dataclass(frozen=True)
class FrankaConfig:
    ip: str
    safety_box: SafetyBox = field(
        default_factory=lambda: SafetyBox(low=(0.305, -0.3, 0.02), high=(0.6, 0.3, 0.5))
    )
    """Where the TCP may go (m, base frame). Checked when the config is made: every point of a 5x5x5
    grid over it must be in reach with the TCP held as at home (kinematics.box_reach_problems). The
    default holds the home pose and reaches down to the table in front of the arm."""
    tcp_offset: float = HAND_TCP_OFFSET
    """The TCP's distance along the flange's z axis (m), as Desk's end-effector settings put it (the
    Franka Hand: 0.1034); the reach check and nothing else uses it."""
    target_margin: float = 0.005
    """Targets are clipped this far inside the safety box, so that tracking error stays inside it
    too (against franka-sim at full reach the TCP settles 2.5 mm past a target on the box's face)."""
    control_hz: float = 10.0
    gains: ImpedanceGains = field(default_factory=ImpedanceGains)
    limits: ReferenceLimits = field(default_factory=ReferenceLimits)
    home_q: tuple[float, ...] = FR3_HOME_Q
    home_speed: float = 0.3
    """Peak joint speed of the homing move (rad/s)."""
    watchdog_s: float = 0.3
    """Hold the measured pose when no target arrives for this long."""
    connect_timeout_s: float = 5.0
    max_recoveries: int = 3
    collision_torques: tuple[float, ...] = (20.0,) * 7
    """Joint torque contact/collision thresholds (N m), given to set_collision_behavior."""
    collision_forces: tuple[float, ...] = (20.0,) * 6
    gripper: bool = True
    """A Franka Hand is mounted; false: none is used and gripper_width stays at its open 0.08 m."""
    grasp_force: float = 20.0
    gripper_speed: float = 0.1
    realtime: bool = False
    """Require a real-time kernel (libfranka's kEnforce); off lets the loop run on any Linux."""
    min_success_rate: float = 0.95
    """Below this control_command_success_rate `step` logs a warning (at most every 10 s) and
    `robokit robot-check` flags the loop."""

    def __post_init__(self):
        box, offset = self.safety_box, self.tcp_offset
        problems = _reach_problems(tuple(box.low), tuple(box.high), offset)
        if problems:
            raise ValueError(
                f"safety_box {list(box.low)} to {list(box.high)} is not all within the arm's reach "
                f"(tcp_offset {offset} m): {'; '.join(problems)}. Shrink the box towards the arm's home pose."
            )

    def target_box(self) -> SafetyBox:
        m, box = self.target_margin, self.safety_box
        return SafetyBox(tuple(v + m for v in box.low), tuple(v - m for v in box.high))


@functools.lru_cache(maxsize=64)
def _reach_problems(low: tuple, high: tuple, tcp_offset: float) -> tuple[str, ...]:
    return tuple(box_reach_problems(low, high, tcp_offset))


#: the reflex the arm raises when the loop missed 20 cycles in a row (libfranka's network docs)
STALL_REFLEX = "communication_constraints_violation"


class FrankaArm(Device):
    def __init__(self, config: FrankaConfig):
        self.config = config
        self.safety_box, self.control_hz = config.safety_box, config.control_hz
        self._process = None
        self._next_step = 0.0
        self._gripper: FrankaGripper | None = None
        self._gripper_closed: bool | None = None
        self.recoveries: list[str] = []
        self._lock = threading.RLock()
        self._homed = False
        self._warned_at = 0.0
        self._stopped: str | None = None  # why the control process ended, once it has

    # Robot interface ---------------------------------------------------------------------------
    def connect(self) -> None:
        self._stopped = None
        ctx = mp.get_context("spawn")
        self._shared = ctx.Array("d", franka_loop.STATE_SIZE, lock=False)
        self._conn, child_conn = ctx.Pipe()
        args = (self.config, child_conn, self._shared)
        self._process = ctx.Process(target=franka_loop.run, args=args, daemon=True)
        self._process.start()
        ip, timeout = self.config.ip, self.config.connect_timeout_s
        if not self._conn.poll(timeout):
            self._kill()
            raise RobotError(
                f"no answer from a Franka at {ip} within {timeout:.0f} s: check the robot's IP, that it is "
                "on and FCI is activated in Desk, and that no other program is connected to it."
            )
        message = self._conn.recv()
        if message[0] != "connected":
            self._kill()
            raise RobotError(f"cannot use the Franka at {ip}: {message[1]}; check the IP and that FCI is on.")
        self._wait_for_state(timeout)
        if self.config.gripper:
            c = self.config
            self._gripper = FrankaGripper(ip, c.gripper_speed, c.grasp_force)
            try:
                self._gripper.connect(timeout)
            except GripperError as err:
                self._gripper = None
                self.close()
                raise RobotError(str(err)) from None

    @property
    def gripper_width(self) -> float:
        """Metres between the fingers, as last read (0.08, open, without a hand)."""
        if self._gripper is None:
            return MAX_WIDTH
        width = self._gripper.width
        return width if width == width else MAX_WIDTH  # NaN until the first reading

    def state(self) -> RobotState:
        with self._lock:
            self._check()
            s = self._read_shared()
        return RobotState(
            tcp_pos=s[16:19],
            tcp_quat=s[19:23],
            tcp_vel=s[23:29],
            q=s[2:9],
            dq=s[9:16],
            wrench=s[29:35],
            gripper_width=self.gripper_width,
            stamp=float(s[1]),
        )

    def step(self, command: Command) -> RobotState:
        """Send the target (checked, clipped here and again in the loop) and wait out one control
        period. A non-finite or degenerate command is one sentence (ValueError), never sent."""
        pos, quat, gripper = checked_command(command)
        with self._lock:
            self._check()
            self._conn.send(("target", self.config.target_box().clip(pos), quat))
        self._warn_if_unhealthy()
        closed = gripper > 0.5
        if self._gripper is not None and closed != self._gripper_closed:
            self._gripper_closed = closed
            self._gripper.request(closed)
        period = 1.0 / self.control_hz
        now = time.monotonic()
        # on schedule: one period after the last step; late: one period from now
        self._next_step = self._next_step + period if self._next_step + period > now else now + period
        time.sleep(max(self._next_step - now, 0.0))
        return self.state()

    def home(self) -> RobotState:
        """Move to the home joint configuration along a smooth (minimum-jerk) path. Other threads'
        state() calls go on meanwhile (the lock is held per poll, not for the whole move)."""
        with self._lock:
            self._check()
            self._homed = False
            self._conn.send(("home", tuple(self.config.home_q)))
            distance = float(np.max(np.abs(np.array(self.config.home_q) - self._read_shared()[2:9])))
        deadline = time.monotonic() + distance / self.config.home_speed + 10.0
        while time.monotonic() < deadline:
            with self._lock:
                self._check()  # takes the loop's messages, "homed" among them, whichever thread polls
                if self._homed:
                    if self._gripper is not None:
                        self._gripper_closed = False
                        self._gripper.request(False)
                    return self._check_home(self.state())
            time.sleep(0.01)
        raise RobotError("the arm did not reach its home posture in time: check for obstacles and reflexes.")

    def _warn_if_unhealthy(self) -> None:
        now = time.monotonic()
        if now - self._warned_at > 10.0:
            warning = self.loop_warning()
            if warning:
                self._warned_at = now
                log.warning("%s", warning)

    def _check_home(self, state: RobotState) -> RobotState:
        box = self.safety_box
        if not box.contains(state.tcp_pos, tolerance=0.005):
            where = np.round(state.tcp_pos, 3).tolist()
            raise RobotError(
                f"the home pose puts the TCP at {where}, outside the safety box {box.low}..{box.high}: "
                "widen the safety box or change home_q in the robot config."
            )
        return state

    def close(self) -> None:
        with self._lock:
            if self._process is None:
                return
            if self._process.is_alive():
                with contextlib.suppress(OSError, EOFError):
                    self._conn.send(("stop",))
                self._process.join(3)
            self._kill()
            self._stopped = self._stopped or "the arm was closed"
            if self._gripper is not None:
                self._gripper.close()
                self._gripper = None

    def tick_timing(self) -> dict[str, float]:
        """The control loop's health: tick period percentiles (s) over the last 1,000 ticks, ticks
        run, robot cycles missed (no command from this loop in time) since connect, and libfranka's
        control_command_success_rate (the share of the last 100 cycles that got a command)."""
        s = self._read_shared()
        ticks, missed = int(s[38]), int(s[39])
        return {
            "p50": float(s[35]),
            "p99": float(s[36]),
            "max": float(s[37]),
            "ticks": ticks,
            "missed": missed,
            "missed_share": missed / max(ticks + missed, 1),
            "success_rate": float(s[40]),
        }

    @property
    def motion_reflexes(self) -> list[str]:
        """The recovered reflexes the motion itself caused: those that name the loop's stall
        (communication_constraints_violation: 20 cycles in a row missed, which is this machine's
        load, not the motion, and which tick_timing and loop_warning report) are left out."""
        return [r for r in self.recoveries if STALL_REFLEX not in r]

    def loop_warning(self) -> str | None:
        """A sentence when the loop misses more cycles than `min_success_rate` allows, else None."""
        timing = self.tick_timing()
        if timing["ticks"] < 1000 or timing["success_rate"] >= self.config.min_success_rate:
            return None
        return (
            f"the control loop answered only {timing['success_rate']:.0%} of the robot's last cycles "
            f"({timing['missed']} missed of {timing['ticks'] + timing['missed']}): stop other load on this "
            "machine, or use a real-time kernel (realtime: true)"
        )

    # internals ---------------------------------------------------------------------------------
    def _check(self) -> None:
        if self._process is None:
            raise RobotError("the arm is not connected: call connect() first (or use it in a with block).")
        if self._stopped is None:
            try:
                while self._conn.poll():
                    self._handle(self._conn.recv())
            except (EOFError, OSError):  # the process is gone and its end of the pipe with it
                self._stopped = "it exited without saying why (killed, or out of memory)"
        if self._stopped is None and not self._process.is_alive():
            self._stopped = f"it exited with code {self._process.exitcode}"
        if self._stopped is not None:
            raise RobotError(f"the arm's control process has stopped: {self._stopped}; call connect() again.")

    def _handle(self, message) -> None:
        if message[0] == "homed":
            self._homed = True
        elif message[0] == "recovered":
            self.recoveries.append(message[1])
        elif message[0] == "error":
            self._kill()
            self._stopped = message[1]
            if len(message) > 2 and message[2] == "crash":  # not the arm: this program's loop
                raise RobotError(f"the arm's control loop stopped: {message[1]}; reconnect (and report it).")
            raise RobotError(
                f"the arm stopped: {message[1]}; clear what it hit, unlock it in Desk, and reconnect."
            )

    def _read_shared(self) -> np.ndarray:
        while True:  # seqlock: retry while the loop is writing
            before = self._shared[0]
            values = np.array(self._shared[:])
            if before == self._shared[0] and int(before) % 2 == 0:
                return values

    def _wait_for_state(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._shared[0] < 2:
            if time.monotonic() > deadline or not self._process.is_alive():
                self._check()
                raise RobotError(f"the Franka at {self.config.ip} sends no state: check the FCI connection.")
            time.sleep(0.001)

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(2)
