"""Visual randomisation (envs/sim/looks.py): the looks change with the reset's seed, the physics
never; held-out draws lie outside the training ranges."""

from __future__ import annotations

import numpy as np
import pytest

from robokit.envs.registration import make
from robokit.envs.sim.looks import LookRanges, draw


def rollout(looks: str | None, seed: int, steps: int = 15):
    env = make("robokit/PickCubeVision-v0", **({"looks": looks} if looks else {}))
    try:
        obs, _ = env.reset(seed=seed)
        first, states = obs["front"], [obs["state"]]
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            obs, *_ = env.step(rng.uniform(-1, 1, env.action_space.shape))
            states.append(obs["state"])
        return first, np.stack(states)
    finally:
        env.close()


def test_looks_change_what_the_camera_sees_and_nothing_the_arm_or_cube_does():
    plain_image, plain_states = rollout(None, seed=4)
    for level in ("train", "held_out"):
        image, states = rollout(level, seed=4)
        np.testing.assert_array_equal(states, plain_states)  # same physics, step for step
        assert np.abs(image.astype(int) - plain_image).mean() > 5, level


def test_the_same_seed_gives_the_same_looks_and_another_seed_others():
    a, _ = rollout("train", seed=1, steps=0)
    b, _ = rollout("train", seed=1, steps=0)
    c, _ = rollout("train", seed=2, steps=0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_held_out_draws_lie_in_the_bands_outside_the_training_range():
    rng = np.random.default_rng(0)
    lo, hi = LookRanges().sun
    train = [draw(rng, (lo, hi), "train") for _ in range(500)]
    held = np.array([draw(rng, (lo, hi), "held_out") for _ in range(500)])
    assert lo <= min(train) and max(train) <= hi
    band = 0.5 * (hi - lo)
    assert np.all(((held >= lo - band) & (held <= lo)) | ((held >= hi) & (held <= hi + band)))
    assert (held < lo).any() and (held > hi).any()


def test_an_unknown_looks_level_is_one_sentence():
    with pytest.raises(ValueError, match="use train or held_out"):
        make("robokit/PickCubeVision-v0", looks="wild")
