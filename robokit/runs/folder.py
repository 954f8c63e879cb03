"""The run folder: making a new one (never over an old one), and its config.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from robokit.types import EnvSpec


def fresh_run_dir(run_dir: Path, resumable: bool = False) -> Path:
    """Create the run folder, refusing one that already holds something (one sentence)."""
    run_dir = Path(run_dir).absolute()
    if run_dir.exists() and any(run_dir.iterdir()):
        also = ", or --resume it" if resumable else ""
        raise FileExistsError(f"{run_dir} already exists: pass a new --run-dir{also}.")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def jsonable(value: Any) -> Any:
    """A dataclass (or anything JSON takes, with paths as text) as plain JSON values."""

    def plain(item: Any) -> Any:
        return dataclasses.asdict(item) if dataclasses.is_dataclass(item) else str(item)

    return json.loads(json.dumps(value, default=plain))


def write_config(run_dir: Path, spec: EnvSpec, agent_config, **sections: Any) -> None:
    """config.json: the resolved agent config, the env spec and the run's own sections ("algo",
    "train", "reset_free", "demos", ...), as a run's loader reads them back."""
    resolved = {**jsonable(sections), "agent": jsonable(agent_config), "spec": jsonable(spec)}
    (Path(run_dir) / "config.json").write_text(json.dumps(resolved, indent=2))
