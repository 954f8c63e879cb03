"""The real Franka arm (FR3 + Franka Hand) over pylibfranka, behind the Robot interface.

The 1 kHz torque loop runs in a child process (drivers/franka_loop.py) so that policy inference,
logging or this process's GIL never delay a control tick; `step` sends it the clipped target and
reads the state it publishes through shared memory. The child also connects, within a deadline:
pylibfranka's `Robot()` blocks forever, holding the GIL, against a peer that accepts TCP and never
answers. The gripper runs on a thread of its own, so a slow grasp never blocks `step`.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from robokit.control.impedance import FR3_HOME_Q, ImpedanceGains
from robokit.control.reference import ReferenceLimits
from robokit.drivers import franka_loop
from robokit.types import Command, Device, RobotState, SafetyBox

MAX_WIDTH = 0.08


class RobotError(RuntimeError):
    """The arm cannot be used; the message says what to do."""


@dataclass(frozen=True)
class FrankaConfig:
    ip: str
    safety_box: SafetyBox = field(
        default_factory=lambda: SafetyBox(low=(0.25, -0.35, 0.01), high=(0.75, 0.35, 0.55))
    )
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
    grasp_force: float = 20.0
    gripper_speed: float = 0.1
    realtime: bool = False
    """Require a real-time kernel (libfranka's kEnforce); off lets the loop run on any Linux."""

    def target_box(self) -> SafetyBox:
        m, box = self.target_margin, self.safety_box
        return SafetyBox(tuple(v + m for v in box.low), tuple(v - m for v in box.high))


class FrankaArm(Device):
    def __init__(self, config: FrankaConfig):
        self.config = config
        self.safety_box, self.control_hz = config.safety_box, config.control_hz
        self._process = None
        self._next_step = 0.0
        self._gripper_requests: queue.Queue = queue.Queue()
        self._gripper_closed: bool | None = None
        self.gripper_width = MAX_WIDTH
        self.recoveries: list[str] = []

    # Robot interface ---------------------------------------------------------------------------
    def connect(self) -> None:
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
            threading.Thread(target=self._gripper_worker, name="franka-gripper", daemon=True).start()

    def state(self) -> RobotState:
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
        """Send the target (clipped here and again in the loop) and wait out one control period."""
        self._check()
        goal = self.config.target_box().clip(np.asarray(command.tcp_pos, dtype=float))
        quat = np.asarray(command.tcp_quat, dtype=float)
        self._conn.send(("target", goal, quat / np.linalg.norm(quat)))
        closed = command.gripper > 0.5
        if self.config.gripper and closed != self._gripper_closed:
            self._gripper_closed = closed
            self._gripper_requests.put(closed)
        period = 1.0 / self.control_hz
        now = time.monotonic()
        # on schedule: one period after the last step; late: one period from now
        self._next_step = self._next_step + period if self._next_step + period > now else now + period
        time.sleep(max(self._next_step - now, 0.0))
        return self.state()

    def home(self) -> RobotState:
        """Move to the home joint configuration along a smooth (minimum-jerk) path."""
        self._check()
        self._conn.send(("home", tuple(self.config.home_q)))
        distance = float(np.max(np.abs(np.array(self.config.home_q) - self._read_shared()[2:9])))
        deadline = time.monotonic() + distance / self.config.home_speed + 10.0
        while time.monotonic() < deadline:
            if self._conn.poll(0.05):
                message = self._conn.recv()
                if message[0] == "homed":
                    if self.config.gripper:
                        self._gripper_closed = False
                        self._gripper_requests.put(False)
                    return self._check_home(self.state())
                self._handle(message)
        raise RobotError("the arm did not reach its home posture in time: check for obstacles and reflexes.")

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
        if self._process is None:
            return
        if self._process.is_alive():
            self._conn.send(("stop",))
            self._process.join(3)
        self._kill()
        self._gripper_requests.put(None)

    def tick_timing(self) -> dict[str, float]:
        """Control-loop tick period percentiles (s) over the last 1,000 ticks, and the tick count."""
        s = self._read_shared()
        return {"p50": float(s[35]), "p99": float(s[36]), "max": float(s[37]), "ticks": int(s[38])}

    # internals ---------------------------------------------------------------------------------
    def _check(self) -> None:
        if self._process is None:
            raise RobotError("the arm is not connected: call connect() first (or use it in a with block).")
        while self._conn.poll():
            self._handle(self._conn.recv())
        if not self._process.is_alive():
            raise RobotError("the arm's control process has stopped: reconnect to the arm.")

    def _handle(self, message) -> None:
        if message[0] == "recovered":
            self.recoveries.append(message[1])
        elif message[0] == "error":
            self._kill()
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

    def _gripper_worker(self) -> None:
        """Runs gripper commands one at a time; only the newest waiting request matters."""
        import pylibfranka as pf

        try:
            gripper = pf.Gripper(self.config.ip)
            self.gripper_width = float(gripper.read_once().width)
        except Exception:  # a missing hand leaves the arm usable
            return
        while True:
            request = self._gripper_requests.get()
            while not self._gripper_requests.empty():
                request = self._gripper_requests.get()
            if request is None:
                return
            try:
                if request:
                    c = self.config
                    gripper.grasp(0.0, c.gripper_speed, c.grasp_force, MAX_WIDTH, MAX_WIDTH)
                else:
                    gripper.move(MAX_WIDTH, self.config.gripper_speed)
                self.gripper_width = float(gripper.read_once().width)
            except Exception:  # a failed grasp is a normal outcome
                self.gripper_width = float(gripper.read_once().width)
