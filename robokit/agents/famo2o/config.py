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
    normalize_advantage: bool = True
    """Divide each batch's advantages by their standard deviation before the weight exp(beta A):
    beta then counts standard deviations, whatever the task's reward scale. The paper's ranges
    assume D4RL's reward scales; on robokit's 0-1 rewards the raw advantages have a standard
    deviation of ~0.025 (PickCube, mixed data), so beta * A stays below ~0.3 for every beta in
    [1, 10], the universal model barely depends on beta and the balance model has nothing to
    choose (measured: Q changed by 0.001 across the range). False: the paper's raw advantage."""
    beta_encoding_dim: int = 6
    beta_encoding_base: float = 1e4
    monotone_beta_code: bool = True
    """Encode beta * (pi / 2) / beta_hi rather than beta: the code's fastest sin-cos pair then turns
    less than a quarter period over the range, so a greedier beta is always further along it. The
    paper's code of beta itself turns once every 2 pi in beta (beta 1 and 7.3 nearly share it)."""
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    balance_lr: float = 3e-4
    temperature_lr: float = 3e-3
    """The balance temperature's learning rate: 10x the authors' 3e-4, so that alpha falls from
    its start within the first ~2k steps to where Q's small differences across beta (~0.005 on
    PickCube's 0-1 rewards) steer the balance model (at 3e-4 it chose ~5.5 everywhere after 10k)."""
    balance_init_temperature: float = 1.0
    """The balance temperature alpha's start (the authors': 1)."""
    balance_target_entropy: float = -0.5
    awac_samples: int = 4
    """AWAC: policy actions per state that estimate V(s) = E_a Q(s, a)."""
    policy_average: float = 0.001
    """The policy acts (and is evaluated, checkpointed for acting, sent to actors) with a Polyak
    average of the universal and balance models' parameters, moved this far towards the latest
    ones each step (over the first 1 / rate steps, the plain mean so far); 0: the latest parameters,
    as the authors act. An advantage-weighted policy on a few thousand transitions swings from one
    checkpoint to the next (PickCube's mixed data, 10k offline steps, seeds 0 / 1 / 2: FamO2O 74 /
    20 / 18% with the latest parameters, 68 / 62 / 44% with the average of the same run's; over
    FamO2O and IQL at beta 1, 3 and 10, 52% against 64%)."""

    def check(self) -> None:
        """One sentence naming the fix for a config that cannot train."""
        if not self.beta_lo < self.beta_hi:
            raise ValueError(
                f"the balance range [{self.beta_lo}, {self.beta_hi}] is empty: give beta_lo < beta_hi "
                "(the paper uses [1, 5] on locomotion, [8, 14] on AntMaze)."
            )
        if self.fixed_beta is not None and self.fixed_beta <= 0:
            raise ValueError(f"fixed_beta {self.fixed_beta} must be positive: pass e.g. 3.")
        if not 0.0 <= self.policy_average <= 1.0:
            raise ValueError(f"policy_average {self.policy_average} must be in [0, 1]: 0.001, or 0 for none.")
        if not 0.5 <= self.expectile < 1.0:
            raise ValueError(f"expectile {self.expectile} must be in [0.5, 1): IQL uses 0.7 to 0.9.")


PRESETS = {"cpu": FamO2OConfig(), "paper": FamO2OConfig(beta_lo=8.0, beta_hi=14.0, expectile=0.9)}
