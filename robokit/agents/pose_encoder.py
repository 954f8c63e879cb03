"""A frozen image encoder robokit pretrains itself, as SERL freezes a pretrained ResNet, without any
download: a conv net per camera learns, from simulated frames under visual randomisation, to tell
where the task's object is (the simulator's object features are the targets). Its embedding and
its object estimate are then what a pixel policy reads in place of the frames, computed once per
frame where the frame is made; the same network doubles as a pose estimator.

    frames = PoseFrames(images={"front": (N, H, W, 3), "wrist": ...}, targets=(N, d), episode=(N,))
    encoder = train_pose_encoder(frames, EncoderConfig())      # test episodes report the error
    encoder.save(out); PoseEncoder.load(out).encode(images)    # (N, embedding_dim + d) float32

Episodes, never single frames, are split into training and test episodes; the card (JSON beside the
weights, written atomically with them) records the cameras, frame shapes, target scale, the test
episodes' mean error per target dimension against predicting the mean, and the data it came from.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import flax.linen as nn
import gymnasium as gym
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
from robokit.agents.preprocessing import colour_jitter, random_shift

WEIGHTS, CARD = "encoder.msgpack", "encoder.json"


@dataclass(frozen=True)
class EncoderConfig:
    image_keys: tuple[str, ...] = ("front", "wrist")
    downsample: int = 2
    """Average-pool factor before the conv net (128x128 frames -> 64x64)."""
    embedding_dim: int = 32
    steps: int = 3000
    batch_size: int = 64
    learning_rate: float = 3e-4
    image_pad: int = 4
    """DrQ random-shift padding (pooled pixels) while pretraining."""
    colour_jitter: float = 0.3
    """Brightness, contrast and per-channel gain drawn in [1 - j, 1 + j] per frame while pretraining
    (0: none), so the estimate survives lights and tints it was not shown."""
    test_fraction: float = 0.2
    seed: int = 0
    policy_input: str = "embedding+estimate"
    """What a policy reads from the frozen encoder: "embedding+estimate" (the embedding, then the
    standardised estimates) or "estimate" (the estimates alone, 6 numbers on PickCube). Measured on
    PickCube, one seed each: 100% under training looks both, 98% / 90% under held-out looks."""

    def __post_init__(self) -> None:
        if self.policy_input not in POLICY_INPUTS:
            raise ValueError(
                f"policy_input {self.policy_input!r} is unknown: use {' or '.join(POLICY_INPUTS)}."
            )


POLICY_INPUTS = ("embedding+estimate", "estimate")


@dataclass
class PoseFrames:
    images: dict[str, np.ndarray]
    targets: np.ndarray  # (N, d): the object features each frame shows
    episode: np.ndarray  # (N,): which episode each frame came from

    def subset(self, mask: np.ndarray) -> PoseFrames:
        return PoseFrames(
            {k: v[mask] for k, v in self.images.items()}, self.targets[mask], self.episode[mask]
        )


class PoseNet(nn.Module):
    """Per camera a strided conv encoder; an MLP over their embeddings gives a bounded embedding and,
    from it, the object's (standardised) features."""

    image_keys: tuple[str, ...]
    downsample: int
    embedding_dim: int
    target_dim: int

    @nn.compact
    def __call__(self, images: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        x = MLP((256,), activate_final=True)(camera_embeddings(images, self.image_keys, self.downsample))
        embedding = jnp.tanh(nn.Dense(self.embedding_dim)(x))
        return embedding, nn.Dense(self.target_dim)(embedding)


@dataclass
class PoseEncoder:
    config: EncoderConfig
    params: dict
    frame_shapes: dict[str, tuple[int, int, int]]
    target_mean: np.ndarray
    target_std: np.ndarray
    scores: dict
    data: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.net = PoseNet(self.config.image_keys, self.config.downsample, self.config.embedding_dim,
                           len(self.target_mean))  # fmt: skip
        self._apply = jax.jit(self.net.apply)

    @property
    def dim(self) -> int:
        """The length of what a policy reads (encode's rows)."""
        estimate = len(self.target_mean)
        return estimate if self.config.policy_input == "estimate" else self.config.embedding_dim + estimate

    def check_frames(self, images: dict[str, np.ndarray]) -> None:
        check_frames(
            self.frame_shapes,
            images,
            "the encoder",
            "pretrain one on them (robokit pretrain-encoder --camera-size)",
        )

    def _outputs(self, images: dict[str, np.ndarray]) -> tuple[jax.Array, jax.Array]:
        self.check_frames(images)
        frames = {k: jnp.asarray(images[k]) for k in self.config.image_keys}
        return self._apply({"params": self.params}, frames)

    def encode(self, images: dict[str, np.ndarray]) -> np.ndarray:
        """What a policy reads of each frame (a batch per camera): [embedding, standardised object
        estimate], or the standardised estimate alone (config.policy_input)."""
        embedding, estimate = self._outputs(images)
        if self.config.policy_input == "estimate":
            return np.asarray(estimate, np.float32)
        return np.asarray(jnp.concatenate([embedding, estimate], axis=-1), np.float32)

    def estimate(self, images: dict[str, np.ndarray]) -> np.ndarray:
        """The targets each frame shows, in the simulator's units (envs/pose_frames: the object
        features, then the object's position relative to the gripper)."""
        return np.asarray(self._outputs(images)[1]) * self.target_std + self.target_mean

    def save(self, out: Path) -> Path:
        """Write the folder `out` all at once (a reader never sees half an encoder)."""
        card = {
            "config": asdict(self.config),
            "frame_shapes": {k: list(v) for k, v in self.frame_shapes.items()},
            "target_mean": self.target_mean.tolist(),
            "target_std": self.target_std.tolist(),
            "scores": self.scores,
            "data": list(self.data),
        }
        weights = serialization.msgpack_serialize(jax.device_get(self.params))
        return write_folder(out, {WEIGHTS: weights, CARD: json.dumps(card, indent=2).encode()})

    @staticmethod
    def fingerprint(folder: Path) -> str:
        """'encoder <hash of its files>': what a learner and its actors compare, so that no actor
        feeds the policy another encoder's embeddings (same size, different meaning)."""
        folder = _checked_folder(folder)
        return f"encoder {folder_digest(folder, (WEIGHTS, CARD))}"

    @classmethod
    def load(cls, folder: Path) -> PoseEncoder:
        folder = _checked_folder(folder)
        card = json.loads((folder / CARD).read_text())
        fields = {**card["config"], "image_keys": tuple(card["config"]["image_keys"])}
        params = serialization.msgpack_restore((folder / WEIGHTS).read_bytes())
        shapes = {k: tuple(v) for k, v in card["frame_shapes"].items()}
        mean, std = (np.asarray(card[k], np.float32) for k in ("target_mean", "target_std"))
        return cls(
            EncoderConfig(**fields),
            params,
            shapes,
            mean,
            std,
            card.get("scores", {}),
            tuple(card.get("data", ())),
        )


def _checked_folder(folder: Path) -> Path:
    return saved_folder(folder, (WEIGHTS, CARD), "image encoder", "robokit pretrain-encoder --out")


def train_pose_encoder(frames: PoseFrames, config: EncoderConfig, log=None) -> PoseEncoder:
    """Fit the encoder on the training episodes; `scores` from test episodes it never saw."""
    episodes = np.unique(frames.episode)
    if len(episodes) < 5:
        raise ValueError(
            f"{len(episodes)} episodes are too few to pretrain and test an encoder: record 5 or more."
        )
    rng = np.random.default_rng(config.seed)
    test_episodes = rng.choice(episodes, max(1, round(config.test_fraction * len(episodes))), replace=False)
    is_test = np.isin(frames.episode, test_episodes)
    train, test = frames.subset(~is_test), frames.subset(is_test)
    mean, std = train.targets.mean(0), train.targets.std(0) + 1e-6
    net = PoseNet(config.image_keys, config.downsample, config.embedding_dim, frames.targets.shape[1])
    sample = {k: jnp.asarray(v[:1]) for k, v in train.images.items()}
    params = net.init(jax.random.PRNGKey(config.seed), sample)["params"]
    params = _fit(net, params, train, (train.targets - mean) / std, config, log)
    shapes = {k: tuple(v.shape[1:]) for k, v in frames.images.items()}
    encoder = PoseEncoder(config, params, shapes, mean.astype(np.float32), std.astype(np.float32), {})
    encoder.scores = _scores(encoder, test, train.targets.mean(0), len(np.unique(train.episode)))
    return encoder


def _fit(net: PoseNet, params, frames: PoseFrames, targets: np.ndarray, config: EncoderConfig, log):
    optimizer = optax.adam(config.learning_rate)
    opt_state = optimizer.init(params)

    def loss_fn(params, images, targets):
        _, estimate = net.apply({"params": params}, images)
        return jnp.mean((estimate - targets) ** 2)

    @partial(jax.jit, donate_argnums=(0, 1))
    def step(params, opt_state, images, targets, key):
        for image_key in config.image_keys:
            key, sub = jax.random.split(key)
            images[image_key] = random_shift(images[image_key], sub, config.image_pad * config.downsample)
            if config.colour_jitter > 0:
                key, sub = jax.random.split(key)
                images[image_key] = colour_jitter(images[image_key], sub, config.colour_jitter)
        loss, grads = jax.value_and_grad(loss_fn)(params, images, targets)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rng, key = np.random.default_rng(config.seed), jax.random.PRNGKey(config.seed)
    for i in range(config.steps):
        picks = rng.integers(0, len(targets), config.batch_size)
        images = {k: jnp.asarray(v[picks]) for k, v in frames.images.items()}
        key, sub = jax.random.split(key)
        params, opt_state, loss = step(params, opt_state, images, jnp.asarray(targets[picks]), sub)
        if log is not None and (i + 1) % 250 == 0:
            log(f"step {i + 1}/{config.steps}: loss {float(loss):.4f}")
    return params


def _scores(encoder: PoseEncoder, test: PoseFrames, train_mean: np.ndarray, train_episodes: int) -> dict:
    chunks = range(0, len(test.targets), 256)
    estimates = np.concatenate(
        [encoder.estimate({k: v[i : i + 256] for k, v in test.images.items()}) for i in chunks]
    )
    error = np.abs(estimates - test.targets).mean(0)
    baseline = np.abs(train_mean - test.targets).mean(0)  # predicting the training mean
    return {
        "test_mean_abs_error": error.round(5).tolist(),
        "mean_predictor_error": baseline.round(5).tolist(),
        "test_frames": len(test.targets),
        "test_episodes": len(np.unique(test.episode)),
        "train_episodes": train_episodes,
    }


EMBEDDING_KEY = "embedding"


def encoded(env, folder: Path):
    """`env` with its camera frames replaced by a pretrained encoder's output (Encoded)."""
    return Encoded(env, PoseEncoder.load(folder))


class Encoded(gym.ObservationWrapper):
    """The encoder's cameras replaced by obs["embedding"] (PoseEncoder.encode's row), computed
    once per frame here, where the frame is made (the actor): the replay buffer and every update
    then hold vectors only, and an image update costs what a state update does."""

    def __init__(self, env: gym.Env, encoder: PoseEncoder):
        super().__init__(env)
        self.encoder, self.keys = encoder, encoder.config.image_keys
        spaces = env.observation_space.spaces
        encoder.check_frames({k: np.zeros(spaces[k].shape, np.uint8) for k in self.keys if k in spaces})
        kept = {k: v for k, v in spaces.items() if k not in self.keys}
        kept[EMBEDDING_KEY] = gym.spaces.Box(-np.inf, np.inf, (encoder.dim,), np.float32)
        self.observation_space = gym.spaces.Dict(kept)
        self._frames: dict[str, np.ndarray] = {}

    def camera_frames(self) -> dict[str, np.ndarray]:
        """The newest frames the encoder read, {camera: (H, W, 3) uint8}: the observation carries
        only their embedding, so the actor sends these to the console (robokit.loop.actor)."""
        return self._frames

    def observation(self, obs: dict) -> dict:
        self._frames = {k: np.asarray(obs[k]) for k in self.keys}
        embedding = self.encoder.encode({k: frame[None] for k, frame in self._frames.items()})[0]
        return {**{k: v for k, v in obs.items() if k not in self.keys}, EMBEDDING_KEY: embedding}
