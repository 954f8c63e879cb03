"""What the networks that read camera frames share (reward classifiers, the pose encoder): a conv
encoder per camera, the check that frames fit what a network was trained on, and a folder of weights
and card written all at once."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from robokit.agents.networks import ConvEncoder


def camera_embeddings(
    images: dict[str, jax.Array], image_keys: tuple[str, ...], downsample: int
) -> jax.Array:
    """Inside a module's compact call: per camera an average pool by `downsample` and a strided conv
    encoder (a submodule "encoder_<camera>" of the caller); their embeddings concatenated."""
    parts = []
    for key in image_keys:
        x = images[key].astype(jnp.float32)
        if downsample > 1:
            x = nn.avg_pool(x, (downsample, downsample), (downsample, downsample))
        encoder = ConvEncoder(
            features=(32, 32, 32, 32), strides=(2, 2, 2, 1), embedding_dim=64, name=f"encoder_{key}"
        )
        parts.append(encoder(x))
    return jnp.concatenate(parts, axis=-1)


def check_frames(
    frame_shapes: dict[str, tuple], images: dict[str, np.ndarray], what: str, retrain: str
) -> None:
    """One sentence naming the fix if `images` lack a camera `what` (e.g. "the classifier") reads, or
    give frames of another size than it was trained on (`retrain`: how to train it on these)."""
    for key, shape in frame_shapes.items():
        if key not in images:
            raise ValueError(
                f"{what} reads camera {key!r}, which these observations lack (they have {sorted(images)}): "
                "give the env the cameras it was trained on."
            )
        got = tuple(np.shape(images[key])[-3:])
        if got != tuple(shape):
            raise ValueError(
                f"camera {key!r} gives {got[0]}x{got[1]} frames but {what} was trained on "
                f"{shape[0]}x{shape[1]}: set the camera size to {shape[0]}x{shape[1]} or {retrain}."
            )


def saved_folder(folder: Path, names: tuple[str, ...], what: str, command: str) -> Path:
    """`folder` (user-expanded) if it holds every file of `names`; else one sentence naming the
    `command` that writes such a folder."""
    folder = Path(folder).expanduser()
    if not all((folder / name).is_file() for name in names):
        raise FileNotFoundError(f"no {what} at {folder}: pass the folder that `{command}` wrote.")
    return folder


def folder_digest(folder: Path, names: tuple[str, ...]) -> str:
    """The first 12 hex digits of the SHA-256 of the files `names` in `folder`, in that order: what a
    learner and its actors compare to know they load the same saved network."""
    digest = hashlib.sha256()
    for name in names:
        digest.update((Path(folder) / name).read_bytes())
    return digest.hexdigest()[:12]


def write_folder(out: Path, files: dict[str, bytes]) -> Path:
    """Write `files` as the folder `out` all at once: a reader never sees half of it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        if out.exists():
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
