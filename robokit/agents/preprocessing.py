"""What every agent (and the reward classifier) does to observations before a network sees them:
the standardisation of the "state" vector and of any other vector entry (an instruction's
embedding), and DrQ's random shift of images."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from robokit.types import EnvSpec, Params


def initial_obs_norm(spec: EnvSpec, state_mean=None, state_std=None, entries=None) -> Params:
    """{"mean", "std"} standardising the "state" vector, and {key: {"mean", "std"}} for each other
    vector entry (`entries`: key -> (mean, std)); identity where no statistics are given.

    An instruction's embedding is scaled like the state: the embeddings of "move a bit to the left"
    and "... right" differ by ~0.02 per dimension, small beside standardised state features."""
    shapes = {k: shape for k, shape, _ in spec.observations}
    norm = _stats(shapes["state"][0], state_mean, state_std)
    for key in extra_vector_keys(spec):
        mean, std = (entries or {}).get(key, (None, None))
        norm[key] = _stats(shapes[key][0], mean, std)
    return norm


def _stats(dim: int, mean, std) -> Params:
    return {
        "mean": jnp.zeros(dim) if mean is None else jnp.asarray(mean, jnp.float32),
        "std": jnp.ones(dim) if std is None else jnp.asarray(std, jnp.float32),
    }


def extra_vector_keys(spec: EnvSpec) -> list[str]:
    """The vector entries beside "state" (not images), by name."""
    return sorted(k for k, _, _ in spec.observations if k != "state" and k not in spec.image_keys)


def normalize(obs: dict, obs_norm: Params) -> dict:
    out = {**obs, "state": (obs["state"].astype(jnp.float32) - obs_norm["mean"]) / obs_norm["std"]}
    for key, stats in obs_norm.items():
        if isinstance(stats, dict) and key in obs:
            out[key] = (obs[key].astype(jnp.float32) - stats["mean"]) / stats["std"]
    return out


def obs_statistics(obs: dict, spec: EnvSpec, size: int) -> dict:
    """The keyword arguments of Agent.init from the first `size` recorded observations (a replay
    buffer's `obs`): the "state" vector's statistics and every other vector entry's."""
    mean, std = state_statistics(obs["state"][:size])
    entries = {key: state_statistics(obs[key][:size]) for key in extra_vector_keys(spec)}
    return {"state_mean": mean, "state_std": std, "entries": entries}


def vector_features(obs: dict, image_keys: tuple[str, ...] = ()) -> jax.Array:
    """The "state" vector, then every other entry that is not an image, by name (e.g. a language
    instruction's embedding, robokit.language.instructed), as one float32 vector."""
    others = sorted(set(obs) - {"state", *image_keys})
    return jnp.concatenate([obs[k].astype(jnp.float32) for k in ("state", *others)], axis=-1)


def vector_dim(spec: EnvSpec) -> int:
    """The length of vector_features for observations of `spec`."""
    return sum(int(np.prod(shape)) for key, shape, _ in spec.observations if key not in spec.image_keys)


def state_statistics(states, std_floor: float = 0.01):
    """Mean and floored std of recorded "state" vectors (the floor keeps near-constant dims sane)."""
    states = np.asarray(states, np.float64)
    return states.mean(axis=0), np.maximum(states.std(axis=0), std_floor)


def random_shift(images: jax.Array, key: jax.Array, pad: int) -> jax.Array:
    """Pad by `pad` pixels (edge) and crop back at a random offset per image (Kostrikov et al. 2020)."""
    n, h, w, _ = images.shape
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    offsets = jax.random.randint(key, (n, 2), 0, 2 * pad + 1)

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, image.shape[-1]))

    return jax.vmap(crop)(padded, offsets)


def colour_jitter(images: jax.Array, key: jax.Array, strength: float) -> jax.Array:
    """Per image a random brightness, contrast and colour cast (a gain per channel), each a factor
    in [1 - strength, 1 + strength]: a net trained on jittered frames reads shapes and places, not
    one lighting's exact colours. Returns float32 frames in [0, 255]."""
    n = images.shape[0]
    keys = jax.random.split(key, 3)
    brightness, contrast = (
        jax.random.uniform(k, (n, 1, 1, 1), minval=1 - strength, maxval=1 + strength) for k in keys[:2]
    )
    cast = jax.random.uniform(keys[2], (n, 1, 1, images.shape[-1]), minval=1 - strength, maxval=1 + strength)
    x = images.astype(jnp.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return jnp.clip(((x - mean) * contrast + mean) * brightness * cast, 0.0, 255.0)
