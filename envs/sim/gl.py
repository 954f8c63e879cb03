"""Headless OpenGL for MuJoCo: pick EGL, fall back to OSMesa, or say which Debian package is missing.

MuJoCo picks its GL backend from MUJOCO_GL when it is first imported, so `import robokit.envs`
chooses before importing mujoco, by trying each backend in a throwaway child process (~0.3 s, only
when MUJOCO_GL is unset). The choice is written to the environment, so processes robokit starts
later inherit it without probing again. If the user imported mujoco first, the chosen backend's
GLContext is bound into mujoco's renderer late, which works as long as PyOpenGL has not yet been
imported for another platform.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

BACKENDS = ("egl", "osmesa")
DEBIAN_PACKAGES = {"egl": "libegl1", "osmesa": "libosmesa6"}

_PROBE = "import mujoco\nctx = mujoco.GLContext(16, 16)\nctx.make_current()\nctx.free()\n"

#: Why each backend failed its probe in this process, for the error message.
failures: dict[str, str] = {}


class RenderingUnavailable(RuntimeError):
    """No headless OpenGL backend works on this machine."""


def probe_backend(backend: str) -> str | None:
    """Try `backend` in a child process; None when it renders, else the reason it did not."""
    env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return "the probe timed out after 60 s"
    if result.returncode == 0:
        return None
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {result.returncode}"


def select_backend(probe: Callable[[str], str | None] = probe_backend) -> str | None:
    """Set MUJOCO_GL to the first backend that works (an explicit MUJOCO_GL is kept as is)."""
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen
    for backend in BACKENDS:
        reason = probe(backend)
        if reason is None:
            if "mujoco" in sys.modules and not _bind_late(backend):
                failures[backend] = "mujoco and PyOpenGL were imported before robokit chose a backend"
                continue
            os.environ["MUJOCO_GL"] = backend
            os.environ.setdefault("PYOPENGL_PLATFORM", backend)
            return backend
        failures[backend] = reason
    return None


def _bind_late(backend: str) -> bool:
    """Point an already imported mujoco at `backend`, while PyOpenGL has not fixed a platform yet."""
    if "OpenGL" in sys.modules and os.environ.get("PYOPENGL_PLATFORM") != backend:
        return False
    os.environ["PYOPENGL_PLATFORM"] = backend
    import importlib

    context_cls = importlib.import_module(f"mujoco.{backend}").GLContext
    from mujoco.rendering.classic import gl_context

    gl_context.GLContext = context_cls
    return True


def unavailable_message(detail: str = "") -> str:
    """One sentence naming what failed and the Debian packages that fix it."""
    tried = "; ".join(f"{name}: {why}" for name, why in failures.items()) or detail
    packages = " ".join(DEBIAN_PACKAGES.values())
    return (
        f"MuJoCo cannot render headless (MUJOCO_GL={os.environ.get('MUJOCO_GL', 'unset')}"
        f"{'; ' + tried if tried else ''}): install Debian's {DEBIAN_PACKAGES['egl']} for EGL "
        f"or {DEBIAN_PACKAGES['osmesa']} for OSMesa (apt-get install {packages}), and set "
        "MUJOCO_GL=egl or osmesa before anything imports mujoco."
    )
