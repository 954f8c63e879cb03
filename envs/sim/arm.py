"""The simulated FR3 behind the Robot interface: safety box, rate limits, impedance law per substep."""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from robokit.control.impedance import FR3_HOME_Q, ArmDynamics, ImpedanceGains, impedance_torque
from robokit.control.reference import ReferenceLimits, TcpReference, checked_command
from robokit.envs.sim.scene import World
from robokit.types import Command, Device, RobotState, SafetyBox

HOME_Q = FR3_HOME_Q
MAX_FINGER_OPENING = 0.04  # per finger, metres


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


class SimFrankaArm(Device):
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
        limits = ReferenceLimits(
            self.config.max_linear_speed, self.config.max_linear_accel, self.config.max_angular_speed
        )
        self.reference = TcpReference(self.safety_box, limits, self.config.gains.translational_stiffness)
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
        self.reference.reset(*self._tcp_pose())
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
        pos, quat, gripper = checked_command(command)
        self.reference.set_goal(pos, quat)
        self._gripper = float(np.clip(gripper, 0.0, 1.0))
        w = self.world
        w.data.ctrl[w.gripper_actuator] = MAX_FINGER_OPENING * (1.0 - self._gripper)
        dt = 1.0 / self.config.physics_hz
        for _ in range(self.substeps):
            ref_pos, ref_quat, twist = self.reference.advance(dt)  # the limits hold every substep
            mujoco.mj_step1(w.model, w.data)
            tau = impedance_torque(
                self._dynamics(), ref_pos, ref_quat, self.config.gains, self._rest_q, twist
            )
            w.data.ctrl[w.arm_actuators] = tau
            mujoco.mj_step2(w.model, w.data)
        return self.state()

    # internals ---------------------------------------------------------------------------------
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
