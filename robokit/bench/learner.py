"""`robokit bench learner`: critic updates per second, the time of one UTD update, and its FLOPs
against this CPU's float32 matmul peak (measured in the same run)."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Iterator

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from robokit.agents.sac.agent import SAC
from robokit.agents.sac.config import CPU_PRESET, SACConfig
from robokit.bench import bench_row
from robokit.types import EnvSpec

STATE_SPEC = EnvSpec(observations=(("state", (10,), "float32"),), action_dim=4)
#: RLPD state config as SERL runs it: 10 critics, 2 subsampled, [256, 256], minibatch 256, UTD 8.
CASES = {
    "rlpd_state": (STATE_SPEC, SACConfig()),
    "rlpd_state_serl_actor": (STATE_SPEC, SACConfig(actor_on_full_batch=True)),
    # what the critics' LayerNorms cost (they are memory-bound on a CPU: ~a fifth of the update)
    "rlpd_state_no_layernorm": (STATE_SPEC, SACConfig(critic_layer_norm=False)),
    "cpu_preset_state": (STATE_SPEC, SACConfig(critic_ensemble=2, utd_ratio=4)),
    "image_2x32px": (
        EnvSpec.from_spaces(
            gym.spaces.Dict(
                {
                    "state": gym.spaces.Box(-1, 1, (7,), np.float32),
                    "front": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8),
                    "wrist": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8),
                }
            ),
            gym.spaces.Box(-1, 1, (4,), np.float32),
        ),
        SACConfig(utd_ratio=1, batch_size=32),
    ),
}


def _pickcube(**inputs: tuple[tuple[int, ...], str]) -> EnvSpec:
    spaces = {
        k: gym.spaces.Box(0, 255, shape, np.uint8)
        if dtype == "uint8"
        else gym.spaces.Box(-1, 1, shape, np.float32)
        for k, (shape, dtype) in inputs.items()
    }
    return EnvSpec.from_spaces(gym.spaces.Dict(spaces), gym.spaces.Box(-1, 1, (4,), np.float32))


#: `robokit train`'s CPU preset on PickCube's three inputs, side by side: the simulator's state
#: (proprioception 7 + cube position 3), a frozen pretrained encoder's output computed by the actors
#: (proprioception + 32 + 3), and the two 128x128 cameras through encoders the critic trains (DrQ).
PIXEL_CASES = {
    "pickcube_state": _pickcube(state=((10,), "float32")),
    "pickcube_frozen_encoder": _pickcube(state=((7,), "float32"), embedding=((35,), "float32")),
    "pickcube_end_to_end_128px": _pickcube(
        state=((7,), "float32"), front=((128, 128, 3), "uint8"), wrist=((128, 128, 3), "uint8")
    ),
}


def synthetic_batch(spec: EnvSpec, n: int, rng: np.random.Generator) -> dict:
    """A batch of random data shaped for `spec` (next observations are the observations reversed)."""
    obs = {}
    for key, shape, dtype in spec.observations:
        if dtype == "uint8":
            obs[key] = rng.integers(0, 255, (n, *shape), dtype=np.uint8)
        else:
            obs[key] = rng.normal(size=(n, *shape)).astype(dtype)
    return {
        "observations": obs,
        "actions": rng.uniform(-1, 1, (n, spec.action_dim)).astype(np.float32),
        "rewards": rng.random(n).astype(np.float32),
        "masks": np.ones(n, np.float32),
        "next_observations": {k: v[::-1].copy() for k, v in obs.items()},
    }


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f(a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times) / 1e9


def bench_learner(repeats: int = 3, calls: int = 10) -> Iterator[dict]:
    rng = np.random.default_rng(0)
    peak = matmul_peak_gflops()
    yield _row("cpu", "float32_matmul_peak", peak, "GFLOP/s")
    for case, (spec, config) in CASES.items():
        agent = SAC(config, spec)
        state = agent.init(jax.random.PRNGKey(0))
        batch = jax.tree.map(jnp.asarray, synthetic_batch(spec, config.utd_ratio * config.batch_size, rng))
        flops = _update_flops(agent, state, batch)
        seconds = _median_seconds(lambda s, a=agent, b=batch: a.update(s, b)[0], state, repeats, calls)
        yield _row(case, "utd_update_ms", seconds * 1000, "ms")
        yield _row(case, "critic_updates_per_s", config.utd_ratio / seconds, "1/s")
        if flops:
            yield _row(case, "gflop_per_utd_update", flops / 1e9, "GFLOP")
            yield _row(case, "fraction_of_matmul_peak", flops / seconds / 1e9 / peak, "")
        if case == "rlpd_state":
            floor = hidden_matmuls_seconds(config, repeats, calls)
            yield _row(case, "hidden_matmuls_alone_ms", floor * 1000, "ms")
    yield from bench_pixel_inputs(repeats)


def bench_pixel_inputs(repeats: int, calls: int = 2) -> Iterator[dict]:
    """PIXEL_CASES' UTD update times, alternated case by case in each repeat (side by side on a
    noisy machine), and each pixel case's median ratio to the state case's. (An end-to-end update
    at the CPU preset's 4 x 256 samples of two 128x128 cameras takes tens of seconds on a CPU:
    hence few calls.)"""
    agents = {case: SAC(CPU_PRESET, spec) for case, spec in PIXEL_CASES.items()}
    for case, times, ratio in _side_by_side(agents, "pickcube_state", repeats, calls):
        yield _row(case, "utd_update_ms", statistics.median(times) * 1000, "ms")
        yield _row(case, "critic_updates_per_s", CPU_PRESET.utd_ratio / statistics.median(times), "1/s")
        if ratio is not None:
            yield _row(case, "update_time_vs_state", ratio, "x")


def _side_by_side(agents: dict, base: str, repeats: int, calls: int):
    """(case, seconds per update call in each repeat, median ratio to `base`'s or None) of each
    agent, on synthetic batches of its size, the cases alternated in each repeat (side by side on a
    noisy machine)."""
    rng, runs = np.random.default_rng(0), {}
    for case, agent in agents.items():
        c, spec = agent.config, agent.spec
        batch = jax.tree.map(jnp.asarray, synthetic_batch(spec, c.utd_ratio * c.batch_size, rng))
        runs[case] = (lambda s, a=agent, b=batch: a.update(s, b)[0], agent.init(jax.random.PRNGKey(0)))
    seconds = {case: [] for case in runs}
    for _ in range(repeats):
        for case, (step, state) in runs.items():
            seconds[case].append(_median_seconds(step, state, 1, calls))
    for case, times in seconds.items():
        pairs = zip(times, seconds[base], strict=True)
        yield case, times, None if case == base else statistics.median(t / b for t, b in pairs)


def hidden_matmuls_seconds(config: SACConfig, repeats: int, calls: int) -> float:
    """The time of one UTD update's hidden-to-hidden matmuls alone, as bare batched dots of the same
    shapes: per critic step the ensemble's forward, input gradient and weight gradient and the target
    subset's forward; then the actor step's forward and input gradient. Everything else an update does
    (LayerNorm, the first and last layers, Adam, sampling) comes on top of this floor."""
    e, k, b = config.critic_ensemble, config.critic_subsample, config.batch_size
    h = config.hidden_dims[-1]
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    x = jax.random.normal(keys[0], (e, b, h)) * 0.01
    w = jax.random.normal(keys[1], (e, h, h)) * 0.01

    @jax.jit
    def dots(x, w):
        def critic_step(carry, _):
            x, w = carry
            y = jnp.einsum("ebi,eio->ebo", x, w)  # forward
            dx = jnp.einsum("ebo,eio->ebi", y, w)  # input gradient (NT)
            dw = jnp.einsum("ebi,ebo->eio", x, y)  # weight gradient (TN)
            t = jnp.einsum("ebi,eio->ebo", x[:k], w[:k])  # the target subset's forward
            return (dx + t.sum(0) * 1e-3, w - 1e-3 * dw), None

        (x, w), _ = jax.lax.scan(critic_step, (x, w), None, length=config.utd_ratio)
        y = jnp.einsum("ebi,eio->ebo", x, w)  # the actor step: the ensemble's forward and dQ/da
        return jnp.einsum("ebo,eio->ebi", y, w), w

    return _median_seconds(lambda _: dots(x, w), None, repeats, calls)


def bench_ogpo(repeats: int = 3, calls: int = 3) -> Iterator[dict]:
    """OGPO updates per second (one critic and one actor step, the success-buffer term on) for the
    authors' sizes and robokit's CPU preset, on PickCube's chunked spec (state 10, 4 x 4 actions)."""
    from robokit.agents.ogpo.agent import OGPO
    from robokit.agents.ogpo.config import FLOW_PRESETS

    rng = np.random.default_rng(0)
    spec = EnvSpec(observations=(("state", (10,), "float32"),), action_dim=16)
    for preset, config in FLOW_PRESETS.items():
        agent = OGPO(config, spec)
        state = agent.init(jax.random.PRNGKey(0))
        batch = jax.tree.map(jnp.asarray, synthetic_batch(spec, config.batch_size, rng))
        batch = {**batch, "successes": batch}
        seconds = _median_seconds(lambda s, a=agent, b=batch: a.update(s, b)[0], state, repeats, calls)
        yield _row(f"ogpo_{preset}", "update_ms", seconds * 1000, "ms")
        yield _row(f"ogpo_{preset}", "updates_per_s", 1.0 / seconds, "1/s")


def bench_famo2o(repeats: int = 3, calls: int = 10) -> Iterator[dict]:
    """FamO2O steps per second (IQL and AWAC bases, and fixed-beta IQL) beside SAC's CPU preset, on
    PickCube's state spec, alternated case by case in each repeat; each one's median time ratio to
    SAC's UTD update (FamO2O runs one whole step per env step, SAC four critic steps and an actor's)."""
    from robokit.agents.famo2o.agent import FamO2O
    from robokit.agents.famo2o.config import FamO2OConfig

    spec = PIXEL_CASES["pickcube_state"]
    agents = {
        "sac_cpu_preset": SAC(CPU_PRESET, spec),
        "famo2o_iql": FamO2O(FamO2OConfig(online=True), spec),
        "famo2o_awac": FamO2O(FamO2OConfig(base="awac", online=True), spec),
        "iql_fixed_beta": FamO2O(FamO2OConfig(fixed_beta=3.0), spec),
    }
    for case, times, ratio in _side_by_side(agents, "sac_cpu_preset", repeats, calls):
        yield _row(case, "update_ms", statistics.median(times) * 1000, "ms")
        yield _row(case, "updates_per_s", 1.0 / statistics.median(times), "1/s")
        if ratio is not None:
            yield _row(case, "update_time_vs_sac", ratio, "x")


def _median_seconds(step, value, repeats: int, calls: int) -> float:
    """Median wall seconds of one `value = step(value)` call, over `repeats` runs of `calls` calls
    each, after one call that compiles."""
    value = jax.block_until_ready(step(value))
    per_call = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            value = step(value)
        jax.block_until_ready(value)
        per_call.append((time.perf_counter() - start) / calls)
    return statistics.median(per_call)


def _flops(fn, *args) -> float:
    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0] if analysis else {}
    return float(analysis.get("flops", 0.0))


def _update_flops(agent: SAC, state, batch) -> float | None:
    """FLOPs of one UTD update: utd x one critic step + one actor step. (XLA's cost analysis counts
    a scan's body once, so the whole update cannot simply be lowered and asked.)"""
    config = agent.config
    minibatch = jax.tree.map(lambda x: x[: config.batch_size], batch)
    actor_batch = batch if config.actor_on_full_batch else minibatch
    critic = _flops(agent._critic_step, state, minibatch)
    actor = _flops(agent._actor_step, state, actor_batch)
    return config.utd_ratio * critic + actor or None


_row = functools.partial(bench_row, "learner", digits=4)
