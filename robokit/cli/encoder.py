"""`robokit pretrain-encoder`: a frozen image encoder, pretrained on randomised simulated frames."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class PretrainEncoder:
    """Pretrain an image encoder that finds the task's object in camera frames: the scripted expert's
    episodes under visual randomisation, the simulator's object features as targets. Test episodes
    it never saw report its error; the folder (weights and card) is what a pixel policy reads."""

    env: str = "PickCubeVision-v0"
    """A Vision task (its cameras are the encoder's)."""
    episodes: int = 750
    """Expert episodes to take frames from (the noise varies episode by episode). Each is one cube
    start and one draw of the looks, so more episodes generalise better: 150 episodes left 1.4 cm of
    x error on test episodes, 750 left 0.5-0.8 cm (~18,000 frames, ~1.8 GB)."""
    looks: Literal["train", "held_out", "none"] = "train"
    """Visual randomisation of the frames (none: the plain cell)."""
    camera_size: int = 128
    every: int = 2
    """Keep every n-th frame of an episode."""
    steps: int = 3000
    """Training steps (batches of 64). 750 episodes and 3,000 steps, with colour jitter and the
    relative target: 0.3 cm relative to the gripper on test episodes, 0.4 cm under held-out looks."""
    embedding_dim: int = 32
    policy_input: Literal["embedding+estimate", "estimate"] = "embedding+estimate"
    """What a policy trained with --encoder reads: the embedding and the object estimates, or the
    estimates alone (PickCube, one seed each: 98% and 90% under held-out looks)."""
    seed: int = 0
    out: Path | None = None
    """Output folder; default encoders/<env>-<date>-<time>."""


def run(args: PretrainEncoder) -> None:
    from rich.console import Console

    from robokit.agents.pose_encoder import EncoderConfig, PoseFrames, train_pose_encoder
    from robokit.cli.common import new_folder
    from robokit.envs.pose_frames import collect_pose_frames
    from robokit.envs.registration import check_env_id

    console = Console()
    env_id = check_env_id(args.env)
    if args.episodes < 5:
        raise ValueError(
            f"--episodes {args.episodes} is too few to pretrain and test an encoder: use 5 or more."
        )
    out = args.out or new_folder(
        Path("encoders") / f"{env_id.split('/')[1]}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    looks = None if args.looks == "none" else args.looks
    console.print(f"recording {args.episodes} expert episodes of {env_id} (looks: {args.looks})")
    frames = PoseFrames(
        *collect_pose_frames(env_id, args.episodes, looks, args.seed, args.camera_size, args.every)
    )
    config = EncoderConfig(
        steps=args.steps, embedding_dim=args.embedding_dim, seed=args.seed, policy_input=args.policy_input
    )
    console.print(f"pretraining on {len(frames.targets)} frames for {args.steps} steps")
    encoder = train_pose_encoder(frames, config, log=console.print)
    encoder.data = (f"{env_id} expert, {args.episodes} episodes, looks {args.looks}, seed {args.seed}",)
    encoder.save(out)
    error, baseline = encoder.scores["test_mean_abs_error"], encoder.scores["mean_predictor_error"]
    cm = lambda values: ", ".join(f"{100 * v:.1f}" for v in values)  # noqa: E731
    for name, part in (("object position", slice(0, 3)), ("relative to the gripper", slice(-3, None))):
        console.print(
            f"{name}, error on test episodes: {cm(error[part])} cm "
            f"(predicting the mean: {cm(baseline[part])} cm)"
        )
    console.print(f"encoder: {out}")
