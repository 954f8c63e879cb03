"""SAC with the RLPD recipe (Ball et al. 2023) as pure JAX functions over a state pytree.

RLPD = SAC + a critic ensemble with a random subset's minimum as the target (REDQ, Chen et al. 2021)
+ LayerNorm in the critic + 50/50 sampling of demos and online data (the mixer, outside the agent).
The update-to-data ratio is one jit: `lax.scan` runs `utd_ratio` critic updates over minibatches,
then one actor and temperature update. For image observations an encoder (trained by the critic
only, stop-gradient in the actor, as in SERL/DrQ) and DrQ random-shift augmentation are added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import optax
from flax import struct

from robokit.agents.networks import (
    CriticEnsemble,
    ObservationEncoder,
    TanhGaussianActor,
    Temperature,
    sample_tanh_gaussian,
)
from robokit.agents.preprocessing import initial_obs_norm, normalize, random_shift
from robokit.agents.sac.config import SACConfig
from robokit.types import Batch, EnvSpec, Params


class SACState(struct.PyTreeNode):
    obs_norm: Params  # standardisation of the vector entries, fixed at init (from the demos)
    actor: Params
    critic: Params  # {"encoder": ..., "ensemble": ...}
    target_critic: Params
    temperature: Params
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    temperature_opt: optax.OptState
    rng: jax.Array
    step: jax.Array


@dataclass(frozen=True)
class SAC:
    """Holds only static configuration; every method is a pure function of its arguments."""

    config: SACConfig
    spec: EnvSpec
    networks: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        c = self.config
        if not 1 <= c.critic_subsample <= c.critic_ensemble:
            raise ValueError(
                f"critic_subsample {c.critic_subsample} must be between 1 and critic_ensemble "
                f"{c.critic_ensemble}: lower it or add critics."
            )
        nets = {
            "encoder": ObservationEncoder(self.spec.image_keys, c.image_embedding_dim),
            "ensemble": CriticEnsemble(c.critic_ensemble, c.hidden_dims, c.critic_layer_norm),
            # the same critics, applied to the target subset's stacked parameters only
            "subset": CriticEnsemble(c.critic_subsample, c.hidden_dims, c.critic_layer_norm),
            "actor": TanhGaussianActor(self.spec.action_dim, c.hidden_dims),
            "temperature": Temperature(c.initial_temperature),
        }
        object.__setattr__(self, "networks", nets)

    @property
    def target_entropy(self) -> float:
        return -self.config.target_entropy_scale * self.spec.action_dim

    def _optimizers(self):
        c = self.config
        return optax.adam(c.actor_lr), optax.adam(c.critic_lr), optax.adam(c.temperature_lr)

    # -- Agent interface ----------------------------------------------------------------------
    def init(self, key: jax.Array, state_mean=None, state_std=None, entries=None) -> SACState:
        """Fresh parameters. `state_mean` / `state_std` standardise the "state" vector (robokit
        passes the demos' statistics): raw TCP and object coordinates differ by centimetres, and an
        unscaled MLP barely sees the 5 cm that separate a lifted cube from a resting one."""
        n = self.networks
        obs_norm = initial_obs_norm(self.spec, state_mean, state_std, entries)
        k_enc, k_critic, k_actor, k_temp, key = jax.random.split(key, 5)
        obs = jax.tree.map(jnp.asarray, self.spec.example_observation())
        encoder = n["encoder"].init(k_enc, obs)
        features = n["encoder"].apply(encoder, obs)
        action = jnp.zeros((1, self.spec.action_dim))
        critic = {"encoder": encoder, "ensemble": n["ensemble"].init(k_critic, features, action)}
        actor = n["actor"].init(k_actor, features)
        temperature = n["temperature"].init(k_temp)
        actor_tx, critic_tx, temp_tx = self._optimizers()
        return SACState(
            obs_norm=obs_norm,
            actor=actor,
            critic=critic,
            target_critic=critic,
            temperature=temperature,
            actor_opt=actor_tx.init(actor),
            critic_opt=critic_tx.init(critic),
            temperature_opt=temp_tx.init(temperature),
            rng=key,
            step=jnp.zeros((), jnp.int32),
        )

    def policy_params(self, state: SACState) -> Params:
        """What an actor needs: the actor, the (critic-trained) encoder and the state normalisation."""
        return {"actor": state.actor, "encoder": state.critic["encoder"], "obs_norm": state.obs_norm}

    @partial(jax.jit, static_argnames=("self", "explore"))
    def act(self, params: Params, obs: dict, key: jax.Array, explore: bool = True) -> jax.Array:
        """Actions in [-1, 1] for a batch of observations (a sample, or the mean's tanh)."""
        features = self.networks["encoder"].apply(params["encoder"], normalize(obs, params["obs_norm"]))
        mean, log_std = self.networks["actor"].apply(params["actor"], features)
        if not explore:
            return jnp.tanh(mean)
        return sample_tanh_gaussian(mean, log_std, key)[0]

    @partial(jax.jit, static_argnames="self")
    def update(self, state: SACState, batch: Batch) -> tuple[SACState, dict]:
        """`utd_ratio` critic updates and one actor/temperature update on utd_ratio x batch_size samples."""
        c = self.config
        rng, aug_key = jax.random.split(state.rng)
        batch = self._augment(batch, aug_key)
        minibatches = jax.tree.map(lambda x: x.reshape(c.utd_ratio, -1, *x.shape[1:]), batch)
        state = state.replace(rng=rng)
        state, critic_metrics = jax.lax.scan(self._critic_step, state, minibatches)
        actor_batch = batch if c.actor_on_full_batch else jax.tree.map(lambda x: x[-1], minibatches)
        state, actor_metrics = self._actor_step(state, actor_batch)
        metrics = {k: v[-1] for k, v in critic_metrics.items()} | actor_metrics
        return state.replace(step=state.step + 1), metrics

    # -- losses -------------------------------------------------------------------------------
    def _encode(self, critic_params: Params, obs: dict, obs_norm: Params) -> jax.Array:
        return self.networks["encoder"].apply(critic_params["encoder"], normalize(obs, obs_norm))

    def _critic_step(self, state: SACState, batch: Batch) -> tuple[SACState, dict]:
        """TD loss against r + gamma * mask * min over a random subset of target critics (RLPD eq. 1)."""
        c, n = self.config, self.networks
        rng, k_next, k_subset = jax.random.split(state.rng, 3)
        temperature = n["temperature"].apply(state.temperature)
        next_features = self._encode(state.target_critic, batch["next_observations"], state.obs_norm)
        policy_features = self._encode(state.critic, batch["next_observations"], state.obs_norm)
        mean, log_std = n["actor"].apply(state.actor, jax.lax.stop_gradient(policy_features))
        next_action, next_log_prob = sample_tanh_gaussian(mean, log_std, k_next)
        subset = jax.random.choice(k_subset, c.critic_ensemble, (c.critic_subsample,), replace=False)
        # Evaluate only the drawn target critics: 2 of 10 forward passes instead of all 10.
        subset_params = jax.tree.map(lambda p: p[subset], state.target_critic["ensemble"])
        next_v = n["subset"].apply(subset_params, next_features, next_action).min(axis=0)
        if c.backup_entropy:
            next_v = next_v - temperature * next_log_prob
        target = batch["rewards"] + c.discount * batch["masks"] * next_v
        target = jax.lax.stop_gradient(target)

        def loss_fn(critic_params):
            features = self._encode(critic_params, batch["observations"], state.obs_norm)
            q = n["ensemble"].apply(critic_params["ensemble"], features, batch["actions"])
            return ((q - target) ** 2).mean(), q.mean()

        (loss, q_mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.critic)
        updates, critic_opt = self._optimizers()[1].update(grads, state.critic_opt, state.critic)
        critic = optax.apply_updates(state.critic, updates)
        target_critic = optax.incremental_update(critic, state.target_critic, c.tau)
        state = state.replace(critic=critic, target_critic=target_critic, critic_opt=critic_opt, rng=rng)
        return state, {"critic_loss": loss, "q_mean": q_mean, "target_q_mean": target.mean()}

    def _actor_step(self, state: SACState, batch: Batch) -> tuple[SACState, dict]:
        """Actor: E[alpha log pi - mean_ensemble Q] (SAC eq. 7, RLPD's ensemble mean), plus the optional
        BC term on demo rows; then temperature."""
        n = self.networks
        rng, key = jax.random.split(state.rng)
        temperature = n["temperature"].apply(state.temperature)
        features = jax.lax.stop_gradient(self._encode(state.critic, batch["observations"], state.obs_norm))

        def actor_loss_fn(actor_params):
            mean, log_std = n["actor"].apply(actor_params, features)
            action, log_prob = sample_tanh_gaussian(mean, log_std, key)
            q = n["ensemble"].apply(state.critic["ensemble"], features, action).mean(axis=0)
            loss = (temperature * log_prob - q).mean()
            if self.config.bc_weight > 0 and "from_demos" in batch:
                demo = batch["from_demos"]
                error = ((jnp.tanh(mean) - batch["actions"]) ** 2).sum(axis=-1)
                loss = loss + self.config.bc_weight * (error * demo).sum() / jnp.maximum(demo.sum(), 1.0)
            return loss, log_prob.mean()

        (actor_loss, log_prob), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(state.actor)
        actor_tx, _, temp_tx = self._optimizers()
        updates, actor_opt = actor_tx.update(grads, state.actor_opt, state.actor)
        actor = optax.apply_updates(state.actor, updates)

        def temperature_loss_fn(temp_params):
            # SAC eq. 18: alpha (-log pi - target entropy)
            alpha = n["temperature"].apply(temp_params)
            return alpha * (-jax.lax.stop_gradient(log_prob) - self.target_entropy)

        temp_loss, grads = jax.value_and_grad(temperature_loss_fn)(state.temperature)
        updates, temperature_opt = temp_tx.update(grads, state.temperature_opt, state.temperature)
        temperature_params = optax.apply_updates(state.temperature, updates)
        state = state.replace(
            actor=actor,
            actor_opt=actor_opt,
            temperature=temperature_params,
            temperature_opt=temperature_opt,
            rng=rng,
        )
        metrics = {
            "actor_loss": actor_loss,
            "entropy": -log_prob,
            "temperature": temperature,
            "temperature_loss": temp_loss,
        }
        return state, metrics

    def _augment(self, batch: Batch, key: jax.Array) -> Batch:
        """DrQ random shift on every image key of observations and next observations."""
        if not (self.spec.image_keys and self.config.augment_images):
            return batch
        out = dict(batch)
        for field_name in ("observations", "next_observations"):
            obs = dict(batch[field_name])
            for image_key in self.spec.image_keys:
                key, sub = jax.random.split(key)
                obs[image_key] = random_shift(obs[image_key], sub, self.config.image_pad)
            out[field_name] = obs
        return out


__all__ = ["SAC", "SACConfig", "SACState"]
