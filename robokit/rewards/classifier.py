"""Reward and reset classifiers: a binary "is this a success?" conv net over camera frames.

On a real arm nothing says when a task succeeded or when the scene is back at its start; SERL trains
a binary classifier on labelled camera frames instead. `train_classifier` fits one to frames labelled
per step (the `success` info of a Minari dataset, written by the simulator or by an operator's key
press), with class-balanced batches and DrQ random shifts. Episodes, never single frames, are split
three ways: one part trains, a validation part picks the decision threshold, and a test part that
played no role reports accuracy, precision and recall. The result is a folder with the weights
(flax msgpack) and a JSON card (cameras, frame shape, threshold, figures), written atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from robokit.agents.camera_nets import (
    camera_embeddings,
    check_frames,
    folder_digest,
    saved_folder,
    write_folder,
)
from robokit.agents.networks import MLP
from robokit.agents.preprocessing import random_shift

WEIGHTS, CARD = "classifier.msgpack", "classifier.json"


@dataclass(frozen=True)
class ClassifierConfig:
    image_keys: tuple[str, ...] = ("front", "wrist")
    downsample: int = 2
    """Average-pool factor applied to each frame before the conv net (128x128 frames -> 64x64)."""
    steps: int = 1500
    batch_size: int = 64
    learning_rate: float = 3e-4
    image_pad: int = 4
    """DrQ random-shift padding (pixels, after downsampling)."""
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0


class SuccessNet(nn.Module):
    """Per camera a strided conv encoder; their embeddings concatenated into an MLP; one logit."""

    image_keys: tuple[str, ...]
    downsample: int = 2

    @nn.compact
    def __call__(self, images: dict[str, jax.Array]) -> jax.Array:
        x = MLP((256,), activate_final=True)(camera_embeddings(images, self.image_keys, self.downsample))
        return nn.Dense(1)(x).squeeze(-1)


@dataclass
class LabelledFrames:
    """Frames of several episodes with a 0/1 label each; `episode` says which episode a frame is from."""

    images: dict[str, np.ndarray]  # key -> (N, H, W, 3) uint8
    labels: np.ndarray  # (N,) bool
    episode: np.ndarray  # (N,) int

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> LabelledFrames:
        return LabelledFrames(
            {k: v[mask] for k, v in self.images.items()}, self.labels[mask], self.episode[mask]
        )

    @classmethod
    def from_episodes(
        cls, episodes, image_keys: tuple[str, ...], label_key: str = "success"
    ) -> LabelledFrames:
        """Every observation of every episode, labelled by the episode's per-step `label_key` info."""
        images, labels, which = {k: [] for k in image_keys}, [], []
        for index, ep in enumerate(episodes):
            missing = [k for k in image_keys if k not in ep.observations]
            if missing:
                raise ValueError(
                    f"the dataset's observations have no {missing} images (it has "
                    f"{sorted(ep.observations)}): record frames with a Vision env or a camera config."
                )
            if label_key not in ep.infos:
                raise ValueError(
                    f"the dataset's episodes carry no per-step {label_key!r} label: record them with "
                    "`robokit record --frames` (or label them with the keyboard on the real arm)."
                )
            for k in image_keys:
                images[k].append(ep.observations[k])
            labels.append(np.asarray(ep.infos[label_key], bool))
            which.append(np.full(len(ep.infos[label_key]), index))
        return cls(
            {k: np.concatenate(v) for k, v in images.items()}, np.concatenate(labels), np.concatenate(which)
        )


@dataclass
class Scores:
    threshold: float
    accuracy: float
    precision: float
    recall: float
    confusion: list[list[int]]  # [[true neg, false pos], [false neg, true pos]]
    frames: int

    @classmethod
    def of(cls, probs: np.ndarray, labels: np.ndarray, threshold: float) -> Scores:
        predicted = probs >= threshold
        tp = int(np.sum(predicted & labels))
        fp = int(np.sum(predicted & ~labels))
        fn = int(np.sum(~predicted & labels))
        tn = int(np.sum(~predicted & ~labels))
        return cls(
            threshold=float(threshold),
            accuracy=(tp + tn) / max(len(labels), 1),
            precision=tp / max(tp + fp, 1),
            recall=tp / max(tp + fn, 1),
            confusion=[[tn, fp], [fn, tp]],
            frames=len(labels),
        )


def best_threshold(probs: np.ndarray, labels: np.ndarray) -> float:
    """The threshold with the highest accuracy on these frames, from a grid of 0.01 steps; of equals,
    the middle one (when the classes separate cleanly, halfway between them, not at either edge)."""
    grid = np.linspace(0.01, 0.99, 99)
    accuracy = np.array([np.mean((probs >= t) == labels) for t in grid])
    tied = grid[np.isclose(accuracy, accuracy.max())]
    return float(tied[len(tied) // 2])


def split_episodes(episodes: np.ndarray, config: ClassifierConfig) -> dict[str, np.ndarray]:
    """Frame masks of the train / validation / test parts, whole episodes to a part."""
    ids = np.unique(episodes)
    if len(ids) < 3:
        raise ValueError(
            f"the dataset has {len(ids)} episode(s): record at least 3 (better 50-100) so that whole "
            "episodes can be held out for the threshold and the test."
        )
    rng = np.random.default_rng(config.seed)
    ids = rng.permutation(ids)
    n_val = max(1, round(config.validation_fraction * len(ids)))
    n_test = max(1, round(config.test_fraction * len(ids)))
    parts = {"test": ids[:n_test], "validation": ids[n_test : n_test + n_val], "train": ids[n_test + n_val :]}
    return {name: np.isin(episodes, part) for name, part in parts.items()}


@dataclass
class RewardClassifier:
    """A trained classifier: `probability(images)` and `__call__(images) -> bool` at its threshold."""

    config: ClassifierConfig
    params: dict
    frame_shapes: dict[str, tuple[int, int, int]]
    threshold: float
    scores: dict = field(default_factory=dict)
    data: tuple[str, ...] = ()
    """The datasets it was trained on (replayed when it is fine-tuned on new verdicts)."""

    def __post_init__(self) -> None:
        net = SuccessNet(self.config.image_keys, self.config.downsample)
        self._logits = jax.jit(net.apply)

    def check_frames(self, images: dict[str, np.ndarray]) -> None:
        check_frames(
            self.frame_shapes, images, "the classifier", "retrain the classifier on frames of this size"
        )

    def probability(self, images: dict[str, np.ndarray]) -> np.ndarray:
        """Success probability of each frame (a batch: (N, H, W, 3) per camera)."""
        self.check_frames(images)
        batch = {k: jnp.asarray(images[k]) for k in self.config.image_keys}
        return np.asarray(jax.nn.sigmoid(self._logits({"params": self.params}, batch)))

    def __call__(self, images: dict[str, np.ndarray]) -> bool:
        """Whether one observation (no batch axis) shows success."""
        single = {k: np.asarray(images[k])[None] for k in self.config.image_keys}
        return bool(self.probability(single)[0] >= self.threshold)

    def save(self, out: Path) -> Path:
        """Write the folder `out` all at once (a reader never sees half a classifier)."""
        card = {
            "config": asdict(self.config),
            "frame_shapes": {k: list(v) for k, v in self.frame_shapes.items()},
            "threshold": self.threshold,
            "scores": self.scores,
            "data": list(self.data),
        }
        weights = serialization.msgpack_serialize(jax.device_get(self.params))
        return write_folder(out, {WEIGHTS: weights, CARD: json.dumps(card, indent=2).encode()})

    @staticmethod
    def fingerprint(folder: Path) -> str:
        """'classifier <hash of its files>': what a learner and its actors compare, so that no actor
        rewards episodes by another classifier than the learner's."""
        return f"classifier {folder_digest(_checked_folder(folder), (WEIGHTS, CARD))}"

    @classmethod
    def load(cls, folder: Path) -> RewardClassifier:
        folder = _checked_folder(folder)
        card = json.loads((folder / CARD).read_text())
        fields = dict(card["config"])
        fields["image_keys"] = tuple(fields["image_keys"])
        params = serialization.msgpack_restore((folder / WEIGHTS).read_bytes())
        shapes = {k: tuple(v) for k, v in card["frame_shapes"].items()}
        return cls(
            ClassifierConfig(**fields), params, shapes, float(card["threshold"]), card.get("scores", {}),
            tuple(card.get("data", ())),
        )  # fmt: skip

    def training_frames(self) -> LabelledFrames:
        """The labelled frames of the datasets it was trained on (one sentence when it names none)."""
        from robokit.data.datasets import read_episodes

        if not self.data:
            raise ValueError(
                "this classifier's card names no training data, which fine-tuning replays: retrain it "
                "with robokit train-classifier (the card then lists its --data)."
            )
        episodes = [ep for path in self.data for ep in read_episodes(Path(path))]
        return LabelledFrames.from_episodes(episodes, self.config.image_keys)


def _bce_loss(params, apply, images, labels):
    logits = apply({"params": params}, images)
    return optax.sigmoid_binary_cross_entropy(logits, labels.astype(jnp.float32)).mean()


def train_classifier(frames: LabelledFrames, config: ClassifierConfig, log=None) -> RewardClassifier:
    """Fit a classifier to labelled frames; the threshold comes from validation episodes and the
    returned `scores` from test episodes that neither training nor the threshold saw."""
    positives = int(frames.labels.sum())
    if positives == 0 or positives == len(frames):
        which = "success" if positives else "failure"
        raise ValueError(
            f"the frames are all {which} frames ({len(frames)} of them): a classifier needs both kinds; "
            "record failure and success frames (robokit record --frames labels both)."
        )
    parts = {name: frames.subset(mask) for name, mask in split_episodes(frames.episode, config).items()}
    train = parts["train"]
    pos, neg = np.flatnonzero(train.labels), np.flatnonzero(~train.labels)
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError(
            "the training episodes hold only one kind of frame: record more episodes, with both "
            "successes and failures."
        )
    net = SuccessNet(config.image_keys, config.downsample)
    sample = {k: jnp.asarray(v[:1]) for k, v in train.images.items()}
    params = net.init(jax.random.PRNGKey(config.seed), sample)["params"]
    params = _fit(params, train, config, config.steps, config.learning_rate, config.seed, log)
    shapes = {k: tuple(v.shape[1:]) for k, v in frames.images.items()}
    classifier = RewardClassifier(config, params, shapes, threshold=0.5)
    val = parts["validation"]
    classifier.threshold = best_threshold(_batched_probability(classifier, val), val.labels)
    test = parts["test"]
    classifier.scores = {
        "test": asdict(Scores.of(_batched_probability(classifier, test), test.labels, classifier.threshold)),
        "validation_episodes": len(np.unique(val.episode)),
        "test_episodes": len(np.unique(test.episode)),
        "train_episodes": len(np.unique(train.episode)),
    }
    return classifier


def _fit(
    params,
    frames: LabelledFrames,
    config: ClassifierConfig,
    steps: int,
    learning_rate: float,
    seed: int,
    log=None,
    replay: LabelledFrames | None = None,
):
    """`steps` Adam steps on class-balanced batches of `frames` (half success, half failure frames,
    whatever their ratio), each frame DrQ-shifted. With `replay`, half of each batch comes from it
    (balanced the same way) instead."""
    net = SuccessNet(config.image_keys, config.downsample)
    optimizer = optax.adam(learning_rate)
    opt_state = optimizer.init(params)

    @partial(jax.jit, donate_argnums=(0, 1))
    def step(params, opt_state, images, labels, key):
        for image_key in config.image_keys:
            key, sub = jax.random.split(key)
            # image_pad is in pooled pixels; the shift happens on the full-size frame
            images[image_key] = random_shift(images[image_key], sub, config.image_pad * config.downsample)
        loss, grads = jax.value_and_grad(_bce_loss)(params, net.apply, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    sources = [frames] if replay is None else [frames, replay]
    classes = [(np.flatnonzero(f.labels), np.flatnonzero(~f.labels)) for f in sources]
    rng, key = np.random.default_rng(seed), jax.random.PRNGKey(seed)
    share = config.batch_size // (2 * len(sources))  # per source and class
    params = jax.tree.map(jnp.array, params)  # a copy: the caller's params are not donated
    for i in range(steps):
        picks = [
            (f, rng.choice(c, share))
            for f, (pos, neg) in zip(sources, classes, strict=True)
            for c in (pos, neg)
        ]
        images = {k: jnp.asarray(np.concatenate([f.images[k][j] for f, j in picks])) for k in frames.images}
        labels = jnp.asarray(np.concatenate([f.labels[j] for f, j in picks]))
        key, sub = jax.random.split(key)
        params, opt_state, loss = step(params, opt_state, images, labels, sub)
        if log is not None and (i + 1) % 250 == 0:
            log(f"step {i + 1}/{steps}: loss {float(loss):.4f}")
    return params


def finetune_classifier(
    classifier: RewardClassifier,
    frames: LabelledFrames,
    steps: int = 200,
    learning_rate: float = 1e-4,
    seed: int = 0,
    replay: LabelledFrames | None = None,
) -> RewardClassifier:
    """The classifier, further trained on newly labelled frames (e.g. the false successes an operator
    rejected during training, and the successes they confirmed); its threshold is kept. Needs both
    kinds of frame, so that correcting false successes does not teach it to see none. `replay` (its
    own training frames) fills half of each batch, so that a few dozen verdicts do not redraw the
    boundary everywhere else."""
    for name, part in (("new", frames), ("replayed", replay)):
        if part is None:
            continue
        kinds = int(part.labels.sum()), int((~part.labels).sum())
        if 0 in kinds:
            raise ValueError(
                f"fine-tuning needs success and failure frames, and the {name} frames have {kinds[0]} "
                f"and {kinds[1]}: label more frames first."
            )
    params = _fit(classifier.params, frames, classifier.config, steps, learning_rate, seed, replay=replay)
    return replace(classifier, params=params)


def _batched_probability(
    classifier: RewardClassifier, frames: LabelledFrames, batch: int = 256
) -> np.ndarray:
    if len(frames) == 0:
        return np.zeros(0)
    out = [
        classifier.probability({k: v[i : i + batch] for k, v in frames.images.items()})
        for i in range(0, len(frames), batch)
    ]
    return np.concatenate(out)


def evaluate_classifier(classifier: RewardClassifier, frames: LabelledFrames) -> Scores:
    """Agreement of the classifier (at its threshold) with the frames' labels."""
    return Scores.of(_batched_probability(classifier, frames), frames.labels, classifier.threshold)


def _checked_folder(folder: Path) -> Path:
    return saved_folder(folder, (WEIGHTS, CARD), "reward classifier", "robokit train-classifier --out")
