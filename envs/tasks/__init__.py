"""The manipulation tasks: PickCube, PegInsert, Relocate, PackCubes."""

from robokit.envs.tasks.base import SimTask, Task
from robokit.envs.tasks.pack_cubes import PackCubes
from robokit.envs.tasks.peg_insert import PegInsert
from robokit.envs.tasks.pick_cube import PickCube
from robokit.envs.tasks.relocate import Relocate

SIM_TASKS: dict[str, type[SimTask]] = {
    "PickCube": PickCube,
    "PegInsert": PegInsert,
    "Relocate": Relocate,
    "PackCubes": PackCubes,
}

__all__ = ["SIM_TASKS", "PackCubes", "PegInsert", "PickCube", "Relocate", "SimTask", "Task"]
