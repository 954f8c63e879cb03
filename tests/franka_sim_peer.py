"""franka-sim (PyPI) as a test peer: a MuJoCo FR3 that speaks the libfranka network protocol.

It pins numpy 1.26 and mujoco 3.2, so it gets a venv of its own, made once and cached in
~/.cache/robokit (or $ROBOKIT_FRANKA_SIM_VENV). It loads robokit's own FR3 MJCF (it would otherwise
download one) and listens on 127.0.0.1 only (tests/franka_sim_server.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

FRANKA_SIM = "franka-sim==1.1.7"
ASSETS = Path(__file__).parents[1] / "envs" / "sim" / "assets"
PORT = 1337  # libfranka's command port; clients cannot pick another


def franka_sim_python() -> Path:
    default = Path.home() / ".cache" / "robokit" / "franka-sim-1.1.7"
    venv = Path(os.environ.get("ROBOKIT_FRANKA_SIM_VENV", default))
    ready = venv / "robokit-ready"
    if not ready.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", FRANKA_SIM], check=True, timeout=900)
        ready.write_text(FRANKA_SIM)
    return venv / "bin" / "python"


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


def start_server(log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "FR3_MJCF": str(ASSETS / "fr3.xml"),
        "FRANKA_HAND_MJCF": str(ASSETS / "franka_hand.xml"),
    }
    with open(log, "w") as out:
        server = subprocess.Popen(
            [str(franka_sim_python()), str(Path(__file__).with_name("franka_sim_server.py")), str(PORT)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if not wait_for_port("127.0.0.1", PORT, 60):
        server.kill()
        raise RuntimeError(f"franka-sim did not start: {log.read_text()[-3000:]}")
    return server


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
