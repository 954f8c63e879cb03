"""Builds a MuJoCo world from robokit's assets: workcell + task objects + FR3 arm + Franka Hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import mujoco
import numpy as np

ASSETS = Path(str(resources.files("robokit.envs.sim") / "assets"))
WORKCELL_XML = ASSETS / "workcell.xml"
ARM_XML = ASSETS / "fr3.xml"
HAND_XML = ASSETS / "franka_hand.xml"

#: The real wrist: the hand sits -45 deg about the flange z. The hand file carries 180 deg of
#: that itself (see franka_hand.xml), the mounting frame the remaining +135 deg.
FLANGE_TO_HAND_QUAT = (0.38268343, 0.0, 0.0, 0.92387953)

ARM_JOINTS = tuple(f"fr3_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("fr3_finger_joint1", "fr3_finger_joint2")
TCP_SITE = "fr3_tcp"


def _attach_quietly(compile_fn: Callable[[], mujoco.MjModel]) -> mujoco.MjModel:
    """Compile while muting MuJoCo's note about empty attach prefixes (names here are unique)."""
    previous = mujoco.get_mju_user_warning()

    def forward(message: str) -> None:
        if "empty prefix" not in message:
            raise RuntimeError(f"MuJoCo warning while building the scene: {message}")

    mujoco.set_mju_user_warning(forward)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*empty prefix.*")
            return compile_fn()
    finally:
        mujoco.set_mju_user_warning(previous)


def build_model(
    task_xml: Path,
    customize: Callable[[mujoco.MjSpec], None] | None = None,
    render_size: tuple[int, int] = (640, 480),
) -> mujoco.MjModel:
    """Compile the workcell with the task's objects and the arm and hand mounted at the origin."""
    scene = mujoco.MjSpec.from_file(str(WORKCELL_XML))
    objects = mujoco.MjSpec.from_file(str(task_xml))
    arm = mujoco.MjSpec.from_file(str(ARM_XML))
    hand = mujoco.MjSpec.from_file(str(HAND_XML))

    def assemble() -> mujoco.MjModel:
        mount = arm.body("fr3_link8").add_frame()
        mount.quat = list(FLANGE_TO_HAND_QUAT)
        mount.attach_body(hand.worldbody.first_body(), "fr3_", "")
        scene.attach(objects, frame=scene.worldbody.add_frame(), prefix="")
        base = scene.worldbody.add_frame()
        base.attach_body(arm.worldbody.first_body(), "", "")
        if customize is not None:
            customize(scene)
        width, height = render_size
        scene.visual.global_.offwidth = max(scene.visual.global_.offwidth, width)
        scene.visual.global_.offheight = max(scene.visual.global_.offheight, height)
        return scene.compile()

    return _attach_quietly(assemble)


def _contiguous(indices: list[int]) -> slice:
    if list(indices) != list(range(indices[0], indices[0] + len(indices))):
        raise ValueError(f"expected consecutive addresses for the arm, got {indices}")
    return slice(int(indices[0]), int(indices[0]) + len(indices))


@dataclass
class World:
    """A compiled model and its data, with the arm's addresses resolved once."""

    model: mujoco.MjModel
    data: mujoco.MjData

    def __post_init__(self) -> None:
        m = self.model
        jid = [m.joint(name).id for name in ARM_JOINTS]
        # Slices, not index arrays: views are cheaper, and the arm is read every physics substep.
        self.arm_qpos = _contiguous([m.jnt_qposadr[j] for j in jid])
        self.arm_dofs = _contiguous([m.jnt_dofadr[j] for j in jid])
        self.arm_actuators = _contiguous([m.actuator(name).id for name in ARM_JOINTS])
        fid = [m.joint(name).id for name in FINGER_JOINTS]
        self.finger_qpos = np.array([m.jnt_qposadr[j] for j in fid])
        self.finger_dofs = np.array([m.jnt_dofadr[j] for j in fid])
        self.gripper_actuator = m.actuator("fr3_fingers").id
        self.tcp_site = m.site(TCP_SITE).id
        self.hand_body = m.body("fr3_hand").id

    @classmethod
    def from_task_xml(cls, task_xml: Path, **kwargs) -> World:
        model = build_model(task_xml, **kwargs)
        return cls(model, mujoco.MjData(model))

    def reset(self, keep_free_bodies: bool = False) -> None:
        """Back to the model's initial state; optionally keep every free body's pose."""
        saved = self.free_body_poses()
        mujoco.mj_resetData(self.model, self.data)
        if keep_free_bodies:
            self.set_free_body_poses(saved)
        mujoco.mj_forward(self.model, self.data)

    def _free_joints(self) -> list[int]:
        m = self.model
        return [j for j in range(m.njnt) if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]

    def free_body_poses(self) -> list[list[float]]:
        """Position and quaternion (7 numbers) of every free body, in joint order."""
        adr = self.model.jnt_qposadr
        return [self.data.qpos[adr[j] : adr[j] + 7].tolist() for j in self._free_joints()]

    def set_free_body_poses(self, poses: list[list[float]]) -> None:
        """Put every free body at a pose from `free_body_poses` (at rest); call mj_forward after."""
        free = self._free_joints()
        if len(poses) != len(free):
            raise ValueError(f"{len(poses)} poses for {len(free)} free bodies: pass one per free body.")
        for j, pose in zip(free, poses, strict=True):
            adr, dof = self.model.jnt_qposadr[j], self.model.jnt_dofadr[j]
            self.data.qpos[adr : adr + 7] = pose
            self.data.qvel[dof : dof + 6] = 0.0

    def body_pos(self, name: str) -> np.ndarray:
        return self.data.body(name).xpos.copy()

    def set_free_body(self, joint: str, pos: np.ndarray, quat: np.ndarray | None = None) -> None:
        """Place a free-jointed body and stop it."""
        adr = self.model.joint(joint).qposadr[0]
        dof = self.model.joint(joint).dofadr[0]
        self.data.qpos[adr : adr + 3] = pos
        self.data.qpos[adr + 3 : adr + 7] = (1.0, 0.0, 0.0, 0.0) if quat is None else quat
        self.data.qvel[dof : dof + 6] = 0.0

    def set_mocap(self, body: str, pos: np.ndarray) -> None:
        self.data.mocap_pos[self.model.body(body).mocapid[0]] = pos
