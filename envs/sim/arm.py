"""The simulated FR3 behind the Robot interface: safety box, rate limits, impedance law per substep."""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from robokit.control import ArmDynamics, ImpedanceGains, impedance_torque
from robokit.envs.sim.scene import World
from robokit.spatial import quat_conj, quat_mul, quat_slerp_step, quat_to_rotvec, rotvec_to_quat
from robokit.types import Command, RobotState, SafetyBox

#: Franka's "ready" posture: TCP about 0.31 m in front of the base, 0.49 m up, pointing down.
HOME_Q = (0.0, -0.785398, 0.0, -2.356194, 0.0, 1.570796, 0.785398)
MAX_FINGER_OPENING = 0.04  # per finger, metres
CREEP_SPEED = 0.02  # m/s: the reference's speed in its last millimetres before a safety-box face


@dataclass(frozen=True)
class SimArmConfig:
    control_hz: float = 10.0
    physics_hz: float = 500.0
    safety_box: SafetyBox = field(
        default_factory=lambda: SafetyBox(low=(0.25, -0.35, 0.01), high=(0.75, 0.35, 0.55))
    )
    max_linear_speed: float = 0.5
    """Bound on how fast the commanded TCP reference may move (m/s)."""
    max_linear_accel: float | None = 3.0
    """Bound on the reference's acceleration and its braking before a face of the safety box (m/s^2);
    None turns rate limiting off, speed included, so the reference jumps (to measure the impedance
    law's own step response)."""
    max_angular_speed: float = 1.5
    """Bound on how fast the commanded TCP orientation may turn (rad/s)."""
    gains: ImpedanceGains = field(default_factory=ImpedanceGains)
    home_q: tuple[float, ...] = HOME_Q

    def __post_init__(self) -> None:
        if not 500.0 <= self.physics_hz <= 1000.0:
            raise ValueError(f"physics_hz {self.physics_hz} is outside 500-1000 Hz: pick a rate there.")
        ratio = self.physics_hz / self.control_hz if self.control_hz > 0 else 0.5
        if abs(ratio - round(ratio)) > 1e-9 or ratio < 1:
            raise ValueError(
                f"control_hz {self.control_hz} must divide physics_hz {self.physics_hz}: "
                "pick e.g. 5, 10, 20 or 50 Hz."
            )


class SimFrankaArm:
    """Steps the MuJoCo world one control period at a time, like the real arm's 1 kHz loop does."""

    def __init__(self, world: World, config: SimArmConfig | None = None):
        self.world = world
        self.config = config or SimArmConfig()
        self.safety_box = self.config.safety_box
        self.control_hz = self.config.control_hz
        world.model.opt.timestep = 1.0 / self.config.physics_hz
        self.substeps = round(self.config.physics_hz / self.config.control_hz)
        self._rest_q = np.array(self.config.home_q)
        nv = world.model.nv
        self._jac = np.zeros((6, nv))
        self._mass = np.zeros((nv, nv))
        self._arm_block = (world.arm_dofs, world.arm_dofs)
        self._ref_pos = np.zeros(3)
        self._ref_quat = np.array([1.0, 0.0, 0.0, 0.0])
        self._ref_speed = 0.0
        self._gripper = 0.0

    # Robot interface -------------------------------------------------------------------------
    def connect(self) -> None:
        """Nothing to open: the world exists once constructed."""

    def close(self) -> None:
        """Nothing to release."""

    def home(self) -> RobotState:
        """Put the arm at the home posture, fingers open, at rest (the sim may teleport)."""
        w = self.world
        w.data.qpos[w.arm_qpos] = self._rest_q
        w.data.qvel[w.arm_dofs] = 0.0
        w.data.qpos[w.finger_qpos] = MAX_FINGER_OPENING
        w.data.qvel[w.finger_dofs] = 0.0
        w.data.ctrl[:] = 0.0
        w.data.ctrl[w.gripper_actuator] = MAX_FINGER_OPENING
        mujoco.mj_forward(w.model, w.data)
        self._ref_pos, self._ref_quat = self._tcp_pose()
        self._ref_speed = 0.0
        self._gripper = 0.0
        return self.state()

    def state(self) -> RobotState:
        w = self.world
        pos, quat = self._tcp_pose()
        mujoco.mj_jacSite(w.model, w.data, self._jac[:3], self._jac[3:], w.tcp_site)
        jac = self._jac[:, w.arm_dofs]
        dq = w.data.qvel[w.arm_dofs].copy()
        # External wrench as the real arm estimates it: tau_ext = J^T F, solved for F.
        tau_ext = w.data.qfrc_constraint[w.arm_dofs]
        wrench = np.linalg.lstsq(jac.T, tau_ext, rcond=1e-4)[0]
        return RobotState(
            tcp_pos=pos,
            tcp_quat=quat,
            tcp_vel=jac @ dq,
            q=w.data.qpos[w.arm_qpos].copy(),
            dq=dq,
            wrench=wrench,
            gripper_width=float(w.data.qpos[w.finger_qpos].sum()),
            stamp=float(w.data.time),
        )

    def step(self, command: Command) -> RobotState:
        """Clip the command to the box and the rate limits, then track it for one control period."""
        goal_pos = self.safety_box.clip(np.asarray(command.tcp_pos, dtype=float))
        goal_quat = np.asarray(command.tcp_quat, dtype=float)
        goal_quat = goal_quat / np.linalg.norm(goal_quat)
        period = 1.0 / self.control_hz
        delta = self._rate_limited_step(goal_pos - self._ref_pos, period)
        start_pos, start_quat = self._ref_pos, self._ref_quat
        end_quat = quat_slerp_step(start_quat, goal_quat, self.config.max_angular_speed * period)
        turn = quat_to_rotvec(quat_mul(end_quat, quat_conj(start_quat)))
        ref_twist = np.concatenate([delta, turn]) / period
        self._gripper = float(np.clip(command.gripper, 0.0, 1.0))
        turning = bool(np.any(turn))
        w = self.world
        w.data.ctrl[w.gripper_actuator] = MAX_FINGER_OPENING * (1.0 - self._gripper)
        for k in range(1, self.substeps + 1):
            frac = k / self.substeps
            ref_pos = start_pos + frac * delta
            ref_quat = quat_mul(rotvec_to_quat(frac * turn), start_quat) if turning else start_quat
            mujoco.mj_step1(w.model, w.data)
            tau = impedance_torque(
                self._dynamics(), ref_pos, ref_quat, self.config.gains, self._rest_q, ref_twist
            )
            w.data.ctrl[w.arm_actuators] = tau
            mujoco.mj_step2(w.model, w.data)
        self._ref_pos = start_pos + delta
        self._ref_quat = end_quat
        return self.state()

    # internals ---------------------------------------------------------------------------------
    def _rate_limited_step(self, delta: np.ndarray, period: float) -> np.ndarray:
        """How far the reference moves this period: capped speed and acceleration, and braking in
        time for the face of the safety box ahead, so that the arm cannot overshoot through it."""
        dist = float(np.linalg.norm(delta))
        if dist < 1e-12:
            self._ref_speed = 0.0
            return np.zeros(3)
        accel = self.config.max_linear_accel
        if accel is None:
            return delta
        # While the reference decelerates at `accel`, the arm trails it by accel / Kp (the tracking
        # error of the impedance law under constant acceleration), so brake that much earlier...
        lag = accel / self.config.gains.translational_stiffness
        to_face = max(self.safety_box.distance_to_face(self._ref_pos, delta / dist) - lag, 0.0)
        # ...able to stop before the face after this step: v T + v^2 / (2 a) <= to_face,
        # and creep the last millimetres too slowly to overshoot.
        braking = accel * (np.sqrt(period * period + 2.0 * to_face / accel) - period)
        speed = min(
            self.config.max_linear_speed,
            self._ref_speed + accel * period,
            max(braking, CREEP_SPEED),
        )
        step = min(dist, speed * period)
        self._ref_speed = step / period
        return delta * (step / dist)

    def _tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        # The TCP site is only translated from the hand body, so it shares the hand's orientation.
        w = self.world
        return w.data.site_xpos[w.tcp_site].copy(), w.data.xquat[w.hand_body].copy()

    def _dynamics(self) -> ArmDynamics:
        w = self.world
        mujoco.mj_jacSite(w.model, w.data, self._jac[:3], self._jac[3:], w.tcp_site)
        mujoco.mj_fullM(w.model, w.data, self._mass)
        dofs = w.arm_dofs
        jac = self._jac[:, dofs]
        dq = w.data.qvel[dofs]
        pos, quat = self._tcp_pose()
        return ArmDynamics(
            tcp_pos=pos,
            tcp_quat=quat,
            tcp_twist=jac @ dq,
            jacobian=jac,
            mass_matrix=self._mass[self._arm_block],
            # gravcomp cancels the weight, so bias minus gravcomp is the Coriolis part only
            coriolis=w.data.qfrc_bias[dofs] - w.data.qfrc_gravcomp[dofs],
            q=w.data.qpos[w.arm_qpos],
            dq=dq,
        )
