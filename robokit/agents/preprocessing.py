"""What every agent (and the reward classifier) does to observations before a network sees them:
the "state" vector's standardisation and DrQ's random shift of images."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from robokit.types import EnvSpec, Params


def initial_obs_norm(spec: EnvSpec, state_mean=None, state_std=None) -> Params:
    """{"mean", "std"} standardising the "state" vector (identity when no statistics are given)."""
    dim = dict((k, shape) for k, shape, _ in spec.observations)["state"][0]
    return {
        "mean": jnp.zeros(dim) if state_mean is None else jnp.asarray(state_mean, jnp.float32),
        "std": jnp.ones(dim) if state_std is None else jnp.asarray(state_std, jnp.float32),
    }


def normalize(obs: dict, obs_norm: Params) -> dict:
    return {**obs, "state": (obs["state"].astype(jnp.float32) - obs_norm["mean"]) / obs_norm["std"]}


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
