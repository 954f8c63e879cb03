"""The Franka Hand in a process of its own: pylibfranka's `Gripper()` blocks, holding the GIL,
against a peer that accepts and never answers, so (like the arm's loop) it never runs in the
caller's process. Requests are coalesced (only the newest waiting one matters); the width is
published through shared memory, so reading it never waits on a grasp under way.

    hand = FrankaGripper(ip, speed=0.1, force=20.0)
    hand.connect(timeout_s=5.0)      # one sentence if there is no hand, or it does not answer
    hand.request(closed=True)        # returns at once
    hand.width                       # metres, as last read
    hand.close()
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp

MAX_WIDTH = 0.08


class GripperError(RuntimeError):
    """The hand cannot be used; the message says what to do."""


class FrankaGripper:
    def __init__(self, ip: str, speed: float = 0.1, force: float = 20.0):
        self.ip, self.speed, self.force = ip, speed, force
        self._process = None

    def connect(self, timeout_s: float) -> None:
        ctx = mp.get_context("spawn")
        self._width = ctx.Value("d", float("nan"), lock=False)
        self._conn, child_conn = ctx.Pipe()
        self._process = ctx.Process(
            target=run, args=(self.ip, self.speed, self.force, child_conn, self._width), daemon=True
        )
        self._process.start()
        if not self._conn.poll(timeout_s):
            self.close()
            raise GripperError(
                f"no answer from a Franka Hand at {self.ip} within {timeout_s:.0f} s: check that the hand is "
                "mounted and initialized in Desk, or set `gripper: false` in the robot config's robot "
                "section to run without one."
            )
        message = self._conn.recv()
        if message[0] != "connected":
            self.close()
            raise GripperError(
                f"no Franka Hand at {self.ip} ({message[1]}): mount and initialize it in Desk, or set "
                "`gripper: false` in the robot config's robot section to run without one."
            )

    @property
    def width(self) -> float:
        return float(self._width.value)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def request(self, closed: bool) -> None:
        if self.alive:
            self._conn.send(bool(closed))

    def close(self) -> None:
        if self._process is None:
            return
        if self._process.is_alive():
            try:
                self._conn.send(None)
                self._process.join(2)
            except (OSError, EOFError):
                pass
        if self._process.is_alive():
            self._process.kill()
            self._process.join(2)
        self._process = None


def run(ip: str, speed: float, force: float, conn, width) -> None:
    """Entry point of the gripper process."""
    try:
        import pylibfranka as pf

        gripper = pf.Gripper(ip)
        width.value = float(gripper.read_once().width)
    except Exception as err:
        conn.send(("error", f"{type(err).__name__}: {err}"))
        return
    conn.send(("connected",))
    while True:
        try:
            request = conn.recv()
            while conn.poll():
                request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        # a grasp that closes on nothing is a normal outcome; the next request reads the width again
        with contextlib.suppress(Exception):
            if request:
                gripper.grasp(0.0, speed, force, MAX_WIDTH, MAX_WIDTH)
            else:
                gripper.move(MAX_WIDTH, speed)
        with contextlib.suppress(Exception):
            width.value = float(gripper.read_once().width)
