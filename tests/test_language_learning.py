"""Learning with language on PackCubes (slow): a low level behaviour-cloned from practice demos acts
on the instruction's embedding: told "left" or "right" at fresh states it moves each its own way,
and under the task's plan it packs the cubes on fresh episodes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("sentence_transformers", reason="pip install 'robokit[language]'")

from robokit.agents.chunking import chunked
from robokit.agents.ogpo.config import FLOW_PRESETS
from robokit.envs.instructed_demos import instructed_env, record_instructed
from robokit.envs.registration import make
from robokit.language.encoder import EmbeddingTable
from robokit.recipes.flow_bc import pretrain_flow_bc
from robokit.runs.policy import load_policy

MOVES_Y = {"move a bit to the left": 1.0, "move a bit to the right": -1.0}


@pytest.mark.slow
def test_a_low_level_cloned_from_practice_demos_follows_corrections_and_packs(tmp_path):
    import jax

    table = EmbeddingTable.open(tmp_path / "instructions.npz")
    demos = record_instructed("PackCubes-v0", 20, tmp_path / "demos", table, seed=0, practice=0.1).path
    flow = dataclasses.replace(FLOW_PRESETS["cpu"], act_noise=0.0)
    make_env = lambda: chunked(instructed_env(make("PackCubes-v0"), table), flow.chunk, flow.discount)  # noqa: E731
    pretrain_flow_bc(
        "robokit/PackCubes-v0", make_env, lambda _: demos, tmp_path / "low", flow,
        steps=12_000, eval_every=12_000, eval_episodes=1,
    )  # fmt: skip
    policy = load_policy(tmp_path / "low")
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
