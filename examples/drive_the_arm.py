"""Drive the simulated FR3 through the Robot interface: trace a 10 cm square, then try to leave the box.

Run: python examples/drive_the_arm.py
The same calls drive the real arm: only the Robot object changes (robokit.drivers.franka.FrankaArm,
which `robokit robot-check --config robot.yaml` exercises).
"""

import numpy as np

from robokit.envs.sim.arm import SimArmConfig, SimFrankaArm
from robokit.envs.sim.scene import ASSETS, World
from robokit.types import Command, SafetyBox


def main(laps: int = 1) -> float:
    # A world with the arm, its hand and the PickCube table; the arm's safety box is 30 x 40 x 40 cm.
    world = World.from_task_xml(ASSETS / "pick_cube.xml")
    box = SafetyBox(low=(0.3, -0.2, 0.1), high=(0.6, 0.2, 0.5))
    arm = SimFrankaArm(world, SimArmConfig(control_hz=10, safety_box=box))

    state = arm.home()
    down = state.tcp_quat  # keep the gripper pointing down
    corners = [(0.4, -0.05, 0.3), (0.5, -0.05, 0.3), (0.5, 0.05, 0.3), (0.4, 0.05, 0.3)]

    # Each step() tracks the command for one 100 ms control period (50 physics substeps).
    worst = 0.0
    for _ in range(laps):
        for corner in corners:
            for _ in range(10):
                state = arm.step(Command(np.array(corner), down, gripper=0.0))
            error_mm = 1000 * np.linalg.norm(state.tcp_pos - corner)
            worst = max(worst, error_mm)
            print(f"corner {corner}: TCP {np.round(state.tcp_pos, 4)}  error {error_mm:.2f} mm")

    # Ask for a point 1 m below the table: the arm stops at the box's floor instead.
    for _ in range(20):
        state = arm.step(Command(np.array([0.45, 0.0, -1.0]), down))
    print(f"asked for z = -1.0 m, got z = {state.tcp_pos[2]:.4f} m (box floor {box.low[2]} m)")
    return worst


if __name__ == "__main__":
    main()
