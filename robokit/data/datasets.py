"""Episodes as Minari datasets on local disk: written atomically, read back bit-exact, never overwritten."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np


@dataclass
class Episode:
    """One episode as arrays: T actions and T+1 observations (the reset observation first)."""

    observations: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    infos: dict[str, np.ndarray] = field(default_factory=dict)
    seed: int | None = None

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def success(self) -> bool:
        return bool(self.infos.get("success", np.zeros(1, bool))[-1])


class EpisodeRecorder:
    """Accumulates one episode step by step (call `start` after reset, `add` after each step)."""

    def __init__(self) -> None:
        self._obs: list[dict] = []
        self._actions: list[np.ndarray] = []
        self._rewards: list[float] = []
        self._terms: list[bool] = []
        self._truncs: list[bool] = []
        self._infos: list[dict] = []
        self._seed: int | None = None

    def start(self, obs: dict, info: dict, seed: int | None = None) -> None:
        self.__init__()
        self._obs.append(obs)
        self._infos.append(info)
        self._seed = seed

    def add(self, action, obs: dict, reward: float, terminated: bool, truncated: bool, info: dict) -> None:
        self._actions.append(np.asarray(action, dtype=np.float32))
        self._obs.append(obs)
        self._rewards.append(float(reward))
        self._terms.append(bool(terminated))
        self._truncs.append(bool(truncated))
        self._infos.append(info)

    def revise_last(self, obs: dict, info: dict) -> None:
        """Replace the newest observation and info by those the policy acted on (an operator's
        correction changed its instruction after the env returned them)."""
        self._obs[-1], self._infos[-1] = obs, info

    def relabel_last(self, **fields) -> None:
        """Set `fields` in the newest step's info (an operator's label given at that frame)."""
        if self._infos:
            self._infos[-1] = {**self._infos[-1], **fields}

    def finish(self) -> Episode:
        keys = self._obs[0].keys()
        numbers = (bool, int, float, np.number, np.bool_)  # text (an instruction) stays out of HDF5
        info_keys = [k for k in self._infos[0] if isinstance(self._infos[0][k], numbers)]
        return Episode(
            observations={k: np.stack([o[k] for o in self._obs]) for k in keys},
            actions=np.stack(self._actions),
            rewards=np.asarray(self._rewards, dtype=np.float64),
            terminations=np.asarray(self._terms),
            truncations=np.asarray(self._truncs),
            infos={k: np.asarray([i[k] for i in self._infos]) for k in info_keys},
            seed=self._seed,
        )


def check_output_dir(out: Path) -> Path:
    """Refuse a folder that exists or cannot be written, before any work is spent on its contents."""
    out = Path(out).expanduser().absolute()
    if out.exists():
        raise FileExistsError(
            f"{out} already exists: pass a new --out folder or delete this one "
            "(robokit never overwrites a dataset)."
        )
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".robokit-write-check-"):
            pass
    except OSError as err:
        raise PermissionError(
            f"cannot write to {parent} ({err.strerror or err}): pass an --out folder you can write to."
        ) from err
    return out


def write_dataset(
    out: Path,
    episodes: Iterable[Episode],
    observation_space: gym.spaces.Space,
    action_space: gym.spaces.Space,
    env: gym.Env | None = None,
    algorithm_name: str | None = None,
    description: str | None = None,
) -> Path:
    """Write `episodes` as a Minari dataset at `out` (which must not exist), all at once or not at all."""
    from minari import create_dataset_from_buffers as _create
    from minari.data_collector import EpisodeBuffer

    out = check_output_dir(out)
    buffers = [
        EpisodeBuffer(
            id=i,
            seed=ep.seed,
            observations=dict(ep.observations),
            actions=ep.actions,
            rewards=list(ep.rewards),
            terminations=list(ep.terminations),
            truncations=list(ep.truncations),
            infos=dict(ep.infos),
        )
        for i, ep in enumerate(episodes)
    ]
    if not buffers:
        raise ValueError("no episodes to write: record at least one episode.")
    slug = re.sub(r"[^A-Za-z0-9_]+", "_", out.name).strip("_") or "dataset"
    dataset_id = f"robokit/{slug}-v0"
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    previous = os.environ.get("MINARI_DATASETS_PATH")
    try:
        os.environ["MINARI_DATASETS_PATH"] = str(staging)
        with warnings.catch_warnings():
            # Minari nags about optional metadata (author, permalink, eval env) on every write.
            warnings.filterwarnings("ignore", category=UserWarning, module="minari")
            _create(
                dataset_id=dataset_id,
                buffer=buffers,
                env=env,
                observation_space=observation_space,
                action_space=action_space,
                algorithm_name=algorithm_name,
                author="robokit",
                description=description,
                data_format="hdf5",
                jpeg_encoding=False,  # lossless: a dataset must read back exactly what was recorded
            )
        os.rename(staging / dataset_id, out)  # atomic: a reader sees no dataset or a whole one
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous
        shutil.rmtree(staging, ignore_errors=True)
    return out


def write_next_episode(folder: Path, index: int, episode: Episode, env: gym.Env, **about) -> int:
    """Write `episode` as the Minari dataset folder/episode_<n>, n the first free number from
    `index` (a restarted writer adds to the episodes already there); returns the next n. `about`:
    write_dataset's algorithm_name and description."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    while (folder / f"episode_{index:05d}").exists():
        index += 1
    write_dataset(folder / f"episode_{index:05d}", [episode], env.observation_space, env.action_space,
                  env=env.env if isinstance(env, gym.Wrapper) else env, **about)  # fmt: skip
    return index + 1


def open_dataset(path: Path):
    """The Minari dataset that `robokit record` (or `write_dataset`) wrote at `path`."""
    import minari

    path = Path(path).expanduser()
    if not (path / "data").is_dir():
        raise FileNotFoundError(
            f"no Minari dataset at {path}: pass the folder that `robokit record --out` wrote."
        )
    return minari.MinariDataset(path / "data")


def datasets_under(path: Path) -> list[Path]:
    """`path` if it is a Minari dataset, else every dataset in the folders below it, sorted (a run's
    corrections/ folder: one per corrected episode per actor); none is one sentence."""
    path = Path(path).expanduser()
    if (path / "data").is_dir():
        return [path]
    found = sorted(data.parent for data in path.rglob("data") if data.is_dir() and data.parent != path)
    if not found:
        raise FileNotFoundError(
            f"no Minari dataset at or under {path}: pass a folder that `robokit record --out` or a run's "
            "actors (corrections/) wrote."
        )
    return found


def read_episodes(path: Path) -> list[Episode]:
    """Every episode of a dataset, as arrays."""
    dataset = open_dataset(path)
    episodes = []
    for ep in dataset.iterate_episodes():
        obs: Any = ep.observations
        episodes.append(
            Episode(
                observations=dict(obs) if isinstance(obs, dict) else {"obs": obs},
                actions=np.asarray(ep.actions),
                rewards=np.asarray(ep.rewards),
                terminations=np.asarray(ep.terminations),
                truncations=np.asarray(ep.truncations),
                infos={k: np.asarray(v) for k, v in (ep.infos or {}).items()},
            )
        )
    return episodes
