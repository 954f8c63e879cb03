"""Flow policies: flow-matching behaviour cloning and OGPO finetuning (Patil et al., ICML 2026).

Flow time t runs from 0 (noise) to 1 (action) in K Euler steps of dt = 1/K; an action is a chunk of
H env steps, flattened (the ActionChunk wrapper executes it). Here:

- flow-matching BC: x_t = t a + (1 - t) z, loss || v(x_t, t | s) - (a - z) ||^2;
- a stochastic sampler whose every step has a likelihood: sigma_i = sigma_base sqrt(1 - t_i),
  drift = v + (sigma_i^2 / 2) (t_i v - x_i) / (1 - t_i) (which keeps the ODE's marginals),
  mu_i = clip(x_i + drift dt, -1, 1), x_{i+1} ~ N(mu_i, sigma_i^2) clipped to mu_i +- 3 sigma_i;
  log pi(chain | s) = log N(x_0) + sum_i log N(x_{i+1}; mu_i, sigma_i^2), averaged over steps and
  action dimensions. Evaluation integrates the deterministic ODE;
- OGPO: a LayerNorm critic ensemble trained by TD on chunk returns; PPO inside the denoising chain
  with the critic as the terminal reward: G chains per state from the EMA target actor, group
  advantages A_j = Q(s, a_j) - mean_j' Q(s, a_j') made conservative across critics (min if all
  critics say better, max if all say worse, else 0), omega = pi_theta / pi_target, clipped at
  1 +- eps; plus lambda x flow matching on transitions of successful episodes.

The functions below are pure and small so that each can be tested on its own; `OGPO` puts them
behind robokit's Agent interface (init / update / act / policy_params).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from robokit.agents.networks import MLP, CriticEnsemble, default_init
from robokit.agents.ogpo.config import FlowConfig
from robokit.agents.preprocessing import initial_obs_norm, normalize, vector_dim, vector_features
from robokit.types import Batch, EnvSpec, Params

LOG_2PI = jnp.log(2.0 * jnp.pi)


def time_embedding(t: jax.Array, dim: int) -> jax.Array:
    """Sinusoidal features of flow time t in [0, 1] (dim/2 frequencies from 1 to 1000)."""
    freqs = jnp.exp(jnp.linspace(0.0, jnp.log(1000.0), dim // 2))
    angles = t[..., None] * freqs
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class VelocityField(nn.Module):
    """v(x_t, t | s): an MLP over the state features, the noisy action and t's embedding."""

    action_dim: int
    hidden_dims: tuple[int, ...]
    time_dim: int = 32

    @nn.compact
    def __call__(self, features: jax.Array, x: jax.Array, t: jax.Array) -> jax.Array:
        t = jnp.broadcast_to(t, x.shape[:-1])
        h = jnp.concatenate([features, x, time_embedding(t, self.time_dim)], axis=-1)
        h = MLP(self.hidden_dims, activate_final=True)(h)
        return nn.Dense(self.action_dim, kernel_init=default_init())(h)


Velocity = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]  # (features, x, t) -> v


def flow_times(steps: int) -> jax.Array:
    return jnp.arange(steps) / steps


def sigmas(config: FlowConfig) -> jax.Array:
    return config.sigma_base * jnp.sqrt(1.0 - flow_times(config.flow_steps))


def step_mean(velocity: Velocity, features, x, t, sigma, dt) -> jax.Array:
    """mu_i: one Euler step of the marginal-preserving SDE's drift, clipped to [-1, 1]."""
    v = velocity(features, x, t)
    t = jnp.expand_dims(t, -1) if jnp.ndim(t) else t  # per-row times: broadcast over action dims
    drift = v + 0.5 * sigma**2 * (t * v - x) / (1.0 - t)
    return jnp.clip(x + drift * dt, -1.0, 1.0)


def gaussian_log_density(x, mean, sigma) -> jax.Array:
    return -0.5 * ((x - mean) / sigma) ** 2 - jnp.log(sigma) - 0.5 * LOG_2PI


def sample_chain(velocity: Velocity, features, key, config: FlowConfig, action_dim: int):
    """A stochastic denoising chain per row of `features`: (chain (B, K+1, D), log pi (B,)); the
    action is chain[:, -1]."""
    batch = features.shape[0]
    k0, key = jax.random.split(key)
    x0 = jax.random.normal(k0, (batch, action_dim))
    dt = 1.0 / config.flow_steps

    def step(x, inputs):
        t, sigma, k = inputs
        mu = step_mean(velocity, features, x, t, sigma, dt)
        noise = jnp.clip(jax.random.normal(k, x.shape), -3.0, 3.0)
        nxt = mu + sigma * noise
        return nxt, (nxt, gaussian_log_density(nxt, mu, sigma))

    keys = jax.random.split(key, config.flow_steps)
    _, (xs, log_densities) = jax.lax.scan(step, x0, (flow_times(config.flow_steps), sigmas(config), keys))
    chain = jnp.concatenate([x0[:, None], jnp.swapaxes(xs, 0, 1)], axis=1)
    start = gaussian_log_density(x0, 0.0, 1.0)
    log_prob = jnp.concatenate([start[None], log_densities], axis=0).mean(axis=(0, 2))
    return chain, log_prob


def chain_action(chain: jax.Array) -> jax.Array:
    """The action a chain ends in, inside [-1, 1] (the last step's noise can cross the bound)."""
    return jnp.clip(chain[:, -1], -1.0, 1.0)


def chain_log_prob(velocity: Velocity, features, chain, config: FlowConfig) -> jax.Array:
    """log pi(chain | s) under `velocity`, recomputed step by step (B,)."""
    dt = 1.0 / config.flow_steps
    x, nxt = chain[:, :-1], chain[:, 1:]  # (B, K, D)
    t = flow_times(config.flow_steps)[None, :, None]
    sigma = sigmas(config)[None, :, None]
    feats = jnp.broadcast_to(features[:, None], (*x.shape[:2], features.shape[-1]))
    mu = step_mean(velocity, feats, x, t[..., 0], sigma, dt)
    steps = gaussian_log_density(nxt, mu, sigma)
    start = gaussian_log_density(chain[:, :1], 0.0, 1.0)
    return jnp.concatenate([start, steps], axis=1).mean(axis=(1, 2))


def ode_sample(velocity: Velocity, features, key, config: FlowConfig, action_dim: int) -> jax.Array:
    """The deterministic probability-flow ODE from N(0, act_noise^2 I) noise (Euler, K steps),
    clipped to [-1, 1]."""
    x = config.act_noise * jax.random.normal(key, (features.shape[0], action_dim))
    dt = 1.0 / config.flow_steps

    def step(x, t):
        return x + velocity(features, x, t) * dt, None

    x, _ = jax.lax.scan(step, x, flow_times(config.flow_steps))
    return jnp.clip(x, -1.0, 1.0)


def flow_matching_loss(velocity: Velocity, features, actions, key) -> jax.Array:
    """E || v(t a + (1 - t) z, t | s) - (a - z) ||^2 with t ~ U[0, 1], z ~ N(0, I)."""
    k_t, k_z = jax.random.split(key)
    t = jax.random.uniform(k_t, actions.shape[:1])
    z = jax.random.normal(k_z, actions.shape)
    x_t = t[:, None] * actions + (1.0 - t[:, None]) * z
    return jnp.mean((velocity(features, x_t, t) - (actions - z)) ** 2)


def group_advantages(q: jax.Array) -> jax.Array:
    """A_j = Q(s, a_j) - mean_j' Q(s, a_j') over the last axis (the G chains of a state); no std
    normalisation (the authors found it hurts)."""
    return q - q.mean(axis=-1, keepdims=True)


def conservative_advantage(per_critic: jax.Array) -> jax.Array:
    """(M, ...) per-critic advantages -> one: min over critics if all are > 0, max if all are < 0,
    else 0 (the critics disagree on the sign)."""
    all_positive = jnp.all(per_critic > 0, axis=0)
    all_negative = jnp.all(per_critic < 0, axis=0)
    return jnp.where(
        all_positive, per_critic.min(axis=0), jnp.where(all_negative, per_critic.max(axis=0), 0.0)
    )


def ppo_loss(log_ratio: jax.Array, advantages: jax.Array, eps: float) -> jax.Array:
    """-mean min(omega A, clip(omega, 1 - eps, 1 + eps) A), omega = exp(log_ratio)."""
    ratio = jnp.exp(log_ratio)
    return -jnp.mean(jnp.minimum(ratio * advantages, jnp.clip(ratio, 1.0 - eps, 1.0 + eps) * advantages))


def td_target(chunk_return, mask, next_value, discount: float, horizon: int) -> jax.Array:
    """y = sum_{h<H} gamma^h r_{t+h} + gamma^H mask V(s_{t+H}) (mask 0 where the episode ended);
    the chunk return comes discounted from the ActionChunk wrapper."""
    return chunk_return + discount**horizon * mask * next_value


def reduce_next_values(values: jax.Array, how: str) -> jax.Array:
    """(M, G', B) values of G' next actions -> (M, B), reduced per critic."""
    if how == "mean":
        return values.mean(axis=1)
    if how == "median":
        return jnp.median(values, axis=1)
    if how == "trimmed":
        ordered = jnp.sort(values, axis=1)
        n = values.shape[1]
        return ordered[:, n // 4 : n - n // 4].mean(axis=1)
    raise ValueError(f"next_action_reduce {how!r} is unknown: use mean, median or trimmed.")


def ogpo_actor_loss(velocity: Velocity, features, chain, behaviour_log_prob, advantages, config) -> jax.Array:
    """PPO inside the denoising chain: the chains' log-probability under `velocity` against the
    behaviour (target) actor's, with the critic's advantages as the chains' terminal reward."""
    log_prob = chain_log_prob(velocity, features, chain, config)
    return ppo_loss(log_prob - behaviour_log_prob, advantages, config.clip_eps)


class FlowState(struct.PyTreeNode):
    obs_norm: Params
    actor: Params
    target_actor: Params
    critic: Params
    target_critic: Params
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    bc_opt: optax.OptState
    rng: jax.Array
    step: jax.Array


@dataclass(frozen=True)
class OGPO:
    """Flow policy + OGPO finetuning behind the Agent interface (state observations)."""

    config: FlowConfig
    spec: EnvSpec
    networks: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.spec.image_keys:
            raise ValueError("OGPO in robokit takes state observations: use a state task (not Vision).")
        c = self.config
        nets = {
            "velocity": VelocityField(self.spec.action_dim, c.actor_hidden_dims, c.time_embedding_dim),
            "critic": CriticEnsemble(c.critic_ensemble, c.critic_hidden_dims, True),
        }
        object.__setattr__(self, "networks", nets)

    def _optimizers(self):
        c = self.config
        schedule = optax.warmup_cosine_decay_schedule(
            0.0, c.actor_lr, c.actor_warmup_steps, c.actor_decay_steps
        )
        actor = optax.adamw(schedule, weight_decay=c.weight_decay)
        critic = optax.adamw(c.critic_lr, weight_decay=c.weight_decay)
        bc = optax.adamw(c.bc_lr, weight_decay=c.weight_decay)
        return actor, critic, bc

    def velocity(self, actor_params: Params) -> Velocity:
        return partial(self.networks["velocity"].apply, actor_params)

    def init(self, key: jax.Array, state_mean=None, state_std=None, entries=None) -> FlowState:
        obs_norm = initial_obs_norm(self.spec, state_mean, state_std, entries)
        dim = vector_dim(self.spec)  # the "state" vector and any other (an instruction's embedding)
        k_actor, k_critic, key = jax.random.split(key, 3)
        features = jnp.zeros((1, dim))
        action = jnp.zeros((1, self.spec.action_dim))
        actor = self.networks["velocity"].init(k_actor, features, action, jnp.zeros(1))
        critic = self.networks["critic"].init(k_critic, features, action)
        actor_tx, critic_tx, bc_tx = self._optimizers()
        return FlowState(
            obs_norm=obs_norm,
            actor=actor,
            target_actor=actor,
            critic=critic,
            target_critic=critic,
            actor_opt=actor_tx.init(actor),
            critic_opt=critic_tx.init(critic),
            bc_opt=bc_tx.init(actor),
            rng=key,
            step=jnp.zeros((), jnp.int32),
        )

    def policy_params(self, state: FlowState) -> Params:
        """What an actor needs: the EMA target actor (the chains' behaviour policy) and normalisation."""
        return {"actor": state.target_actor, "obs_norm": state.obs_norm}

    def _features(self, obs: dict, obs_norm: Params) -> jax.Array:
        return vector_features(normalize(obs, obs_norm))

    @partial(jax.jit, static_argnames=("self", "explore"))
    def act(self, params: Params, obs: dict, key: jax.Array, explore: bool = True) -> jax.Array:
        """A chunk per observation: a stochastic chain's end when exploring, else the ODE's."""
        features = self._features(obs, params["obs_norm"])
        velocity = self.velocity(params["actor"])
        if explore:
            chain, _ = sample_chain(velocity, features, key, self.config, self.spec.action_dim)
            return chain_action(chain)
        return ode_sample(velocity, features, key, self.config, self.spec.action_dim)

    @partial(jax.jit, static_argnames="self")
    def bc_update(self, state: FlowState, batch: Batch) -> tuple[FlowState, dict]:
        """One flow-matching step on demonstration chunks (pretraining); the target actor follows."""
        rng, key = jax.random.split(state.rng)
        features = self._features(batch["observations"], state.obs_norm)

        def loss_fn(actor):
            return flow_matching_loss(self.velocity(actor), features, batch["actions"], key)

        loss, grads = jax.value_and_grad(loss_fn)(state.actor)
        _, _, bc_tx = self._optimizers()
        updates, bc_opt = bc_tx.update(grads, state.bc_opt, state.actor)
        actor = optax.apply_updates(state.actor, updates)
        return state.replace(actor=actor, target_actor=actor, bc_opt=bc_opt, rng=rng), {"bc_loss": loss}

    @partial(jax.jit, static_argnames="self")
    def update(self, state: FlowState, batch: Batch):
        """One critic step and one actor step (UTD 1). A batch that carries batch["successes"] (a
        batch of the success buffer: robokit.loop.learner adds it once the gate opens) adds lambda x
        flow matching on it; with and without it are two compilations."""
        state, critic_metrics = self._critic_step(state, batch)
        state, actor_metrics = self._actor_step(state, batch, batch.get("successes"))
        return state.replace(step=state.step + 1), critic_metrics | actor_metrics

    def _critic_step(self, state: FlowState, batch: Batch):
        c = self.config
        rng, k_next = jax.random.split(state.rng)
        features = self._features(batch["observations"], state.obs_norm)
        next_features = self._features(batch["next_observations"], state.obs_norm)
        repeated = jnp.repeat(next_features, c.next_actions, axis=0)  # (G' B, F), row-major by state
        chain, _ = sample_chain(self.velocity(state.target_actor), repeated, k_next, c, self.spec.action_dim)
        next_q = self.networks["critic"].apply(
            state.target_critic, repeated, chain_action(chain)
        )  # (M, B G')
        next_q = next_q.reshape(c.critic_ensemble, -1, c.next_actions).swapaxes(1, 2)
        next_value = reduce_next_values(next_q, c.next_action_reduce).mean(axis=0)
        target = td_target(batch["rewards"], batch["masks"], next_value, c.discount, c.chunk)

        def loss_fn(critic):
            q = self.networks["critic"].apply(critic, features, batch["actions"])
            return jnp.mean((q - jax.lax.stop_gradient(target)) ** 2), q

        (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.critic)
        _, critic_tx, _ = self._optimizers()
        updates, critic_opt = critic_tx.update(grads, state.critic_opt, state.critic)
        critic = optax.apply_updates(state.critic, updates)
        target_critic = optax.incremental_update(critic, state.target_critic, c.critic_tau)
        state = state.replace(critic=critic, target_critic=target_critic, critic_opt=critic_opt, rng=rng)
        return state, {"critic_loss": loss, "q": q.mean()}

    def _actor_step(self, state: FlowState, batch: Batch, success_batch: Batch | None):
        c = self.config
        rng, k_chain, k_fm = jax.random.split(state.rng, 3)
        features = self._features(batch["observations"], state.obs_norm)
        repeated = jnp.repeat(features, c.chains_per_state, axis=0)  # (B G, F)
        chain, behaviour_log_prob = sample_chain(
            self.velocity(state.target_actor), repeated, k_chain, c, self.spec.action_dim
        )
        q = self.networks["critic"].apply(state.critic, repeated, chain_action(chain))  # (M, B G)
        q = q.reshape(c.critic_ensemble, -1, c.chains_per_state)
        advantages = jax.lax.stop_gradient(conservative_advantage(group_advantages(q)).reshape(-1))

        def loss_fn(actor):
            loss = ogpo_actor_loss(self.velocity(actor), repeated, chain, behaviour_log_prob, advantages, c)
            fm = jnp.zeros(())
            if success_batch is not None:
                success_features = self._features(success_batch["observations"], state.obs_norm)
                fm = flow_matching_loss(
                    self.velocity(actor), success_features, success_batch["actions"], k_fm
                )
            return loss + c.success_bc_weight * fm, (loss, fm)

        (_, (ppo, fm)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.actor)
        actor_tx, _, _ = self._optimizers()
        updates, actor_opt = actor_tx.update(grads, state.actor_opt, state.actor)
        actor = optax.apply_updates(state.actor, updates)
        target_actor = optax.incremental_update(actor, state.target_actor, c.actor_target_tau)
        state = state.replace(actor=actor, target_actor=target_actor, actor_opt=actor_opt, rng=rng)
        return state, {"ppo_loss": ppo, "success_fm_loss": fm, "advantage_abs": jnp.abs(advantages).mean()}


__all__ = ["OGPO", "FlowConfig", "FlowState"]
