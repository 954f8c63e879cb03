"""Learner checkpoints: agent state (orbax), replay buffers and counters, written all-or-nothing.

A checkpoint is a folder `checkpoints/step_<N>`; it is written as `step_<N>.partial`, fsynced
(every file and folder) and renamed only when complete, so a crash, Ctrl-C or power cut mid-write
leaves the previous checkpoint as the latest; the link log a checkpoint covers is deleted only after.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp

from robokit.data.durable import fsync_directory, fsync_tree
from robokit.data.replay import ReplayBuffer
from robokit.types import EnvSpec

KEEP = 2


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read."""


def save(directory: Path, step: int, agent_state, buffers: dict[str, ReplayBuffer], counters: dict) -> Path:
    """Write checkpoint `step` under `directory`; keep the newest KEEP; return its folder."""
    directory = Path(directory).absolute()
    final = directory / f"step_{step:09d}"
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(partial / "agent", agent_state)
            checkpointer.wait_until_finished()
        for name, buffer in buffers.items():
            buffer.save(partial / f"buffer_{name}.npz")
        (partial / "counters.json").write_text(json.dumps(counters))
        fsync_tree(partial)
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
        fsync_directory(directory)
    except OSError as err:
        shutil.rmtree(partial, ignore_errors=True)
        why = "the disk is full" if err.errno == errno.ENOSPC else (err.strerror or str(err))
        raise CheckpointError(
            f"writing checkpoint {final.name} failed ({why}): free space or use a run folder on another "
            "disk; the previous checkpoint is intact."
        ) from err
    for old in sorted(directory.glob("step_*[0-9]"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest(directory: Path) -> Path | None:
    complete = sorted(Path(directory).glob("step_*[0-9]"))
    return complete[-1] if complete else None


def discard_partials(directory: Path) -> None:
    for partial in Path(directory).glob("*.partial"):
        shutil.rmtree(partial, ignore_errors=True)


def restore(
    folder: Path, agent_template, spec: EnvSpec, buffers: bool = True
) -> tuple[object, dict[str, ReplayBuffer], dict]:
    """Agent state (shaped like `agent_template`), buffers (unless `buffers` is False: {}) and
    counters of one checkpoint folder."""
    folder = Path(folder).absolute()
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            state = checkpointer.restore(folder / "agent", agent_template)
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"the checkpoint in {folder} does not fit this agent config ({type(err).__name__}): it was "
            "written with another config or by an earlier robokit version; resume with the config the run "
            "was started with, or start a new run."
        ) from err
    paths = sorted(folder.glob("buffer_*.npz")) if buffers else []
    loaded = {path.stem.removeprefix("buffer_"): ReplayBuffer.load(path, spec) for path in paths}
    counters = json.loads((folder / "counters.json").read_text())
    return state, loaded, counters


def rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def rng_from_state(state: dict) -> np.random.Generator:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng
