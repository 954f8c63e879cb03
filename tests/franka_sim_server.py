"""Runs franka-sim's libfranka-protocol server on 127.0.0.1 only (its CLI binds every interface).
Started by tests/test_franka_driver.py inside franka-sim's own venv."""

import sys

from franka_sim import FrankaSimServer

# lost command cycles abort motions as on the real arm. (Its motion-limit emulation stays off: with
# it, random exploration in tests/test_real_env.py trips joint_velocity_violation; see the note.)
server = FrankaSimServer(
    host="127.0.0.1",
    port=int(sys.argv[1]),
    enable_vis=False,
    enable_gripper=True,
    enforce_comm_constraints=True,
    enforce_motion_limits=False,
)
try:
    server.start()
finally:
    server.stop()
