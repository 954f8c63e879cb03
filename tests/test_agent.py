"""SAC/RLPD: shapes and finiteness, the losses doing their job, and a tiny task learned in seconds."""

from __future__ import annotations

import gymnasium as gym
import jax
import numpy as np
import pytest
from tiny_task import PointGoal

from robokit.agents.preprocessing import colour_jitter, random_shift
from robokit.agents.sac.agent import SAC, SACConfig
from robokit.bench.learner import synthetic_batch
from robokit.data.replay import ReplayBuffer
from robokit.link import InProcessLink
from robokit.loop.actor import Actor
from robokit.loop.evaluation import evaluate
from robokit.loop.learner import Learner, LearnerConfig
from robokit.types import EnvSpec


def spec_of(state_dim=5, action_dim=3, images=()):
    spaces = {"state": gym.spaces.Box(-1, 1, (state_dim,), np.float32)}
    for key in images:
        spaces[key] = gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)
    return EnvSpec.from_spaces(gym.spaces.Dict(spaces), gym.spaces.Box(-1, 1, (action_dim,), np.float32))


def random_batch(spec: EnvSpec, n: int, rng, reward=None, mask=None):
    batch = synthetic_batch(spec, n, rng)
    if reward is not None:
        batch["rewards"] = np.full(n, reward, np.float32)
    if mask is not None:
        batch["masks"] = np.full(n, mask, np.float32)
    return batch


@pytest.mark.parametrize("images", [(), ("front", "wrist")])
def test_update_is_finite_and_shaped(images):
    spec = spec_of(images=images)
    config = SACConfig(critic_ensemble=4, critic_subsample=2, utd_ratio=3, batch_size=8, hidden_dims=(32, 32))
    agent = SAC(config, spec)
    state = agent.init(jax.random.PRNGKey(0))
    batch = random_batch(spec, 3 * 8, np.random.default_rng(0))
    new_state, metrics = agent.update(state, batch)
    assert int(new_state.step) == 1
    for name in ("critic_loss", "actor_loss", "q_mean", "temperature", "entropy"):
        assert np.isfinite(float(metrics[name])), name
    leaves = jax.tree.leaves(new_state.critic)
    assert all(np.isfinite(np.asarray(x)).all() for x in leaves)
    assert jax.tree.leaves(new_state.critic["ensemble"])[0].shape[0] == 4  # one slice per critic
    changed = jax.tree.map(lambda a, b: bool(np.any(a != b)), state.actor, new_state.actor)
    assert all(jax.tree.leaves(changed))
    actions = agent.act(agent.policy_params(new_state), batch["observations"], jax.random.PRNGKey(1))
    assert actions.shape == (24, 3) and np.all(np.abs(np.asarray(actions)) <= 1.0)
    greedy = agent.act(
        agent.policy_params(new_state), batch["observations"], jax.random.PRNGKey(1), explore=False
    )
    again = agent.act(
        agent.policy_params(new_state), batch["observations"], jax.random.PRNGKey(2), explore=False
    )
    np.testing.assert_array_equal(greedy, again)  # evaluation is deterministic


def test_critic_regresses_terminal_rewards():
    spec = spec_of()
    agent = SAC(SACConfig(critic_ensemble=2, utd_ratio=2, batch_size=32, hidden_dims=(32, 32)), spec)
    state = agent.init(jax.random.PRNGKey(0))
    batch = random_batch(spec, 64, np.random.default_rng(0), reward=0.7, mask=0.0)
    for _ in range(1500):
        state, metrics = agent.update(state, batch)
    assert abs(float(metrics["q_mean"]) - 0.7) < 0.02


def test_the_bc_term_pulls_the_policy_to_the_demo_rows_actions_only_when_weighted():
    spec, rng = spec_of(), np.random.default_rng(0)
    batch = random_batch(spec, 64, rng, reward=0.0, mask=0.0)  # Q ~ 0 everywhere: no preference
    demo_action = np.array([0.5, -0.5, 0.3], np.float32)
    batch["from_demos"] = (np.arange(64) % 2).astype(np.float32)
    batch["observations"] = {k: np.repeat(v[::2], 2, axis=0) for k, v in batch["observations"].items()}
    batch["actions"][1::2] = demo_action  # demo rows: one action; online rows (same states): its opposite
    batch["actions"][::2] = -demo_action
    errors = {}
    for weight in (0.0, 1.0):
        config = SACConfig(
            critic_ensemble=2, utd_ratio=1, batch_size=64, hidden_dims=(32, 32), bc_weight=weight
        )
        agent = SAC(config, spec)
        state = agent.init(jax.random.PRNGKey(0))
        for _ in range(300):
            state, _ = agent.update(state, batch)
        demo_obs = {k: v[1::2] for k, v in batch["observations"].items()}
        greedy = agent.act(agent.policy_params(state), demo_obs, jax.random.PRNGKey(1), explore=False)
        errors[weight] = float(np.abs(np.asarray(greedy) - demo_action).mean())
    assert errors[1.0] < 0.1 < errors[0.0], errors


def test_temperature_moves_entropy_towards_its_target():
    spec = spec_of(action_dim=2)
    agent = SAC(SACConfig(critic_ensemble=2, utd_ratio=1, batch_size=32, hidden_dims=(32, 32)), spec)
    state = agent.init(jax.random.PRNGKey(0))
    batch = random_batch(spec, 32, np.random.default_rng(0), reward=0.0, mask=0.0)
    _, first = agent.update(state, batch)
    # A fresh policy's entropy is far above the target (-|A|/2 = -1), so the temperature must fall.
    for _ in range(200):
        state, metrics = agent.update(state, batch)
    assert float(metrics["temperature"]) < float(first["temperature"])
    assert agent.target_entropy == -1.0


def test_random_shift_moves_images_by_at_most_the_pad():
    images = np.zeros((4, 16, 16, 3), np.uint8)
    images[:, 8, 8] = 255
    shifted = np.asarray(random_shift(images, jax.random.PRNGKey(0), pad=2))
    assert shifted.shape == images.shape
    for img in shifted:
        y, x = np.argwhere(img[..., 0] == 255)[0]
        assert abs(y - 8) <= 2 and abs(x - 8) <= 2


def test_colour_jitter_recolours_each_image_within_its_bounds_and_keeps_the_picture():
    flat = np.full((16, 8, 8, 3), 100, np.uint8)
    out = np.asarray(colour_jitter(flat, jax.random.PRNGKey(0), 0.3))
    assert out.shape == flat.shape and out.dtype == np.float32
    # a flat image is only scaled: brightness x channel gain, each in [0.7, 1.3]
    ratio = out[:, 0, 0] / 100
    assert (ratio >= 0.7**2 - 1e-5).all() and (ratio <= 1.3**2 + 1e-5).all()
    assert np.ptp(ratio, axis=0).min() > 0.1  # differs image to image
    assert np.ptp(ratio, axis=1).max() > 0.05  # a colour cast: channels scaled apart
    spot = flat.copy()
    spot[:, 2, 5] = 200
    out = np.asarray(colour_jitter(spot, jax.random.PRNGKey(1), 0.3))
    assert (out[:, 2, 5] > out[:, 0, 0]).all()  # what was brighter stays brighter
    assert np.allclose(colour_jitter(spot, jax.random.PRNGKey(1), 0.0), spot, atol=1e-3)


def test_bad_subsample_is_refused():
    with pytest.raises(ValueError, match="critic_subsample 3 must be between 1 and critic_ensemble 2"):
        SAC(SACConfig(critic_ensemble=2, critic_subsample=3), spec_of())


class _Recorded(gym.Wrapper):
    """Keeps every (observation, action) pair the policy was given and chose."""

    def __init__(self, env):
        super().__init__(env)
        self.pairs = []

    def reset(self, **kwargs):
        self.obs, info = self.env.reset(**kwargs)
        return self.obs, info

    def step(self, action):
        self.pairs.append((self.obs["state"], np.asarray(action)))
        self.obs, *rest = self.env.step(action)
        return (self.obs, *rest)


def test_evaluation_acts_with_the_policys_mean_or_with_samples_drawn_from_it():
    env = _Recorded(PointGoal(max_steps=10))
    spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    agent = SAC(SACConfig(critic_ensemble=2, hidden_dims=(16, 16)), spec)
    params = agent.policy_params(agent.init(jax.random.PRNGKey(0)))
    key = jax.random.PRNGKey(1)

    def mean_actions(states):
        return np.asarray(agent.act(params, {"state": np.stack(states)}, key, explore=False))

    for sampled in (False, True):
        env.pairs.clear()
        result = evaluate(env, agent, params, 3, sampled=sampled)
        assert result["actions"] == ("sampled" if sampled else "mean")
        states, actions = zip(*env.pairs, strict=True)
        gaps = np.abs(np.stack(actions) - mean_actions(states)).max(axis=-1)
        if sampled:  # an untrained policy's spread is wide: every sample lands away from its mean
            assert np.median(gaps) > 0.05 and len(set(map(bytes, actions))) == len(actions)
        else:
            assert gaps.max() < 1e-5


def test_a_tiny_task_is_learned_in_seconds():
    env, eval_env = PointGoal(), PointGoal()
    spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    agent = SAC(SACConfig(critic_ensemble=2, utd_ratio=2, hidden_dims=(64, 64), batch_size=64), spec)
    link = InProcessLink()
    actor = Actor(env, agent, link, seed=0)
    buffers = {"online": ReplayBuffer(spec, 10_000)}
    config = LearnerConfig(start_after=200, utd_ratio=2, batch_size=64)
    learner = Learner(agent, agent.init(jax.random.PRNGKey(0)), buffers, {"online": 1.0}, link, config)
    before = evaluate(eval_env, agent, agent.policy_params(learner.state), 20)["success_rate"]
    for _ in range(3000):
        actor.collect(1)
        learner.ingest()
        if learner.ready:
            learner.update()
            learner.maybe_publish()
    after = evaluate(eval_env, agent, agent.policy_params(learner.state), 40)["success_rate"]
    assert before < 0.3 and after >= 0.9, (before, after)
    assert actor.version > 0  # the actor did receive published params
