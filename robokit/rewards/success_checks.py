"""Checked successes: a labeller confirms or rejects each success a reward classifier claims in
training, and the classifier learns from the verdicts.

A policy trained on a classifier's reward finds the frames where the classifier is wrong (a gripper
posed where the cube should be, the cube half-way) and earns its reward there; frames of expert
episodes never showed those. With checks, each episode the classifier ends as a success is shown to
a labeller: in simulation the simulator's own success flag, or a person (any `Labeller` callable;
robokit.rewards.operator_verdicts waits for the operator's console button or key press).
A confirmed claim stands. A rejected one earns no reward and ends the episode as a time-out would
(not terminal, so its value is still bootstrapped), and its frame becomes a hard negative.
`refresh` fine-tunes each classifier on its labelled frames, half of each batch replayed from the
frames it was first trained on, so that it stops claiming what was rejected (and the labeller is
asked less often) without forgetting the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from robokit.rewards.classifier import LabelledFrames, RewardClassifier, finetune_classifier

Labeller = Callable[[dict], bool]
"""Given the step's info, whether the episode really succeeded."""


def simulator_labeller(info: dict) -> bool:
    if "success" not in info:
        raise ValueError(
            "checking claimed successes needs a labeller, and this env reports no `success` info to "
            "stand in for one: check successes in simulation, or with --labeller operator."
        )
    return bool(info["success"])


class SuccessChecks:
    """Verdicts on claimed successes per direction (or task), the frames they were given on, and the
    counts: `asked` claims, of which `rejected` were false."""

    def __init__(self, classifiers: dict[str, RewardClassifier], labeller: Labeller = simulator_labeller,
                 finetune_steps: int = 200, replay: dict[str, LabelledFrames] | None = None):  # fmt: skip
        self.classifiers, self.labeller, self.finetune_steps = classifiers, labeller, finetune_steps
        self.replay = replay or {}
        """Per direction, the frames its classifier was trained on (`RewardClassifier.training_frames`)."""
        self.images: dict[str, dict[str, list]] = {d: {} for d in classifiers}
        self.labels: dict[str, list[bool]] = {d: [] for d in classifiers}
        self.fine_tuned = dict.fromkeys(classifiers, 0)
        self.tuned_on = dict.fromkeys(classifiers, 0)
        """Per direction, how many verdicts its last fine-tune saw (none new: no fine-tune)."""

    @property
    def asked(self) -> dict[str, int]:
        return {d: len(labels) for d, labels in self.labels.items()}

    @property
    def rejected(self) -> dict[str, int]:
        return {d: labels.count(False) for d, labels in self.labels.items()}

    def check(self, direction: str, frames: dict[str, np.ndarray], info: dict) -> bool:
        """The labeller's verdict on a claimed success (the frames the classifier saw)."""
        verdict = self.labeller(info)
        for key, frame in frames.items():
            self.images[direction].setdefault(key, []).append(np.array(frame, copy=True))
        self.labels[direction].append(verdict)
        return verdict

    def frames(self, direction: str) -> LabelledFrames:
        labels = np.asarray(self.labels[direction], bool)
        images = {k: np.stack(v) for k, v in self.images[direction].items()}
        return LabelledFrames(images, labels, np.arange(len(labels)))

    def refresh(self) -> list[str]:
        """Fine-tune each classifier that has both confirmed and rejected claims, and new verdicts
        since its last fine-tune, on all of its verdicts so far; the directions it fine-tuned."""
        tuned = []
        for direction, classifier in self.classifiers.items():
            labels = self.labels[direction]
            if not any(labels) or all(labels) or len(labels) == self.tuned_on[direction]:
                continue
            seed = self.fine_tuned[direction]
            tuned_classifier = finetune_classifier(
                classifier, self.frames(direction), self.finetune_steps, seed=seed,
                replay=self.replay.get(direction),
            )  # fmt: skip
            classifier.params = tuned_classifier.params  # in place: the envs hold this object
            self.fine_tuned[direction] += 1
            self.tuned_on[direction] = len(labels)
            tuned.append(direction)
        return tuned

    def counts(self) -> dict:
        return {
            "asked": self.asked,
            "rejected": self.rejected,
            "fine_tuned": dict(self.fine_tuned),
            "tuned_on": dict(self.tuned_on),
        }

    # -- persistence: a resumed run goes on with the fine-tuned classifiers and every verdict --------
    def save(self, folder: Path) -> None:
        for direction, classifier in self.classifiers.items():
            classifier.save(folder / direction)
            if self.labels[direction]:
                frames = self.frames(direction)
                arrays = {f"image_{k}": v for k, v in frames.images.items()}
                tmp = folder / f".{direction}-labels.npz"
                np.savez(tmp, labels=frames.labels, **arrays)
                tmp.replace(folder / f"{direction}-labels.npz")

    def load(self, folder: Path, counts: dict) -> None:
        """The classifiers and verdicts `save` wrote; `counts` (of a checkpoint) gives the
        fine-tuning counts (the others follow from the verdicts). A checkpoint older than
        `tuned_on` fine-tunes once more at its first refresh."""
        for direction in self.classifiers:
            if (folder / direction).is_dir():
                self.classifiers[direction].params = RewardClassifier.load(folder / direction).params
            path = folder / f"{direction}-labels.npz"
            if path.is_file():
                with np.load(path) as saved:
                    self.labels[direction] = [bool(x) for x in saved["labels"]]
                    keys = [k for k in saved.files if k.startswith("image_")]
                    self.images[direction] = {k.removeprefix("image_"): list(saved[k]) for k in keys}
        self.fine_tuned.update(counts.get("fine_tuned", {}))
        self.tuned_on.update(counts.get("tuned_on", {}))
