"""`robokit doctor`: what this machine has of the system packages robokit uses, and the one line
that installs what is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Doctor:
    """Check this machine for what robokit needs from the system (headless rendering, libusb for
    RealSense cameras, the real-hardware extra) and print the apt-get line that installs the rest."""


def _imports(module: str) -> str | None:
    """None if `module` imports in a fresh interpreter, else why not (one line)."""
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    if result.returncode == 0:
        return None
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {result.returncode}"


def run(args: Doctor) -> None:
    from robokit.envs.sim.gl import BACKENDS, DEBIAN_PACKAGES, probe_backend

    missing: list[str] = []
    rendering = {backend: probe_backend(backend) for backend in BACKENDS}
    works = [b for b, reason in rendering.items() if reason is None]
    print(f"headless rendering: {'ok (' + ', '.join(works) + ')' if works else 'none works'}")
    if not works:
        missing += [DEBIAN_PACKAGES["egl"], DEBIAN_PACKAGES["osmesa"]]
    for module, package, extra in (("pyrealsense2", "libusb-1.0-0", "real"), ("pylibfranka", None, "real")):
        if importlib.util.find_spec(module) is None:
            print(f"{module}: not installed (pip install 'robokit[{extra}]' for the real arm and cameras)")
            continue
        reason = _imports(module)
        print(f"{module}: {'ok' if reason is None else reason}")
        if reason is not None and package:
            missing.append(package)
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    absent = "not found (optional: the operator console's browser test runs in it; apt-get install chromium)"
    print(f"chromium: {browser or absent}")
    if missing:
        print(f"install the missing system packages with: sudo apt-get install {' '.join(missing)}")
        raise SystemExit(1)
    print("nothing is missing")
