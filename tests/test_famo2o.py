"""FamO2O (robokit.agents.famo2o): the beta encoding and mapping, the stop-gradients between the
balance and universal models, the paper's update order, and bad configs as one sentence."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from robokit.agents.famo2o.agent import FamO2O, advantage_weights, beta_of, encode_beta
from robokit.agents.famo2o.config import FamO2OConfig
from robokit.bench.learner import synthetic_batch
from robokit.types import EnvSpec

SPEC = EnvSpec(observations=(("state", (5,), "float32"),), action_dim=3)
SMALL = FamO2OConfig(hidden_dims=(32, 32), batch_size=16)


def _agent(**changes) -> tuple[FamO2O, object, dict]:
    agent = FamO2O(dataclasses.replace(SMALL, **changes), SPEC)
    batch = jax.tree.map(jnp.asarray, synthetic_batch(SPEC, 16, np.random.default_rng(0)))
    return agent, agent.init(jax.random.PRNGKey(0)), batch


def _changed(before, after) -> bool:
    return any(jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.any(a != b)), before, after)))


def _far(a, b, atol: float = 1e-5) -> bool:
    return (
        max(float(jnp.abs(x - y).max()) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))
        > atol
    )


def test_the_beta_encoding_is_the_papers_sin_cos():
    beta = jnp.array([0.0, 3.0, 12.5])
    code = np.asarray(encode_beta(beta, dim=6, base=1e4))
    assert code.shape == (3, 6)
    np.testing.assert_allclose(code[0], [0, 0, 0, 1, 1, 1], atol=1e-7)
    for i in range(3):  # sin(beta / n^(2i/d)) then cos(...)
        np.testing.assert_allclose(code[:, i], np.sin(np.asarray(beta) / 1e4 ** (2 * i / 6)), rtol=1e-5)
        np.testing.assert_allclose(code[:, 3 + i], np.cos(np.asarray(beta) / 1e4 ** (2 * i / 6)), rtol=1e-5)
    assert not np.allclose(code[1], code[2])  # betas of the range are told apart


def test_beta_stays_in_its_range_for_any_balance_output():
    u = jnp.tanh(jnp.linspace(-30, 30, 101))  # saturated at both ends
    beta = np.asarray(beta_of(u, 8.0, 14.0))
    assert beta.min() >= 8.0 and beta.max() <= 14.0 and beta[0] == pytest.approx(8.0)
    assert beta[-1] == pytest.approx(14.0) and np.all(np.diff(beta) >= 0)
    agent, state, batch = _agent(beta_lo=8.0, beta_hi=14.0)
    params = agent.policy_params(state)
    wild = {"state": batch["observations"]["state"] * 1e3}
    chosen = np.asarray(agent.beta(params, wild))
    assert chosen.shape == (16,) and chosen.min() >= 8.0 and chosen.max() <= 14.0
    actions = np.asarray(agent.act(params, wild, jax.random.PRNGKey(1)))
    assert actions.shape == (16, 3) and np.abs(actions).max() <= 1.0


def test_the_balance_loss_changes_no_universal_parameter_and_the_universal_loss_no_balance_one():
    agent, state, batch = _agent()
    features = agent._features(batch["observations"], state.obs_norm)
    after_balance, metrics = agent._balance_step(state, features, jax.random.PRNGKey(1))
    assert _changed(state.balance, after_balance.balance) and "balance_loss" in metrics
    for part in ("universal", "critic", "value"):
        assert not _changed(getattr(state, part), getattr(after_balance, part)), part
    for online in (False, True):  # online, the universal model trains at the balance model's beta
        agent, state, batch = _agent(online=online)
        after_universal, _ = agent._universal_step(
            state, features, batch["actions"], jax.random.PRNGKey(2), jax.random.PRNGKey(3)
        )
        assert _changed(state.universal, after_universal.universal)
        for part in ("balance", "temperature", "critic", "value"):
            assert not _changed(getattr(state, part), getattr(after_universal, part)), (online, part)


def test_one_step_runs_value_balance_alpha_universal_q_then_target_in_that_order():
    for base in ("iql", "awac"):
        agent, state, batch = _agent(base=base, online=True)
        for _ in range(3):  # Adam's first update is the gradients' signs only: give it a history
            state, _ = agent.update(state, batch)
        stepped, _ = jax.jit(agent._step)(state, batch)
        # the same step by hand, in the paper's order, each part seeing the ones before it
        features = agent._features(batch["observations"], state.obs_norm)
        next_features = agent._features(batch["next_observations"], state.obs_norm)
        _, k_balance, k_beta, k_adv, k_next = jax.random.split(state.rng, 5)
        s, _ = agent._value_step(state, features, batch["actions"])
        s, _ = agent._balance_step(s, features, k_balance)
        s, _ = agent._universal_step(s, features, batch["actions"], k_beta, k_adv)
        s, _ = agent._critic_step(s, features, next_features, batch, k_next)
        target = jax.tree.map(lambda new, old: 0.005 * new + 0.995 * old, s.critic, s.target_critic)
        for part in ("value", "balance", "temperature", "universal", "critic"):
            leaves = zip(
                jax.tree.leaves(getattr(s, part)), jax.tree.leaves(getattr(stepped, part)), strict=True
            )
            for a, b in leaves:
                np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6, err_msg=f"{base}: {part}")
        for a, b in zip(jax.tree.leaves(target), jax.tree.leaves(stepped.target_critic), strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)
        latest = {"universal": s.universal, "balance": s.balance}  # then the acting average, last
        rate = 1 / (int(state.step) + 1)  # (the mean so far, this early)
        acting = jax.tree.map(lambda new, old, r=rate: r * new + (1 - r) * old, latest, state.acting)
        for a, b in zip(jax.tree.leaves(acting), jax.tree.leaves(stepped.acting), strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)
        if base == "iql":  # and the order shows: a universal step on the old V weighs otherwise
            early, _ = agent._balance_step(state, features, k_balance)
            early, _ = agent._universal_step(early, features, batch["actions"], k_beta, k_adv)
            assert _far(early.universal, stepped.universal)
            early, _ = agent._critic_step(state, features, next_features, batch, k_next)
            assert _far(early.critic, stepped.critic)  # so does a Q step on the old V


def test_the_policy_acts_with_the_average_of_its_parameters_so_far_then_a_slow_polyak_average():
    agent, state, batch = _agent(policy_average=0.01)
    history = []
    for _ in range(150):
        state, _ = agent.update(state, batch)
        history.append({"universal": state.universal, "balance": state.balance})
    acting = agent.policy_params(state)
    # 1 / (step + 1) until it falls under the rate at step 99: the plain mean of the first 100 ...
    expected = jax.tree.map(lambda *xs: sum(xs) / len(xs), *history[:100])
    for later in history[100:]:  # ... then 1% of each newer one
        expected = jax.tree.map(lambda new, old: 0.01 * new + 0.99 * old, later, expected)
    for part in ("universal", "balance"):
        for a, b in zip(jax.tree.leaves(expected[part]), jax.tree.leaves(acting[part]), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5, err_msg=part)
    assert _far(acting["universal"], state.universal, 1e-4)  # not the latest parameters
    plain, _, _ = _agent(policy_average=0.0)  # 0: the latest parameters, as the authors act
    latest = plain.policy_params(state)
    assert not _changed(latest["universal"], state.universal)
    assert not _changed(latest["balance"], state.balance)


def test_a_fixed_beta_is_the_baseline_with_no_balance_model_trained():
    agent, state, batch = _agent(fixed_beta=3.0)
    new_state, metrics = agent.update(state, batch)
    assert not _changed(state.balance, new_state.balance) and float(metrics["beta_mean"]) == 3.0
    assert np.all(np.asarray(agent.beta(agent.policy_params(new_state), batch["observations"])) == 3.0)
    assert _changed(state.universal, new_state.universal) and _changed(state.critic, new_state.critic)


def test_the_code_of_a_greedier_beta_is_always_further_along():
    agent, _, _ = _agent(beta_lo=1.0, beta_hi=10.0)
    code = np.asarray(agent._code(jnp.linspace(1.0, 10.0, 50)))
    assert np.all(np.diff(code[:, 0]) > 0) and np.all(np.diff(code[:, 3]) < 0)  # the fastest pair: monotone
    paper, _, _ = _agent(monotone_beta_code=False)  # the paper's code of beta itself
    twins = np.asarray(paper._code(jnp.array([1.0, 1.0 + 2 * np.pi])))
    np.testing.assert_allclose(twins[0, [0, 3]], twins[1, [0, 3]], atol=1e-5)  # beta 1 and 7.3 share it


def test_normalised_advantages_weigh_alike_at_any_reward_scale():
    advantage = jnp.asarray(np.random.default_rng(0).normal(0.0, 0.02, 256))  # PickCube's scale
    beta = jnp.full(256, 3.0)
    small = np.asarray(advantage_weights(beta, advantage, 100.0, normalize=True))
    np.testing.assert_allclose(
        small, advantage_weights(beta, 50 * advantage, 100.0, normalize=True), rtol=1e-3
    )
    assert small.max() / small.min() > 100  # 3 standard deviations per e-fold: weighed apart
    raw = np.asarray(advantage_weights(beta, advantage, 100.0, normalize=False))
    assert raw.max() / raw.min() < 2  # the paper's raw weight at this scale: about 1 for every action


class _Fixed:
    """A network stand-in: apply(params, *inputs) is `fn(*inputs)`."""

    def __init__(self, fn):
        self.fn = fn

    def apply(self, params, *inputs):
        return self.fn(*inputs)


def test_the_balance_model_picks_a_greedier_beta_where_greed_pays():
    """A universal model whose action grows with beta, and a critic paying action x state[0]: the
    balance model learns a high beta where state[0] = +1 and a low one where it is -1."""
    agent, state, _ = _agent(beta_lo=1.0, beta_hi=10.0)
    universal = _Fixed(
        lambda f, code: (jnp.broadcast_to(2 * code[:, :1] - 1, (len(f), 3)), jnp.full((len(f), 3), -5.0))
    )
    agent.networks.update(universal=universal, critic=_Fixed(lambda f, a: jnp.stack([f[:, 0] * a[:, 0]] * 2)))
    sign = np.repeat([1.0, -1.0], 32)
    features = jnp.asarray(
        np.column_stack([sign, np.random.default_rng(0).normal(size=(64, 4))]), jnp.float32
    )
    step = jax.jit(lambda s, k: agent._balance_step(s, features, k))
    for key in jax.random.split(jax.random.PRNGKey(0), 1500):
        state, _ = step(state, key)
    beta = np.asarray(agent._greedy_beta(state.balance, features))
    assert beta[:32].min() > 7.0 and beta[32:].max() < 4.0, (beta[:32].mean(), beta[32:].mean())


def test_updates_are_finite_for_both_bases_offline_and_online():
    for base in ("iql", "awac"):
        for online in (False, True):
            agent, state, batch = _agent(base=base, online=online, utd_ratio=2, batch_size=8)
            for _ in range(3):
                state, metrics = agent.update(state, batch)
            assert all(np.isfinite(float(v)) for v in metrics.values()), (base, online, metrics)
            assert int(state.step) == 3


@pytest.mark.parametrize(
    ("changes", "fix"),
    [
        ({"beta_lo": 5.0, "beta_hi": 5.0}, "give beta_lo < beta_hi"),
        ({"beta_lo": 9.0, "beta_hi": 2.0}, "give beta_lo < beta_hi"),
        ({"fixed_beta": -1.0}, "must be positive"),
        ({"expectile": 0.3}, "IQL uses 0.7 to 0.9"),
        ({"policy_average": 1.5}, "or 0 for none"),
    ],
)
def test_a_config_that_cannot_train_is_one_sentence(changes, fix):
    from robokit.agents.base import agent_kind

    with pytest.raises(ValueError, match=fix):
        FamO2O(dataclasses.replace(SMALL, **changes), SPEC)
    with pytest.raises(ValueError, match=fix):
        agent_kind("famo2o").configure("cpu", changes)


def test_camera_observations_are_one_sentence():
    spaces = gym.spaces.Dict(
        {"state": gym.spaces.Box(-1, 1, (5,)), "front": gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)}
    )
    spec = EnvSpec.from_spaces(spaces, gym.spaces.Box(-1, 1, (3,)))
    with pytest.raises(ValueError, match="encode the frames with --encoder"):
        FamO2O(SMALL, spec)
