"""SAC/RLPD hyperparameters: a plain dataclass, importable without JAX (the CLI parses it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SACConfig:
    """SERL's RLPD values are the defaults; `robokit train` picks a CPU preset (see cli)."""

    critic_ensemble: int = 10
    """Number of critics."""
    critic_subsample: int = 2
    """Critics whose minimum forms the TD target (REDQ)."""
    critic_layer_norm: bool = True
    hidden_dims: tuple[int, ...] = (256, 256)
    utd_ratio: int = 8
    """Critic updates per env step, run as one jitted scan."""
    batch_size: int = 256
    discount: float = 0.99
    tau: float = 0.005
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    temperature_lr: float = 3e-4
    initial_temperature: float = 0.01
    """SERL starts the learned temperature at 1e-2: with sparse rewards in [0, 1], a start at 1 lets
    entropy swamp the Q values for the first ~10k updates."""
    target_entropy_scale: float = 0.5
    """Target entropy = -scale * |A| (SERL/RLPD: |A| / 2)."""
    backup_entropy: bool = False
    actor_on_full_batch: bool = False
    """SERL runs the actor step on all utd x batch samples; RLPD (default) on one minibatch."""
    bc_weight: float = 0.0
    """Weight of a behaviour-cloning term in the actor loss: the squared distance of the policy's
    mean action from the demo action, on the batch's demo rows (as in TD3+BC, Fujimoto & Gu 2021).
    0 (RLPD, SERL): none. It keeps the actor near the demos while no online episode succeeds yet."""
    image_embedding_dim: int = 50
    augment_images: bool = True
    """DrQ random shift (pad 4, random crop) on image observations, in the update only."""
    image_pad: int = 4


#: What `robokit train` runs by default on a 2-core CPU. SERL's RLPD values (10 critics, UTD 8)
#: cost ~6x more per env step here; 2 critics at UTD 4 reach the same success on PickCube in a
#: fraction of the wall time. `--preset serl` restores SERL's values.
CPU_PRESET = SACConfig(critic_ensemble=2, critic_subsample=2, utd_ratio=4)
PRESETS = {"cpu": CPU_PRESET, "serl": SACConfig()}
