"""robokit's own FR3 + hand MJCF: Franka's names, kinematics and limits; provenance kept."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from robokit.control.kinematics import FR3_Q_MAX, FR3_Q_MIN, tcp_pose
from robokit.envs.sim.arm import HOME_Q
from robokit.envs.sim.scene import ARM_XML, ASSETS, HAND_XML, World


def test_arm_loads_alone_with_frankas_names():
    model = mujoco.MjModel.from_xml_path(str(ARM_XML))
    assert model.nq == 7 and model.nu == 7
    assert [model.joint(i).name for i in range(7)] == [f"fr3_joint{i}" for i in range(1, 8)]
    for i in range(9):
        assert model.body(f"fr3_link{i}").id > 0
    for i in range(8):
        assert model.geom(f"fr3_link{i}_collision").id >= 0


@pytest.mark.parametrize("seed", range(5))
def test_kinematics_match_frankas_dh_table(seed):
    model = mujoco.MjModel.from_xml_path(str(ARM_XML))
    data = mujoco.MjData(model)
    rng = np.random.default_rng(seed)
    q = rng.uniform(model.jnt_range[:, 0], model.jnt_range[:, 1])
    data.qpos[:] = q
    mujoco.mj_kinematics(model, data)
    expected = tcp_pose(q, tcp_offset=0.0)  # the flange, from Franka's DH table (not the MJCF)
    np.testing.assert_allclose(data.body("fr3_link8").xpos, expected[:3, 3], atol=1e-6)
    np.testing.assert_allclose(data.body("fr3_link8").xmat.reshape(3, 3), expected[:3, :3], atol=1e-6)


def test_joint_and_torque_limits_are_the_fr3_datasheet_values():
    model = mujoco.MjModel.from_xml_path(str(ARM_XML))
    np.testing.assert_allclose(model.jnt_range[:, 1], FR3_Q_MAX)
    np.testing.assert_allclose(model.jnt_range[:, 0], FR3_Q_MIN)
    np.testing.assert_allclose(model.actuator_ctrlrange[:, 1], [87, 87, 87, 87, 12, 12, 12])
    assert 15.0 < model.body_mass.sum() < 20.0  # FR3 arm ~17.8 kg with base


def test_hand_tcp_is_1034mm_from_the_flange_pointing_down_at_home():
    world = World.from_task_xml(ASSETS / "pick_cube.xml")
    world.data.qpos[world.arm_qpos] = HOME_Q
    mujoco.mj_forward(world.model, world.data)
    flange = world.data.body("fr3_link8")
    tcp = world.data.site_xpos[world.tcp_site]
    np.testing.assert_allclose(tcp - flange.xpos, [0, 0, -0.1034], atol=1e-6)
    hand_z = world.data.body("fr3_hand").xmat.reshape(3, 3)[:, 2]
    np.testing.assert_allclose(hand_z, [0, 0, -1], atol=1e-5)


def test_gravity_is_compensated_like_the_real_arm():
    world = World.from_task_xml(ASSETS / "pick_cube.xml")
    world.data.qpos[world.arm_qpos] = HOME_Q
    for _ in range(500):  # 1 s with zero commanded torque
        mujoco.mj_step(world.model, world.data)
    assert np.abs(world.data.qvel[world.arm_dofs]).max() < 0.05


def test_provenance_and_licence_are_kept_with_the_assets():
    text = (ASSETS / "PROVENANCE.md").read_text()
    for name in ("fr3.xml", "franka_hand.xml", "workcell.xml", "Apache"):
        assert name in text
    assert HAND_XML.exists() and (ASSETS / "LICENSE").exists()
