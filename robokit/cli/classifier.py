"""`robokit train-classifier`: fit a reward (or reset) classifier to labelled frames and report it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

IMAGE_SHAPE_RANK = 3


@dataclass(frozen=True)
class TrainClassifier:
    """Train a success classifier on labelled camera frames (datasets from `robokit record --frames`)."""

    data: Annotated[tuple[Path, ...], tyro.conf.UseAppendAction]
    """A Minari dataset whose episodes carry a per-step `success` label; repeat --data for several
    (e.g. the first round and a hard-negative round)."""
    out: Path
    """Folder to write the classifier to (replaced if it exists)."""
    cameras: tuple[str, ...] = ()
    """Image keys to classify from (default: every camera in the data)."""
    steps: int = 1500
    downsample: int = 2
    """Average-pool factor on each frame before the conv net."""
    seed: int = 0


def run(args: TrainClassifier) -> None:
    import time

    from rich.console import Console

    from robokit.data.datasets import read_episodes
    from robokit.rewards.classifier import ClassifierConfig, LabelledFrames, train_classifier

    console = Console()
    episodes = [ep for path in args.data for ep in read_episodes(path)]
    cameras = args.cameras or tuple(
        k for k, v in episodes[0].observations.items() if v.ndim == 1 + IMAGE_SHAPE_RANK
    )
    if not cameras:
        raise ValueError(
            f"{args.data[0]} holds no camera frames: record frames with a Vision env "
            "(robokit record --env PickCubeVision-v0 --frames)."
        )
    frames = LabelledFrames.from_episodes(episodes, tuple(cameras))
    console.print(
        f"{len(frames)} frames from {len(episodes)} episodes, {int(frames.labels.sum())} labelled success; "
        f"cameras {', '.join(cameras)}"
    )
    config = ClassifierConfig(
        image_keys=tuple(cameras), steps=args.steps, downsample=args.downsample, seed=args.seed
    )
    start = time.time()
    classifier = train_classifier(frames, config, log=console.print)
    classifier.data = tuple(str(Path(p).absolute()) for p in args.data)  # replayed when fine-tuning
    classifier.save(args.out)
    test = classifier.scores["test"]
    (tn, fp), (fn, tp) = test["confusion"]
    console.print(
        f"threshold {classifier.threshold:.3f} (chosen on {classifier.scores['validation_episodes']} "
        f"validation episodes); on {classifier.scores['test_episodes']} held-out test episodes "
        f"({test['frames']} frames): accuracy {test['accuracy']:.1%}, precision {test['precision']:.1%}, "
        f"recall {test['recall']:.1%}"
    )
    console.print(
        "confusion matrix (rows: true, columns: predicted)\n"
        f"              failure  success\n"
        f"  failure  {tn:10d} {fp:8d}\n"
        f"  success  {fn:10d} {tp:8d}"
    )
    console.print(f"classifier: {args.out} ({time.time() - start:.0f} s)")
