"""OGPO / flow-policy hyperparameters: a plain dataclass, importable without JAX (the CLI parses it).

The defaults are the authors' Square script's values; FLOW_PRESETS["cpu"] scales them down so that
an update takes ~0.1 s on a 2-core CPU (the authors' sizes take ~3-7 s here).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlowConfig:
    flow_steps: int = 10
    """K: Euler steps from noise (t=0) to action (t=1)."""
    chunk: int = 4
    """H: env steps per action chunk."""
    sigma_base: float = 0.05
    """Noise scale of the stochastic sampler: sigma_i = sigma_base sqrt(1 - t_i)."""
    act_noise: float = 1.0
    """Scale of the starting noise of the deterministic ODE that acts when not exploring (1: a
    sample of the cloned distribution; 0: its centre, one action per state: a demonstrator's misses
    in all directions average out instead of being redrawn at every chunk)."""
    actor_hidden_dims: tuple[int, ...] = (512, 512, 512, 512)
    """Velocity-field MLP."""
    time_embedding_dim: int = 32
    critic_ensemble: int = 10
    critic_hidden_dims: tuple[int, ...] = (512, 512, 512, 512)
    """LayerNorm critics."""
    discount: float = 0.99
    critic_tau: float = 0.05
    actor_target_tau: float = 0.005
    bc_lr: float = 3e-4
    actor_lr: float = 4.5e-5
    """Online actor learning rate, cosine-decayed after a linear warm-up."""
    actor_warmup_steps: int = 2_000
    actor_decay_steps: int = 100_000
    critic_lr: float = 3e-4
    """The critic keeps its own rate online (the authors' code rebuilds its optimiser with the
    actor's rate when going online; robokit does not: a 15x slower critic lags a changing policy)."""
    weight_decay: float = 1e-4
    batch_size: int = 256
    utd_ratio: int = 1
    chains_per_state: int = 32
    """G: chains sampled per state for the group advantage."""
    next_actions: int = 1
    """G': next actions per TD target, reduced per critic then averaged (the authors' option: 8)."""
    next_action_reduce: str = "mean"
    """How the G' next-action values are reduced per critic: mean, median or trimmed (middle half)."""
    clip_eps: float = 0.01
    """PPO ratio clip."""
    success_bc_weight: float = 1.0
    """lambda: weight of the flow-matching loss on transitions of successful episodes."""


#: `robokit pretrain --preset`: the authors' sizes, or a CPU-sized variant (2 critics, 8 chains per
#: state, batches of 64, 2 x 256 networks; the online actor at the BC rate, 3e-4 after a 500-update
#: warm-up, cosine-decayed over 10k updates (40k env steps) instead of 100k: with 16x fewer chains
#: per batch and ~10k updates in a run, the authors' 4.5e-5 moved PickCube from 30% to only 74% in
#: 40k env steps; a constant 3e-4 passed 90% within 16k but kept moving once there); and the
#: success-buffer weight lambda at 0.1, not 1: with 2 critics and 8 chains the group advantages are
#: ~0.01, Adam normalises the summed gradient, and at lambda 1 the update was mostly flow matching on
#: past successes (the 30% start: 82% after 40k env steps at 1, 96% after 36k at 0.1)
def success_gate(config: FlowConfig) -> int:
    """The success-buffer loss joins once that buffer holds at least batch + H transitions."""
    return config.batch_size + config.chunk


FLOW_PRESETS = {
    "paper": FlowConfig(),
    "cpu": FlowConfig(
        actor_hidden_dims=(256, 256),
        critic_ensemble=2,
        critic_hidden_dims=(256, 256),
        batch_size=64,
        chains_per_state=8,
        actor_lr=3e-4,
        actor_warmup_steps=500,
        actor_decay_steps=10_000,
        success_bc_weight=0.1,
    ),
}
