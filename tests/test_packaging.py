"""The package as users get it: a built wheel installed outside the repository, and clean layering."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_installs_and_imports_outside_the_repository(tmp_path):
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("robokit-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # robokit's dependencies come from the interpreter running the tests (a user's venv or the
    # system's), behind the new venv's own site; a path in a .pth does not run that site's .pth
    # files, so the editable install there stays out of the way
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "robokit_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", site, str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        "import robokit, robokit.envs, robokit.drivers, robokit.control.impedance\n"
        "assert 'site-packages' in robokit.__file__, robokit.__file__\n"
        "assert robokit.envs.__file__.startswith(robokit.__path__[0]), robokit.envs.__file__\n"
        "env = robokit.envs.make('PegInsert-v0')\n"
        "obs, _ = env.reset(seed=0)\n"
        "print(robokit.__file__)\n"
    )
    result = subprocess.run([python, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert str(REPO) not in result.stdout


def test_core_does_not_import_envs_or_drivers():
    code = (
        "import sys, robokit, robokit.control.impedance, robokit.types, robokit.control.spatial\n"
        "import robokit.data.datasets\n"
        "bad = [m for m in sys.modules if m.startswith(('robokit.envs', 'robokit.drivers', 'mujoco'))]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_envs_and_drivers_are_never_bare_packages():
    for bare in ("envs", "drivers"):
        result = subprocess.run([sys.executable, "-c", f"import {bare}"], capture_output=True, cwd="/")
        assert result.returncode != 0
