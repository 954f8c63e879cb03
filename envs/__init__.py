"""Gymnasium tasks on the Franka arm, simulated or real, registered as robokit/<Task>-v0."""

from robokit.envs.sim import gl

# Before any module below imports mujoco, which fixes its GL backend on first import.
gl.select_backend()

from robokit.envs.registration import ENV_IDS, make, register_envs  # noqa: E402

register_envs()

__all__ = ["ENV_IDS", "make", "register_envs"]
