"""What `robokit train` takes: the run's options (no JAX imported here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from robokit.agents.base import AgentChoice
from robokit.console.flags import ConsoleFlags
from robokit.launch.flags import FIELDS as LAUNCH_FIELDS

#: options a resumed run may change (its budget, where it runs)
BUDGET_FIELDS = (
    *LAUNCH_FIELDS,
    "max_env_steps",
    "stop_at_success",
    "resume",
    "run_dir",
    "final_eval_episodes",
    "actors",
    "listen",
    "keys",
    "console",
    "console_host",
    "console_token",
    "console_cert",
    "console_key",
    "console_insecure",
)


@dataclass(frozen=True)
class TrainConfig(AgentChoice, ConsoleFlags):
    env: str = "PickCube-v0"
    """Task id (state or Vision variant)."""
    demos: Path | None = None
    """Minari dataset of demonstrations; default: record `num_demos` with the scripted expert."""
    num_demos: int = 20
    demo_ratio: float = 0.5
    """Share of each batch drawn from the demos (RLPD: 0.5)."""
    max_env_steps: int = 20_000
    start_after: int = 500
    """Env steps from the first policy (random for sac, --init's for ogpo) before updates start."""
    eval_every: int = 1000
    eval_episodes: int = 20
    final_eval_episodes: int = 50
    eval_actions: Literal["mean", "sampled"] = "mean"
    """How evaluations act, and `robokit eval` after them: the policy's mean action, or actions sampled
    from it as in training (as HIL-SERL evaluates; PegInsert's mean jams at the rim more often)."""
    stop_at_success: float | None = 0.95
    """End training once three periodic evaluations in a row reach this success rate (None: use the
    whole budget)."""
    checkpoint_every: int = 5000
    seed: int = 0
    run_dir: Path | None = None
    """Run folder; default runs/<env>-<date>-<time>."""
    resume: Path | None = None
    """Continue the run in this folder from its latest checkpoint."""
    reward_classifier: Path | None = None
    """Reward (and end) episodes by this classifier (`robokit train-classifier --out`) instead of the
    simulator's success; evaluations still report the simulator's success."""
    encoder: Path | None = None
    """A pretrained image encoder (`robokit pretrain-encoder --out`): a Vision task's frames are
    encoded once by the actors, and the policy learns from the encoding (a frozen encoder)."""
    looks: Literal["none", "train", "held_out"] = "none"
    """Visual randomisation of a simulated task (lights, colours, camera pose, distractors), drawn
    anew at each reset; evaluations during the run use the same (`robokit eval --looks held_out`
    tries looks the policy never saw)."""
    cameras_like: Path | None = None
    """A robot.yaml: render the Vision task's cameras as the real ones it names (capture size, field
    of view from fy, crop, policy size), so that a policy trained here sees real frames as it saw
    simulated ones."""
    instructor: Path | None = None
    """A high-level instructor (`robokit train-instructor --out`) for a task with instructions
    (PackCubes-v0): the policy reads the instruction it chooses, or an operator's correction."""
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
