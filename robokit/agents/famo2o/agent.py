"""FamO2O as pure JAX functions over a state pytree (Wang et al., "Train Once, Get a Family",
NeurIPS 2023), on an IQL base (Kostrikov et al. 2021) or an AWAC base (Nair et al. 2020).

    universal model  pi_u(a | s, beta): MLP over [s, enc(beta)], Gaussian, tanh mean, state-free std
    balance model    pi_b(u | s): tanh-Gaussian, beta = lo + (u + 1) / 2 * (hi - lo)

One step, in the paper's order: V (IQL: expectile regression on the target critics' minimum) ->
balance (alpha log pi_b(u|s) - min_i Q_i(s, a), a ~ pi_u(s, beta(u)) reparameterised, the
universal model held fixed) -> alpha (to a target entropy) -> universal (advantage-weighted
likelihood of the data's actions, the weight min(exp(beta A), clip); beta uniform offline, the
balance model's with its gradient stopped online) -> Q (IQL: r + gamma V(s'); AWAC: the policy's
next action) -> target critics -> the acting policy, a Polyak average of the universal and
balance models (`policy_average`). A fixed beta replaces the balance model for the baselines.

Three departures from the authors' settings, each a FamO2OConfig field, measured on PickCube's
mixed data, where with the paper's settings the balance model chose the middle of the range
everywhere: the advantage is divided by its batch standard deviation (robokit's rewards are 0-1,
D4RL's are not); beta is scaled onto a quarter turn of the code's fastest sin-cos pair before
encoding (the paper's code turns once every 2 pi in beta, so a greedier beta is not always
further along it); the balance temperature learns 10x faster (3e-3): it must fall from 1 to
where Q's differences across beta (~0.005 here) outweigh the entropy term.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from robokit.agents.famo2o.config import FamO2OConfig
from robokit.agents.networks import MLP, CriticEnsemble, TanhGaussianActor, Temperature, sample_tanh_gaussian
from robokit.agents.preprocessing import initial_obs_norm, normalize, vector_features
from robokit.types import Batch, EnvSpec, Params

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def encode_beta(beta: jax.Array, dim: int = 6, base: float = 1e4) -> jax.Array:
    """The paper's sin-cos encoding of beta (batch,) -> (batch, dim): sin(beta / base^(2i/dim)) then
    cos(beta / base^(2i/dim)), i = 0 .. dim/2 - 1."""
    scales = base ** (2.0 * jnp.arange(dim // 2) / dim)
    angles = beta[..., None] / scales
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


def advantage_weights(beta: jax.Array, advantage: jax.Array, clip: float, normalize: bool) -> jax.Array:
    """min(exp(beta A), clip), A first divided by the batch's standard deviation of A if `normalize`
    (then beta counts standard deviations, whatever the reward scale)."""
    scale = advantage.std() + 1e-6 if normalize else 1.0
    return jnp.minimum(jnp.exp(beta * advantage / scale), clip)


def beta_of(u: jax.Array, lo: float, hi: float) -> jax.Array:
    """The balance model's u in (-1, 1) mapped onto [lo, hi]."""
    return lo + (u + 1.0) * 0.5 * (hi - lo)


class UniversalActor(nn.Module):
    """pi_u(a | s, beta): the state features and beta's encoding through an MLP to a tanh mean; a
    learned log-std per action dimension, the same in every state (IQL's policy)."""

    action_dim: int
    hidden_dims: tuple[int, ...]

    @nn.compact
    def __call__(self, features: jax.Array, beta_code: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = MLP(self.hidden_dims, activate_final=True)(jnp.concatenate([features, beta_code], axis=-1))
        mean = jnp.tanh(nn.Dense(self.action_dim)(x))
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        return mean, jnp.broadcast_to(jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX), mean.shape)


class Value(nn.Module):
    hidden_dims: tuple[int, ...]

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        return nn.Dense(1)(MLP(self.hidden_dims, activate_final=True)(features)).squeeze(-1)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    z = (action - mean) / jnp.exp(log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def expectile_loss(diff: jax.Array, expectile: float) -> jax.Array:
    weight = jnp.where(diff > 0, expectile, 1.0 - expectile)
    return (weight * diff**2).mean()


def _latest(state) -> Params:
    """The universal and balance models as they stand: what the acting average follows."""
    return {"universal": state.universal, "balance": state.balance}


class FamO2OState(struct.PyTreeNode):
    obs_norm: Params
    critic: Params
    target_critic: Params
    value: Params
    universal: Params
    balance: Params
    temperature: Params
    acting: Params  # the Polyak average of {"universal", "balance"} the policy acts with
    opt: dict  # one optax state per part: critic, value, universal, balance, temperature
    rng: jax.Array
    step: jax.Array


@dataclass(frozen=True)
class FamO2O:
    config: FamO2OConfig
    spec: EnvSpec
    networks: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.config.check()
        if self.spec.image_keys:
            raise ValueError(
                f"FamO2O reads vector observations, not the cameras {', '.join(self.spec.image_keys)}: "
                "use a state task, or encode the frames with --encoder."
            )
        c = self.config
        nets = {
            "critic": CriticEnsemble(c.critic_ensemble, c.hidden_dims, layer_norm=False),
            "value": Value(c.hidden_dims),
            "universal": UniversalActor(self.spec.action_dim, c.hidden_dims),
            "balance": TanhGaussianActor(1, c.hidden_dims),
            "temperature": Temperature(c.balance_init_temperature),
        }
        object.__setattr__(self, "networks", nets)

    def _optimizers(self) -> dict:
        c = self.config
        return {
            "critic": optax.adam(c.critic_lr),
            "value": optax.adam(c.critic_lr),
            "universal": optax.adam(c.actor_lr),
            "balance": optax.adam(c.balance_lr),
            "temperature": optax.adam(c.temperature_lr),
        }

    # -- Agent interface ----------------------------------------------------------------------
    def init(self, key: jax.Array, state_mean=None, state_std=None, entries=None) -> FamO2OState:
        n = self.networks
        obs_norm = initial_obs_norm(self.spec, state_mean, state_std, entries)
        features = self._features(jax.tree.map(jnp.asarray, self.spec.example_observation()), obs_norm)
        action = jnp.zeros((1, self.spec.action_dim))
        keys = jax.random.split(key, 6)
        params = {
            "critic": n["critic"].init(keys[0], features, action),
            "value": n["value"].init(keys[1], features),
            "universal": n["universal"].init(keys[2], features, self._code(jnp.ones(1))),
            "balance": n["balance"].init(keys[3], features),
            "temperature": n["temperature"].init(keys[4]),
        }
        opt = {name: tx.init(params[name]) for name, tx in self._optimizers().items()}
        acting = {"universal": params["universal"], "balance": params["balance"]}
        return FamO2OState(
            obs_norm=obs_norm, target_critic=params["critic"], acting=acting, opt=opt, rng=keys[5],
            step=jnp.zeros((), jnp.int32), **params,
        )  # fmt: skip

    def policy_params(self, state: FamO2OState) -> Params:
        """What acts: the averaged universal and balance models (the latest with policy_average 0)."""
        acting = state.acting if self.config.policy_average else _latest(state)
        return {"obs_norm": state.obs_norm, **acting}

    @partial(jax.jit, static_argnames=("self", "explore"))
    def act(self, params: Params, obs: dict, key: jax.Array, explore: bool = True) -> jax.Array:
        """The balance model's mean beta for each state, then the universal model's action at it."""
        features = self._features(obs, params["obs_norm"])
        beta = self._greedy_beta(params["balance"], features)
        mean, log_std = self.networks["universal"].apply(params["universal"], features, self._code(beta))
        if not explore:
            return mean
        return jnp.clip(mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape), -1.0, 1.0)

    @partial(jax.jit, static_argnames="self")
    def beta(self, params: Params, obs: dict) -> jax.Array:
        """The beta the policy acts with in each state (what the balance model chose)."""
        return self._greedy_beta(params["balance"], self._features(obs, params["obs_norm"]))

    @partial(jax.jit, static_argnames="self")
    def update(self, state: FamO2OState, batch: Batch) -> tuple[FamO2OState, dict]:
        """`utd_ratio` whole FamO2O steps, one per minibatch."""
        c = self.config
        minibatches = jax.tree.map(lambda x: x.reshape(c.utd_ratio, -1, *x.shape[1:]), batch)
        state, metrics = jax.lax.scan(self._step, state, minibatches)
        return state.replace(step=state.step + 1), {k: v[-1] for k, v in metrics.items()}

    # -- one step, in the paper's order -------------------------------------------------------------
    def _step(self, state: FamO2OState, batch: Batch) -> tuple[FamO2OState, dict]:
        obs_norm = state.obs_norm
        features = self._features(batch["observations"], obs_norm)
        next_features = self._features(batch["next_observations"], obs_norm)
        rng, k_balance, k_beta, k_adv, k_next = jax.random.split(state.rng, 5)
        state, metrics = self._value_step(state, features, batch["actions"])
        state, balance_metrics = self._balance_step(state, features, k_balance)
        state, universal_metrics = self._universal_step(state, features, batch["actions"], k_beta, k_adv)
        state, critic_metrics = self._critic_step(state, features, next_features, batch, k_next)
        target = optax.incremental_update(state.critic, state.target_critic, self.config.tau)
        acting = state.acting  # (unused with policy_average 0: not kept up)
        if self.config.policy_average:
            rate = jnp.maximum(self.config.policy_average, 1.0 / (state.step + 1.0))  # early: the mean so far
            acting = optax.incremental_update(_latest(state), state.acting, rate)
        state = state.replace(target_critic=target, acting=acting, rng=rng)
        return state, metrics | balance_metrics | universal_metrics | critic_metrics

    def _value_step(self, state, features, actions):
        if self.config.base != "iql":
            return state, {}
        q = self.networks["critic"].apply(state.target_critic, features, actions).min(axis=0)

        def loss_fn(value_params):
            v = self.networks["value"].apply(value_params, features)
            return expectile_loss(q - v, self.config.expectile), v.mean()

        (loss, v_mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.value)
        value, opt = self._apply("value", state, grads)
        return state.replace(value=value, opt=opt), {"value_loss": loss, "v_mean": v_mean}

    def _balance_step(self, state, features, key):
        """The balance model and its temperature; the universal model and the critics are constants
        here (only the balance parameters are differentiated)."""
        c, n = self.config, self.networks
        if c.fixed_beta is not None:
            return state, {"beta_mean": jnp.asarray(c.fixed_beta)}
        alpha = n["temperature"].apply(state.temperature)
        k_u, k_a = jax.random.split(key)

        def loss_fn(balance_params):
            mean, log_std = n["balance"].apply(balance_params, features)
            u, log_prob = sample_tanh_gaussian(mean, log_std, k_u)
            beta = beta_of(u[:, 0], c.beta_lo, c.beta_hi)
            a_mean, a_log_std = n["universal"].apply(state.universal, features, self._code(beta))
            action = a_mean + jnp.exp(a_log_std) * jax.random.normal(k_a, a_mean.shape)
            q = n["critic"].apply(state.critic, features, jnp.clip(action, -1.0, 1.0)).min(axis=0)
            return (alpha * log_prob - q).mean(), (log_prob, beta)

        (loss, (log_prob, beta)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.balance)
        balance, opt = self._apply("balance", state, grads)
        state = state.replace(balance=balance, opt=opt)

        def temperature_loss_fn(temp_params):
            entropy_gap = -jax.lax.stop_gradient(log_prob) - c.balance_target_entropy
            return (n["temperature"].apply(temp_params) * entropy_gap).mean()

        temp_loss, grads = jax.value_and_grad(temperature_loss_fn)(state.temperature)
        temperature, opt = self._apply("temperature", state, grads)
        metrics = {"balance_loss": loss, "beta_mean": beta.mean(), "beta_std": beta.std(), "alpha": alpha}
        return state.replace(temperature=temperature, opt=opt), metrics | {"alpha_loss": temp_loss}

    def _universal_step(self, state, features, actions, k_beta, k_adv):
        c, n = self.config, self.networks
        beta = jax.lax.stop_gradient(self._training_beta(state, features, k_beta))
        code = self._code(beta)
        advantage = jax.lax.stop_gradient(self._advantage(state, features, actions, code, k_adv))
        weight = advantage_weights(beta, advantage, c.advantage_clip, c.normalize_advantage)

        def loss_fn(universal_params):
            mean, log_std = n["universal"].apply(universal_params, features, code)
            return -(weight * gaussian_log_prob(mean, log_std, actions)).mean()

        loss, grads = jax.value_and_grad(loss_fn)(state.universal)
        universal, opt = self._apply("universal", state, grads)
        metrics = {"universal_loss": loss, "advantage_mean": advantage.mean(),
                   "advantage_std": advantage.std(), "weight_mean": weight.mean()}  # fmt: skip
        return state.replace(universal=universal, opt=opt), metrics

    def _advantage(self, state, features, actions, code, key):
        """IQL: min target Q(s, a) - V(s). AWAC: Q(s, a) - the mean Q of the policy's own actions."""
        n = self.networks
        q = n["critic"].apply(state.target_critic, features, actions).min(axis=0)
        if self.config.base == "iql":
            return q - n["value"].apply(state.value, features)
        return q - self._policy_value(state.target_critic, state.universal, features, code, key)

    def _policy_value(self, critic, universal, features, code, key):
        """E over `awac_samples` actions of pi_u(s, beta) of min_i Q_i(s, a)."""
        n, k = self.networks, self.config.awac_samples
        mean, log_std = n["universal"].apply(universal, features, code)
        noise = jax.random.normal(key, (k, *mean.shape))
        actions = jnp.clip(mean + jnp.exp(log_std) * noise, -1.0, 1.0)
        q = jax.vmap(lambda a: n["critic"].apply(critic, features, a).min(axis=0))(actions)
        return q.mean(axis=0)

    def _critic_step(self, state, features, next_features, batch, key):
        c, n = self.config, self.networks
        if c.base == "iql":
            next_v = n["value"].apply(state.value, next_features)
        else:
            k_beta, k_next = jax.random.split(key)
            code = self._code(self._training_beta(state, next_features, k_beta))
            next_v = self._policy_value(state.target_critic, state.universal, next_features, code, k_next)
        target = jax.lax.stop_gradient(batch["rewards"] + c.discount * batch["masks"] * next_v)

        def loss_fn(critic_params):
            q = n["critic"].apply(critic_params, features, batch["actions"])
            return ((q - target) ** 2).mean(), q.mean()

        (loss, q_mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.critic)
        critic, opt = self._apply("critic", state, grads)
        return state.replace(critic=critic, opt=opt), {"critic_loss": loss, "q_mean": q_mean}

    # -- pieces ---------------------------------------------------------------------------------------
    def _features(self, obs: dict, obs_norm: Params) -> jax.Array:
        return vector_features(normalize(obs, obs_norm))

    def _code(self, beta: jax.Array) -> jax.Array:
        c = self.config
        scaled = beta * (0.5 * jnp.pi / c.beta_hi) if c.monotone_beta_code else beta
        return encode_beta(scaled, c.beta_encoding_dim, c.beta_encoding_base)

    def _greedy_beta(self, balance: Params, features: jax.Array) -> jax.Array:
        c = self.config
        if c.fixed_beta is not None:
            return jnp.full(features.shape[:-1], c.fixed_beta, jnp.float32)
        mean, _ = self.networks["balance"].apply(balance, features)
        return beta_of(jnp.tanh(mean[..., 0]), c.beta_lo, c.beta_hi)

    def _training_beta(self, state: FamO2OState, features: jax.Array, key: jax.Array) -> jax.Array:
        """Fixed; offline uniform over the range; online a draw of the balance model."""
        c, batch = self.config, features.shape[:-1]
        if c.fixed_beta is not None:
            return jnp.full(batch, c.fixed_beta, jnp.float32)
        if not c.online:
            return jax.random.uniform(key, batch, minval=c.beta_lo, maxval=c.beta_hi)
        mean, log_std = self.networks["balance"].apply(state.balance, features)
        u, _ = sample_tanh_gaussian(mean, log_std, key)
        return beta_of(u[..., 0], c.beta_lo, c.beta_hi)

    def _apply(self, part: str, state: FamO2OState, grads) -> tuple[Params, dict]:
        updates, part_opt = self._optimizers()[part].update(grads, state.opt[part], getattr(state, part))
        return optax.apply_updates(getattr(state, part), updates), {**state.opt, part: part_opt}


__all__ = ["FamO2O", "FamO2OConfig", "FamO2OState", "advantage_weights", "beta_of", "encode_beta"]
