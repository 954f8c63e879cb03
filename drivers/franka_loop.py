"""The real arm's 1 kHz torque loop, in its own process (started by robokit.drivers.franka).

Every tick: read the state (libfranka paces the loop), take the newest target off the pipe, move the
TCP reference one tick towards it (robokit.control.reference, as the simulated arm does, so its speed
and acceleration limits hold at every tick), and write the torques of robokit.control.impedance's
impedance law with libfranka's model. The reference slows wherever the joints would pass
JOINT_SPEED_SHARE of their velocity limits, a guard brakes any joint past GUARD_SHARE, and torques
change by at most MAX_TORQUE_STEP a tick. Targets that stop arriving for `watchdog_s` make the reference
brake to rest at its limits and hold. A reflex (ControlException) is
recovered with automatic_error_recovery up to `max_recoveries` times, then the loop stops and says why.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from robokit.control.impedance import ArmDynamics, impedance_torque, joint_speed_guard
from robokit.control.kinematics import FR3_DQ_MAX, joint_speed_shares
from robokit.control.reference import TcpReference
from robokit.control.spatial import matrix_to_quat

#: joint-space gains for homing (N m / rad, N m s / rad), as in libfranka's joint impedance examples
HOME_STIFFNESS = np.array([600.0, 600.0, 600.0, 600.0, 250.0, 150.0, 50.0])
HOME_DAMPING = np.array([50.0, 50.0, 50.0, 50.0, 30.0, 25.0, 15.0])
#: FR3 torque-rate limit is 1,000 N m/s; stay 10% under it per 1 ms tick (libfranka's limitRate idea)
MAX_TORQUE_STEP = 0.9
#: the TCP reference slows wherever its joints would pass this share of their velocity limits
#: (near the edge of reach); the joint speed guard brakes any joint past GUARD_SHARE of its limit
JOINT_SPEED_SHARE = 0.7
GUARD_SHARE = 0.85
#: the reference accelerates at this share of the configured limit: the arm, tracking it through the
#: impedance law, peaks above the reference (more when cycles are missed), and it is the arm's
#: measured acceleration that the limit promises (a 20 cm step: 0.86 of it on franka-sim)
ACCEL_SHARE = 0.75
#: seq, stamp, q 7, dq 7, pos 3, quat 4, vel 6, wrench 6, tick p50/p99/max, ticks, missed ticks,
#: libfranka's control_command_success_rate
STATE_SIZE = 41


def tcp_pose(robot_state) -> tuple[np.ndarray, np.ndarray]:
    """TCP position and quaternion (w, x, y, z) from libfranka's column-major O_T_EE."""
    pose = np.array(robot_state.O_T_EE).reshape(4, 4, order="F")
    return pose[:3, 3].copy(), matrix_to_quat(pose[:3, :3])


def dynamics(robot_state, model) -> ArmDynamics:
    tcp_pos, tcp_quat = tcp_pose(robot_state)
    jacobian = np.array(model.zero_jacobian(robot_state)).reshape(6, 7, order="F")
    dq = np.array(robot_state.dq)
    return ArmDynamics(
        tcp_pos=tcp_pos,
        tcp_quat=tcp_quat,
        tcp_twist=jacobian @ dq,
        jacobian=jacobian,
        mass_matrix=np.array(model.mass(robot_state)).reshape(7, 7, order="F"),
        coriolis=np.array(model.coriolis(robot_state)),
        q=np.array(robot_state.q),
        dq=dq,
    )


def min_jerk(s: float) -> float:
    s = min(max(s, 0.0), 1.0)
    return s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)


class ControlLoop:
    def __init__(self, config, robot, model, conn, shared):
        self.config, self.robot, self.model, self.conn, self.shared = config, robot, model, conn, shared
        stiffness = config.gains.translational_stiffness
        limits = config.limits
        if limits.max_linear_accel is not None:  # the TCP, trailing the reference, adds ~10% to it
            limits = dataclasses.replace(limits, max_linear_accel=limits.max_linear_accel * ACCEL_SHARE)
        self.reference = TcpReference(config.target_box(), limits, stiffness)
        self.rest_q = np.array(config.home_q)
        self.intervals = np.zeros(1000)
        self.ticks = 0
        self.missed = 0  # 1 ms robot cycles that passed without a command from this loop
        self._robot_time: float | None = None
        self.stopping = False
        self.home_goal: np.ndarray | None = None
        """The joint goal of a homing under way; it survives a reflex's recovery (the motion is
        planned again from where the arm stopped), so that the parent's home() still ends."""

    def run(self, pf) -> None:
        recoveries = 0
        while not self.stopping:
            try:
                self.reference.reset(*tcp_pose(self.robot.read_once()))
                self._serve(self.robot.start_torque_control(), pf)
            except pf.ControlException as err:
                recoveries += 1
                if recoveries > self.config.max_recoveries:
                    self.conn.send(("error", f"the arm stopped with a reflex {recoveries} times ({err})"))
                    return
                self.conn.send(("recovered", str(err)))
                self.robot.automatic_error_recovery()

    def _serve(self, control, pf) -> None:
        last_target, holding = time.monotonic(), True
        homing = None  # (q_start, q_goal, start time, duration)
        last_tick, last_tau = None, None
        while True:
            robot_state, period = control.readOnce()
            now = time.monotonic()
            if last_tick is not None:
                self.intervals[self.ticks % len(self.intervals)] = now - last_tick
                self.ticks += 1
            last_tick = now
            robot_time = robot_state.time.to_sec()
            if self._robot_time is not None:
                self.missed += max(round((robot_time - self._robot_time) * 1000.0) - 1, 0)
            self._robot_time = robot_time
            arm = dynamics(robot_state, self.model)
            while self.conn.poll():
                message = self.conn.recv()
                if message[0] == "target":
                    self.reference.set_goal(message[1], message[2])
                    last_target, holding = now, False
                elif message[0] == "home":
                    self.home_goal, homing = np.array(message[1]), None
                elif message[0] == "stop":
                    self.stopping = True
            if homing is None and self.home_goal is not None:
                duration = max(float(np.max(np.abs(self.home_goal - arm.q))) / self.config.home_speed, 0.5)
                homing = (arm.q.copy(), self.home_goal, now, duration)
            if self.stopping:
                done = pf.Torques([0.0] * 7)
                done.motion_finished = True
                control.writeOnce(done)
                return
            if homing is not None:
                q_start, q_goal, start, duration = homing
                q_ref = q_start + (q_goal - q_start) * min_jerk((now - start) / duration)
                tau = HOME_STIFFNESS * (q_ref - arm.q) - HOME_DAMPING * arm.dq + arm.coriolis
                if now - start > duration + 0.5:
                    homing, self.home_goal = None, None
                    self.reference.reset(arm.tcp_pos, arm.tcp_quat)
                    last_target, holding = now, True
                    self.conn.send(("homed",))
            else:
                if not holding and now - last_target > self.config.watchdog_s:
                    # targets stopped: brake to rest at the limits (never a dead stop) and hold
                    self.reference.stop()
                    holding = True
                # the robot's own cycle time (1 ms, more after missed cycles) moves the reference
                dt = min(max(period.to_sec(), 0.001), 0.01)
                shares = joint_speed_shares(arm.jacobian, JOINT_SPEED_SHARE)
                ref_pos, ref_quat, twist = self.reference.advance(dt, shares)
                tau = impedance_torque(arm, ref_pos, ref_quat, self.config.gains, self.rest_q, twist)
                tau += joint_speed_guard(arm.dq, arm.mass_matrix, FR3_DQ_MAX, GUARD_SHARE)
            # a torque jump (homing <-> impedance, a new segment) would trip the arm's rate reflex
            previous = np.array(robot_state.tau_J_d) if last_tau is None else last_tau
            step = np.clip(np.asarray(tau, float) - previous, -MAX_TORQUE_STEP, MAX_TORQUE_STEP)
            last_tau = previous + step
            control.writeOnce(pf.Torques(last_tau.tolist()))
            self._publish(robot_state, arm)

    def _publish(self, robot_state, arm: ArmDynamics) -> None:
        s = self.shared
        s[0] += 1  # odd: being written (a seqlock, read by the parent process)
        s[1] = time.monotonic()
        s[2:9], s[9:16] = arm.q, arm.dq
        s[16:19], s[19:23], s[23:29] = arm.tcp_pos, arm.tcp_quat, arm.tcp_twist
        s[29:35] = robot_state.O_F_ext_hat_K
        if self.ticks and self.ticks % 100 == 0:
            window = self.intervals[: min(self.ticks, len(self.intervals))]
            s[35:38] = np.percentile(window, [50, 99, 100])
        s[38] = self.ticks
        s[39] = self.missed
        s[40] = robot_state.control_command_success_rate
        s[0] += 1


def run(config, conn, shared) -> None:
    """Entry point of the control process: connect, report, serve until told to stop."""
    try:
        import pylibfranka as pf
    except ImportError:
        conn.send(("error", "pylibfranka is not installed: pip install 'robokit[real]'"))
        return
    try:
        realtime = pf.RealtimeConfig.kEnforce if config.realtime else pf.RealtimeConfig.kIgnore
        robot = pf.Robot(config.ip, realtime)
        robot.set_collision_behavior(
            list(config.collision_torques), list(config.collision_torques),
            list(config.collision_forces), list(config.collision_forces),
        )  # fmt: skip
        model = robot.load_model()
    except Exception as err:  # pylibfranka raises several types; all mean the same to the user
        conn.send(("error", f"connecting failed ({type(err).__name__}: {err})"))
        return
    conn.send(("connected",))
    try:
        ControlLoop(config, robot, model, conn, shared).run(pf)
    except Exception as err:
        conn.send(("error", f"{type(err).__name__}: {err}", "crash"))
