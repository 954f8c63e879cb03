"""Runs franka-sim's libfranka-protocol server on 127.0.0.1 only (its CLI binds every interface).
Started by tests/test_franka_driver.py inside franka-sim's own venv."""

import sys

from franka_sim import FrankaSimServer

# Lost command cycles abort motions as on the real arm, and its safety controller's emulation judges
# the measured joint velocities (random exploration in tests/test_real_env.py tripped
# joint_velocity_violation before the TCP reference bounded its change of velocity).
server = FrankaSimServer(
    host="127.0.0.1",
    port=int(sys.argv[1]),
    enable_vis=False,
    enable_gripper=True,
    enforce_comm_constraints=True,
    enforce_motion_limits=True,
)
try:
    server.start()
finally:
    server.stop()
