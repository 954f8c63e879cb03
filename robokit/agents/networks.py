"""Flax (linen) networks shared by robokit agents: MLPs, critic ensembles, tanh-Gaussian actors, encoders."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from robokit.agents.preprocessing import vector_features

default_init = nn.initializers.lecun_normal


class MLP(nn.Module):
    hidden_dims: Sequence[int]
    layer_norm: bool = False
    activate_final: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, width in enumerate(self.hidden_dims):
            x = nn.Dense(width, kernel_init=default_init())(x)
            if i + 1 < len(self.hidden_dims) or self.activate_final:
                if self.layer_norm:
                    x = nn.LayerNorm()(x)
                x = nn.relu(x)
        return x


class ConvEncoder(nn.Module):
    """A small conv net per camera image (DrQ-style), ending in a LayerNorm'd, tanh'd embedding."""

    features: Sequence[int] = (32, 32, 32, 32)
    strides: Sequence[int] = (2, 1, 1, 1)
    embedding_dim: int = 50

    @nn.compact
    def __call__(self, image: jax.Array) -> jax.Array:
        x = image.astype(jnp.float32) / 255.0
        for features, stride in zip(self.features, self.strides, strict=True):
            x = nn.relu(nn.Conv(features, (3, 3), strides=stride, padding="VALID")(x))
        x = x.reshape(*x.shape[:-3], -1)
        return jnp.tanh(nn.LayerNorm()(nn.Dense(self.embedding_dim)(x)))


class ObservationEncoder(nn.Module):
    """Turns a dict observation into one feature vector: images through conv encoders, then the
    "state" vector, then any other vector entry as is, by name (e.g. a language instruction's
    embedding, robokit.language.instructed)."""

    image_keys: tuple[str, ...] = ()
    embedding_dim: int = 50

    @nn.compact
    def __call__(self, obs: dict[str, jax.Array]) -> jax.Array:
        parts = [
            ConvEncoder(embedding_dim=self.embedding_dim, name=f"encoder_{k}")(obs[k])
            for k in self.image_keys
        ]
        parts.append(vector_features(obs, self.image_keys))
        return jnp.concatenate(parts, axis=-1)


class Critic(nn.Module):
    hidden_dims: Sequence[int]
    layer_norm: bool = True

    @nn.compact
    def __call__(self, features: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([features, action], axis=-1)
        x = MLP(self.hidden_dims, layer_norm=self.layer_norm, activate_final=True)(x)
        return nn.Dense(1, kernel_init=default_init())(x).squeeze(-1)


class CriticEnsemble(nn.Module):
    """`num` independent critics evaluated in one vectorised call: output (num, batch)."""

    num: int
    hidden_dims: Sequence[int]
    layer_norm: bool = True

    @nn.compact
    def __call__(self, features: jax.Array, action: jax.Array) -> jax.Array:
        ensemble = nn.vmap(
            Critic,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num,
        )
        return ensemble(self.hidden_dims, self.layer_norm)(features, action)


class TanhGaussianActor(nn.Module):
    """A Gaussian squashed by tanh into [-1, 1] (Haarnoja et al. 2018, appendix C)."""

    action_dim: int
    hidden_dims: Sequence[int]
    log_std_min: float = -20.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, features: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = MLP(self.hidden_dims, activate_final=True)(features)
        mean = nn.Dense(self.action_dim, kernel_init=default_init())(x)
        log_std = nn.Dense(self.action_dim, kernel_init=default_init())(x)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)


def sample_tanh_gaussian(mean: jax.Array, log_std: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A reparameterised sample in [-1, 1] and its log-probability (with the tanh Jacobian)."""
    noise = jax.random.normal(key, mean.shape)
    pre_tanh = mean + jnp.exp(log_std) * noise
    action = jnp.tanh(pre_tanh)
    log_prob = jnp.sum(-0.5 * noise**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)
    # log(1 - tanh(u)^2) written stably: 2 (log 2 - u - softplus(-2u))
    log_prob -= jnp.sum(2.0 * (jnp.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh)), axis=-1)
    return action, log_prob


class Temperature(nn.Module):
    initial: float = 1.0

    @nn.compact
    def __call__(self) -> jax.Array:
        log_temp = self.param("log_temperature", lambda _: jnp.log(jnp.asarray(self.initial, jnp.float32)))
        return jnp.exp(log_temp)
