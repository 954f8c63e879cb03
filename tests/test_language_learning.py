"""Learning with language on PackCubes (slow): a low level behaviour-cloned from practice demos acts
on the instruction's embedding (told "left" or "right" at fresh states it moves each its own way,
and under the task's plan it packs the cubes on fresh episodes), and an operator's live corrections
raise the hierarchy's success on fresh episodes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("sentence_transformers", reason="pip install 'robokit[language]'")

from robokit.agents.ogpo.config import FLOW_PRESETS
from robokit.envs.instructed_demos import instructed_env
from robokit.envs.registration import make
from robokit.language.encoder import EmbeddingTable
from robokit.runs.policy import load_policy

MOVES_Y = {"move a bit to the left": 1.0, "move a bit to the right": -1.0}


@pytest.fixture(scope="module")
def hierarchy(tmp_path_factory):
    """examples/language_corrections.py's first round, small: 40 practice demos in both orders, a
    low level cloned on them, an instructor, and the hierarchy measured on 16 fresh episodes alone
    and corrected live (the user wants red first); (its row, its folder)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "language_corrections.py"
    spec = importlib.util.spec_from_file_location("language_corrections", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    folder = tmp_path_factory.mktemp("hierarchy")
    options = dict(demos=40, bc_steps=25_000, episodes=16, rounds=0, practice=0.1, aim_error=0.0)
    options |= dict(finetune_steps=0, order=("red", "blue"), mixed_demos=True)
    return example.one_seed(0, folder=folder, **options)["rounds"][0], folder


@pytest.mark.slow
def test_a_low_level_cloned_from_practice_demos_follows_corrections_and_packs(hierarchy):
    import jax

    _, folder = hierarchy
    table = EmbeddingTable.open(folder / "instructions.npz")
    flow = dataclasses.replace(FLOW_PRESETS["cpu"], act_noise=0.0)
    policy = load_policy(folder / "low-level")
    env = policy.wrap_env(instructed_env(make("PackCubes-v0"), table))
    key = jax.random.PRNGKey(0)

    def act(obs):
        nonlocal key
        key, sub = jax.random.split(key)
        return np.asarray(policy.agent.act(policy.params, {k: v[None] for k, v in obs.items()}, sub, False))[
            0
        ]

    apart = []
    for i in range(12):  # fresh states, 2-5 chunks into the red cube's pick: "left" vs "right"
        obs, _ = env.reset(seed=40_000 + i)
        for _ in range(2 + i % 4):
            obs, *_ = env.step(act(obs))
        sideways = {}
        for text, sign in MOVES_Y.items():
            told = {**obs, "instruction": table.embed(text)}
            sideways[text] = sign * act(told).reshape(flow.chunk, -1)[:, 1].sum()
        apart.append(sum(sideways.values()))  # > 0: each went its own way, on the whole
    # 4 steps of 0.25 asked each way: 2.0 apart at best; a policy that ignores the words gives 0
    assert np.median(apart) > 0.4 and np.mean(np.asarray(apart) > 0) >= 10 / 12, apart

    packed = []
    for i in range(10):
        obs, info, done = *env.reset(seed=41_000 + i), False
        while not done:
            obs, _, terminated, truncated, info = env.step(act(obs))
            done = terminated or truncated
        packed.append(bool(info["success"]))
    assert np.mean(packed) >= 0.6, packed


@pytest.mark.slow
def test_an_operators_live_corrections_raise_the_hierarchys_success_on_fresh_episodes(hierarchy):
    """The simulated operator's words (through Instructed.correct, as an actor runs `robokit say`)
    pack clearly more fresh episodes than the hierarchy alone; without them the two are equal."""
    row, _ = hierarchy
    assert row["live"] >= row["alone"] + 0.15 and row["corrections_per_episode"] > 0.5, row
