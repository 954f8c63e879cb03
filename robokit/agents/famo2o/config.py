"""FamO2O hyperparameters: a plain dataclass, importable without JAX (the CLI parses it).

Defaults follow the paper's IQL base (Wang et al., NeurIPS 2023; Kostrikov et al. 2021) with the
AntMaze-style balance range for sparse-reward tasks: beta is an inverse temperature on the
advantage, so a higher beta follows the critic more greedily and a lower one stays near the data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FamO2OConfig:
    base: Literal["iql", "awac"] = "iql"
    """Critic base: IQL (V by expectile regression, Q <- r + gamma V(s')) or AWAC (no V; the
    advantage and the TD target from the policy's own actions)."""
    beta_lo: float = 1.0
    beta_hi: float = 10.0
    """The balance coefficient's range [beta_lo, beta_hi]."""
    fixed_beta: float | None = None
    """A constant beta in place of the balance model: fixed-beta IQL (or AWAC), the baseline."""
    online: bool = False
    """Online finetuning: the universal model trains at the balance model's beta (offline: at betas
    drawn uniformly from the range). `robokit train --algo famo2o --init RUN` turns it on."""
    hidden_dims: tuple[int, ...] = (256, 256)
    critic_ensemble: int = 2
    utd_ratio: int = 1
    """Whole FamO2O steps per env step (one jitted scan)."""
    batch_size: int = 256
    discount: float = 0.99
    tau: float = 0.005
    expectile: float = 0.7
    advantage_clip: float = 100.0
    """The exp-advantage weight's ceiling."""
    beta_encoding_dim: int = 6
    beta_encoding_base: float = 1e4
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    balance_lr: float = 3e-4
    temperature_lr: float = 3e-4
    balance_target_entropy: float = -0.5
    awac_samples: int = 4
    """AWAC: policy actions per state that estimate V(s) = E_a Q(s, a)."""

    def check(self) -> None:
        """One sentence naming the fix for a config that cannot train."""
        if not self.beta_lo < self.beta_hi:
            raise ValueError(
                f"the balance range [{self.beta_lo}, {self.beta_hi}] is empty: give beta_lo < beta_hi "
                "(the paper uses [1, 5] on locomotion, [8, 14] on AntMaze)."
            )
        if self.fixed_beta is not None and self.fixed_beta <= 0:
            raise ValueError(f"fixed_beta {self.fixed_beta} must be positive: pass e.g. 3.")
        if not 0.5 <= self.expectile < 1.0:
            raise ValueError(f"expectile {self.expectile} must be in [0.5, 1): IQL uses 0.7 to 0.9.")


PRESETS = {"cpu": FamO2OConfig(), "paper": FamO2OConfig(beta_lo=8.0, beta_hi=14.0, expectile=0.9)}
