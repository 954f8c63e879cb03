"""What `robokit train` takes: the run's options and the agent presets (no JAX imported here)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from robokit.agents.sac_config import SACConfig

#: What `robokit train` runs by default on a 2-core CPU. SERL's RLPD values (10 critics, UTD 8)
#: cost ~6x more per env step here; 2 critics at UTD 4 reach the same success on PickCube in a
#: fraction of the wall time. `--preset serl` restores SERL's values.
CPU_PRESET = SACConfig(critic_ensemble=2, critic_subsample=2, utd_ratio=4)
PRESETS = {"cpu": CPU_PRESET, "serl": SACConfig()}
BUDGET_FIELDS = (
    "max_env_steps",
    "stop_at_success",
    "resume",
    "run_dir",
    "final_eval_episodes",
    "actors",
    "listen",
    "keys",
)


@dataclass(frozen=True)
class TrainConfig:
    env: str = "PickCube-v0"
    """Task id (state or Vision variant)."""
    demos: Path | None = None
    """Minari dataset of demonstrations; default: record `num_demos` with the scripted expert."""
    num_demos: int = 20
    demo_ratio: float = 0.5
    """Share of each batch drawn from the demos (RLPD: 0.5)."""
    preset: Literal["cpu", "serl"] = "cpu"
    """Agent preset: 'cpu' (2 critics, UTD 4) or 'serl' (SERL's RLPD: 10 critics, UTD 8)."""
    critic_ensemble: int | None = None
    """Override the preset's number of critics."""
    utd_ratio: int | None = None
    """Override the preset's critic updates per env step."""
    bc_weight: float | None = None
    """Add a behaviour-cloning term on the demo rows to the actor loss, with this weight (default 0)."""
    max_env_steps: int = 20_000
    start_after: int = 500
    """Env steps from the first policy (random for sac, --init's for ogpo) before updates start."""
    eval_every: int = 1000
    eval_episodes: int = 20
    final_eval_episodes: int = 50
    stop_at_success: float | None = 0.95
    """End training once three periodic evaluations in a row reach this success rate (None: use the
    whole budget)."""
    checkpoint_every: int = 5000
    seed: int = 0
    run_dir: Path | None = None
    """Run folder; default runs/<env>-<date>-<time>."""
    resume: Path | None = None
    """Continue the run in this folder from its latest checkpoint."""
    algo: Literal["sac", "ogpo"] = "sac"
    """sac: SAC/RLPD from demos. ogpo: finetune the flow policy of --init with OGPO (no demos
    online; the same actors, link and checkpoints as sac)."""
    init: Path | None = None
    """--algo ogpo: the run `robokit pretrain --algo flow-bc` wrote."""
    reward_classifier: Path | None = None
    """Reward (and end) episodes by this classifier (`robokit train-classifier --out`) instead of the
    simulator's success; evaluations still report the simulator's success."""
    actors: int = 1
    """Actor processes to start on this machine, linked to the learner over zmq on 127.0.0.1
    (0: one actor inside the learner's process, in lock-step, no network)."""
    listen: str = "127.0.0.1:0"
    """Address the learner listens on for actors (port 0: any free port)."""
    keys: Path | None = None
    """CURVE keys folder (`robokit keys`); required to listen on anything but loopback."""
    robot_config: Path | None = None
    """Train for the real robot this YAML file describes: actors run `robokit actor --config` with
    it; the learner only reads its observation sizes, records no demos and runs no evaluations."""

    def agent_config(self) -> SACConfig:
        base = PRESETS[self.preset]
        given = (
            ("critic_ensemble", self.critic_ensemble),
            ("utd_ratio", self.utd_ratio),
            ("bc_weight", self.bc_weight),
        )
        overrides = {k: v for k, v in given if v}
        if "critic_ensemble" in overrides:
            overrides["critic_subsample"] = min(base.critic_subsample, overrides["critic_ensemble"])
        return dataclasses.replace(base, **overrides)
