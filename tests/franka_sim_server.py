"""Runs franka-sim's libfranka-protocol server on 127.0.0.1 only (its CLI binds every interface).
Started by tests/test_franka_driver.py inside franka-sim's own venv."""

import sys

from franka_sim import FrankaSimServer

server = FrankaSimServer(host="127.0.0.1", port=int(sys.argv[1]), enable_vis=False, enable_gripper=True)
try:
    server.start()
finally:
    server.stop()
