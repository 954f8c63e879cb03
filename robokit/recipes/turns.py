"""The parts of a reset-free run: each direction's agent and learner (a Turn), the fallback
placements, one training episode, and the alternating evaluation."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from robokit.agents.sac import KIND as SAC_KIND
from robokit.link import InProcessLink
from robokit.loop.evaluation import action_mode
from robokit.loop.learner import Learner
from robokit.recipes.alternation import DIRECTIONS, Alternation
from robokit.recipes.online_setup import demo_and_online_buffers, learner_setup
from robokit.rewards.success_checks import SuccessChecks
from robokit.runs import checkpoint
from robokit.types import EnvSpec, Transition, TransitionBatch


class Fallback:
    """Counts backward episodes in a row that failed; says when the next reset must place objects."""

    def __init__(self, after: int | None):
        self.after, self.failures, self.interventions = after, 0, 0

    def episode_ended(self, direction: str, succeeded: bool) -> None:
        if direction == "backward":
            self.failures = 0 if succeeded else self.failures + 1

    def options(self, options: dict) -> dict:
        """`options` of the next reset, with the objects placed if it is time to intervene."""
        if self.after is None or options["direction"] != "forward" or self.failures < self.after:
            return options
        self.failures, self.interventions = 0, self.interventions + 1
        return {**options, "keep_objects": False}


class Turn:
    """One direction's agent, learner and buffers; from demos, or from its checkpoint (`restore`)."""

    def __init__(
        self,
        agent,
        spec: EnvSpec,
        demos,
        config,
        seed: int,
        restore: Path | None = None,
    ):
        self.agent, self.link = agent, InProcessLink()
        counters = {}
        if restore is None:
            # (the last episode may run past the budget)
            buffers, statistics = demo_and_online_buffers(spec, config.max_env_steps + 1_000, demos)
            state = agent.init(jax.random.PRNGKey(seed), **statistics)
        else:
            template = agent.init(jax.random.PRNGKey(seed))
            state, buffers, counters = checkpoint.restore(restore, template, spec)
            if "loop" not in counters:
                raise ValueError(
                    f"{restore} was written before reset-free runs could resume: start a new run."
                )
        learner_config, ratios = learner_setup(
            SAC_KIND, agent.config, config.start_after, buffers, config.demo_ratio
        )
        self.learner = Learner(agent, state, buffers, ratios, self.link, learner_config, seed=seed)
        self.rng, self.key = np.random.default_rng(seed), jax.random.PRNGKey(seed + 1)
        if counters:
            self.learner.env_steps = self.learner.transitions = counters["learner_env_steps"]
            self.learner.updates = counters["updates"]
            self.learner.rng = checkpoint.rng_from_state(counters["learner_rng"])
            self.rng = checkpoint.rng_from_state(counters["explore_rng"])
            self.key = jax.numpy.asarray(counters["key"], dtype=jax.numpy.uint32)
        self.loop = counters.get("loop")
        """The loop's own state when restored (robokit.recipes.reset_free.Progress, as saved)."""

    def counters(self) -> dict:
        return {
            "learner_env_steps": self.learner.env_steps,
            "updates": self.learner.updates,
            "learner_rng": checkpoint.rng_state(self.learner.rng),
            "explore_rng": checkpoint.rng_state(self.rng),
            "key": np.asarray(self.key).tolist(),
        }

    def start_episode(self) -> None:
        """Called before each of this agent's episodes (a policy with memory would reset it here)."""

    def act(self, obs: dict, explore: bool = True) -> np.ndarray:
        if explore and not self.learner.ready:
            return self.rng.uniform(-1.0, 1.0, self.agent.spec.action_dim).astype(np.float32)
        self.key, sub = jax.random.split(self.key)
        params = self.agent.policy_params(self.learner.state)
        batched = {k: v[None] for k, v in obs.items()}
        return np.asarray(self.agent.act(params, batched, sub, explore=explore))[0]

    def learn(self, transition: Transition) -> None:
        self.link.send(
            "transitions", TransitionBatch.from_rows([transition], self.agent.spec.observation_keys)
        )
        self.learner.ingest()
        if self.learner.ready:
            self.learner.update()


def use_direction(env, direction: str, classifiers: dict | None) -> None:
    """Reward the next episode by this direction's classifier (when rewards come from classifiers)."""
    if classifiers:  # the reward wrapper's, under any wrapper around it (the console's Watched)
        env.set_wrapper_attr("classifier", classifiers[direction])


def evaluate_alternating(
    env, turns: dict[str, Turn], episodes: int, seed: int, classifiers=None, sampled: bool = False
) -> dict:
    """The policies' mean actions (or `sampled` ones, as in training) on `episodes` alternating
    episodes; only the first places the objects. Success is the env's own `success` info (the
    simulator's truth) at each episode's end."""
    alternation = Alternation()
    outcomes: dict[str, list[bool]] = {d: [] for d in DIRECTIONS}
    returns = []
    for i in range(episodes):
        direction, options = alternation.next_episode()
        use_direction(env, direction, classifiers)
        obs, info = env.reset(seed=seed if i == 0 else None, options=options)
        turns[direction].start_episode()
        done, total = False, 0.0
        while not done:
            obs, reward, terminated, truncated, info = env.step(turns[direction].act(obs, explore=sampled))
            done, total = terminated or truncated, total + float(reward)
        outcomes[direction].append(bool(info.get("success", False)))
        returns.append(total)
    rates = {d: float(np.mean(v)) if v else 0.0 for d, v in outcomes.items()}
    return {
        **rates,
        "success_rate": min(rates.values()),
        "return": float(np.mean(returns)),
        "episodes": episodes,
        "actions": action_mode(sampled),
    }


def object_poses(env) -> list | None:
    """Where a simulated scene's objects are (None on a real arm: they stay where they physically are)."""
    world = getattr(env.unwrapped.task, "world", None)
    return None if world is None else world.free_body_poses()


def train_episode(
    env, obs: dict, turn: Turn, direction: str, steps: dict[str, int], checks: SuccessChecks | None = None
) -> tuple[dict, bool, float]:
    """One training episode from `obs`, each step learnt from at once; its last info, whether it
    terminated (its reward's success) and its return. Counts its steps into `steps`. With `checks`,
    a success the classifier claims is learnt from only if the labeller confirms it; a rejected one
    ends the episode unrewarded and not terminal."""
    turn.start_episode()
    done, episode_return, terminated = False, 0.0, False
    while not done:
        action = turn.act(obs)
        next_obs, reward, terminated, truncated, info = env.step(action)
        claimed = terminated and info.get("classifier_success", False)
        if (
            checks is not None
            and claimed
            and not checks.check(direction, env.get_wrapper_attr("frames"), info)
        ):
            reward, terminated, truncated = 0.0, False, True
        turn.learn(Transition(obs, action, float(reward), bool(terminated), bool(truncated), next_obs))
        steps[direction] += 1
        episode_return += float(reward)
        obs, done = next_obs, terminated or truncated
    return info, bool(terminated), episode_return
