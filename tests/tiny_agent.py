"""An agent that robokit's core has never heard of, registered from the tests folder: a linear
policy cloned towards the actions in its batches. It shows that a new algorithm needs a config, an
agent and one AgentKind, and no change to robokit."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
from flax import struct

from robokit.agents.base import AgentKind


@dataclass(frozen=True)
class TinyConfig:
    batch_size: int = 16
    utd_ratio: int = 1
    learning_rate: float = 0.05
    noise: float = 0.3
    """Std of the exploration noise on the action."""


class TinyState(struct.PyTreeNode):
    weights: jax.Array
    bias: jax.Array
    step: jax.Array


@dataclass(frozen=True)
class TinyAgent:
    config: TinyConfig
    spec: object

    def init(self, key, state_mean=None, state_std=None) -> TinyState:
        state_dim = dict((k, s) for k, s, _ in self.spec.observations)["state"][0]
        weights = 0.01 * jax.random.normal(key, (state_dim, self.spec.action_dim))
        return TinyState(weights, jnp.zeros(self.spec.action_dim), jnp.zeros((), jnp.int32))

    def policy_params(self, state: TinyState):
        return {"weights": state.weights, "bias": state.bias}

    def act(self, params, obs, key, explore: bool = True):
        mean = jnp.tanh(obs["state"] @ params["weights"] + params["bias"])
        noise = self.config.noise * jax.random.normal(key, mean.shape) if explore else 0.0
        return jnp.clip(mean + noise, -1.0, 1.0)

    @partial(jax.jit, static_argnums=0)
    def update(self, state: TinyState, batch):
        def loss(params):
            predicted = jnp.tanh(batch["observations"]["state"] @ params["weights"] + params["bias"])
            return jnp.mean((predicted - batch["actions"]) ** 2)

        value, grads = jax.value_and_grad(loss)(self.policy_params(state))
        lr = self.config.learning_rate
        new = state.replace(
            weights=state.weights - lr * grads["weights"],
            bias=state.bias - lr * grads["bias"],
            step=state.step + 1,
        )
        return new, {"loss": value}


KIND = AgentKind("tiny", TinyConfig, {"cpu": TinyConfig()}, TinyAgent, learns_from_demos=False)
