"""A run's quarantine: items a learner handler raised on, kept aside with their reason so that one
poison batch costs a line and a file, never the run (nor a crash loop when it is resumed)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from robokit.runs.folder import jsonable
from robokit.types import TransitionBatch


class Quarantine:
    """Items a learner handler raised on: written under `folder` with the reason, and one line
    said (the first ten, then every hundredth); the run goes on."""

    def __init__(self, folder: Path, say: Callable[[str], None]):
        self.folder, self.say, self.count = folder, say, 0

    def __call__(self, stream: str, items, err: Exception) -> None:
        self.count += 1
        path = self.folder / f"{stream}_{self.count:06d}"
        if self.count <= 1000:
            self.folder.mkdir(parents=True, exist_ok=True)
            if isinstance(items, TransitionBatch):
                columns = {f.name: getattr(items, f.name) for f in dataclasses.fields(items)}
                frames = {f"frames/{k}": v for k, v in columns.pop("frames").items()}
                np.savez(path.with_suffix(".npz"), **frames, **columns)
            else:
                path.with_suffix(".json").write_text(json.dumps(jsonable(items)))
            path.with_suffix(".why").write_text(f"{type(err).__name__}: {err}\n")
        if self.count <= 10 or self.count % 100 == 0:
            self.say(
                f"quarantined {stream} items a handler could not take ({type(err).__name__}: {err}): {path}"
            )
