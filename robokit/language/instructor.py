"""The high-level policy (YAY Robot's Instructor): a short history of observations -> the instruction
to run now, among the known ones.

An MLP maps the last `history` "state" vectors (standardised) to a 384-d embedding; the logits are
its cosine similarity to every known instruction's embedding divided by a learned temperature, and
it is trained with cross-entropy against the instruction annotated `ahead` steps later (Shi et al.
2024, sec. IV-B; the authors' `Instructor`). Corrections become new labelled examples: finetuning
on demos plus corrections (oversampled) is what makes the next rollouts need fewer of them.

    examples = instructor_examples(episodes, config)             # (histories, labels)
    model = train_instructor(examples, table_vectors, config)
    chooser = model.chooser(texts, table_vectors)                 # obs -> text, for Instructed
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from robokit.agents.networks import MLP
from robokit.agents.preprocessing import state_statistics
from robokit.data.durable import write_durably
from robokit.language.encoder import EMBEDDING_DIM, EmbeddingTable


@dataclass(frozen=True)
class InstructorConfig:
    history: int = 4
    """Observations the instructor sees (the newest last)."""
    ahead: int = 2
    """Steps ahead of the newest observation whose instruction is the label."""
    hidden_dims: tuple[int, ...] = (256, 256)
    learning_rate: float = 1e-3
    batch_size: int = 256
    steps: int = 3000
    seed: int = 0


class InstructorNet(nn.Module):
    hidden_dims: tuple[int, ...]
    embedding_dim: int = EMBEDDING_DIM

    @nn.compact
    def __call__(self, histories: jax.Array, table: jax.Array) -> jax.Array:
        x = MLP(self.hidden_dims, layer_norm=True, activate_final=True)(histories)
        embedding = nn.Dense(self.embedding_dim)(x)
        embedding = embedding / (jnp.linalg.norm(embedding, axis=-1, keepdims=True) + 1e-6)
        log_temperature = self.param("log_temperature", lambda _: jnp.log(jnp.asarray(0.07)))
        return embedding @ table.T / jnp.exp(log_temperature)


def histories(states: np.ndarray, length: int) -> np.ndarray:
    """Row t: states t-length+1 .. t flattened (the first state repeated before the episode began)."""
    padded = np.concatenate([np.repeat(states[:1], length - 1, axis=0), states])
    return np.stack([padded[t : t + length].reshape(-1) for t in range(len(states))])


def instructor_examples(
    episodes, config: InstructorConfig, corrected: bool = False
) -> tuple[np.ndarray, ...]:
    """(histories, labels) of annotated episodes: the instruction_id in force `ahead` steps after each
    observation that an action followed (the episode's last one past its end); unknown phrases (-1)
    and practice corrections (said at random while recording, not what the scene asked for) are
    left out. infos[t] describes the instruction observation t carries. With `corrected`, a third
    array says which examples' labels are an operator's correction."""
    xs, ys, flags = [], [], []
    for episode in episodes:
        states = np.asarray(episode.observations["state"][:-1], np.float32)
        ids = np.asarray(episode.infos["instruction_id"][:-1])
        ahead = np.minimum(np.arange(len(ids)) + config.ahead, len(ids) - 1)
        labels = ids[ahead]
        practice = np.asarray(episode.infos.get("practice", np.zeros(len(ids) + 1, bool))[:-1])
        keep = (labels >= 0) & ~practice[ahead].astype(bool)
        xs.append(histories(states, config.history)[keep])
        ys.append(labels[keep])
        said = np.asarray(episode.infos.get("corrected", np.zeros(len(ids) + 1, bool))[:-1])
        flags.append(said[ahead][keep])
    x, y = np.concatenate(xs), np.concatenate(ys).astype(np.int32)
    return (x, y, np.concatenate(flags).astype(bool)) if corrected else (x, y)


def examples_with_corrections(
    episodes, corrections: list[Path], config: InstructorConfig, oversample: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(histories, labels, sampling weights) of annotated episodes (weight 1) plus the corrections of
    every corrections dataset (a Minari folder, or a folder of them such as a run's corrections/),
    weight `oversample`: each operator's correction with the observations before it (YAY Robot's new
    labels). Their other steps are left out: their labels are the instructor's own choices, the
    wrong ones among them too, and would teach it what it did instead of what it was told."""
    from robokit.data.datasets import datasets_under, read_episodes

    x, y = instructor_examples(episodes, config)
    weights = [np.ones(len(y))]
    for path in [found for folder in corrections for found in datasets_under(folder)]:
        cx, cy, told = instructor_examples(read_episodes(path), config, corrected=True)
        x, y = np.concatenate([x, cx[told]]), np.concatenate([y, cy[told]])
        weights.append(np.full(int(told.sum()), oversample))
    return x, y, np.concatenate(weights)


@dataclass
class Instructor:
    """A trained instructor: its parameters, the standardisation of its inputs and its config."""

    params: dict
    mean: np.ndarray
    std: np.ndarray
    config: InstructorConfig

    @functools.cached_property
    def _apply(self):
        """The network, compiled once (a chooser calls it at every control step)."""
        return jax.jit(InstructorNet(self.config.hidden_dims).apply)

    def logits(self, raw_histories: np.ndarray, table: np.ndarray) -> np.ndarray:
        x = (np.asarray(raw_histories, np.float32) - self.mean) / self.std
        return np.asarray(self._apply(self.params, jnp.asarray(x), jnp.asarray(table, jnp.float32)))

    def accuracy(self, examples: tuple[np.ndarray, np.ndarray], table: np.ndarray) -> float:
        x, y = examples
        return float(np.mean(self.logits(x, table).argmax(-1) == y)) if len(y) else float("nan")

    def chooser(self, texts: list[str], table: np.ndarray) -> HistoryChooser:
        return HistoryChooser(self, list(texts), np.asarray(table, np.float32))

    def save(self, folder: Path, texts: list[str], table: np.ndarray) -> None:
        """Parameters, input statistics, config and instructions, and the instructions' embeddings
        (`table`, one row per text) as instructions.npz: an actor runs it without the encoder."""
        from flax import serialization

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        EmbeddingTable(folder / "instructions.npz").add_all(texts, table)
        inputs = io.BytesIO()
        np.savez(inputs, mean=self.mean, std=self.std)
        meta = {"config": asdict(self.config), "instructions": list(texts)}
        write_durably(folder / "params.msgpack", serialization.msgpack_serialize(self.params))
        write_durably(folder / "inputs.npz", inputs.getvalue())
        write_durably(folder / "instructor.json", json.dumps(meta, indent=1).encode())

    @classmethod
    def load(cls, folder: Path) -> tuple[Instructor, list[str]]:
        from flax import serialization

        folder = Path(folder)
        meta = json.loads((folder / "instructor.json").read_text())
        config = InstructorConfig(**{**meta["config"], "hidden_dims": tuple(meta["config"]["hidden_dims"])})
        with np.load(folder / "inputs.npz") as inputs:
            mean, std = inputs["mean"], inputs["std"]
        params = serialization.msgpack_restore((folder / "params.msgpack").read_bytes())
        return cls(params, mean, std, config), meta["instructions"]


class HistoryChooser:
    """obs -> instruction text, keeping the last observations of the episode (reset() at its start)."""

    def __init__(self, instructor: Instructor, texts: list[str], table: np.ndarray):
        self.instructor, self.texts, self.table = instructor, texts, table
        self.states: list[np.ndarray] = []

    def reset(self) -> None:
        self.states = []

    def __call__(self, obs: dict) -> str:
        state = np.asarray(obs["state"], np.float32)
        length = self.instructor.config.history
        self.states = [*(self.states or [state] * length), state][-length:]
        logits = self.instructor.logits(np.concatenate(self.states)[None], self.table)
        return self.texts[int(np.argmax(logits[0]))]


def train_instructor(
    examples: tuple[np.ndarray, np.ndarray],
    table: np.ndarray,
    config: InstructorConfig,
    start: Instructor | None = None,
    weights: np.ndarray | None = None,
) -> Instructor:
    """Cross-entropy training (from `start`'s parameters and input statistics when finetuning);
    `weights` (one per example) sample examples in proportion, e.g. to oversample corrections."""
    x, y = examples
    mean, std = (start.mean, start.std) if start is not None else state_statistics(x)
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    xs, table = jnp.asarray((x - mean) / std), jnp.asarray(table, jnp.float32)
    ys = jnp.asarray(y)
    net = InstructorNet(config.hidden_dims)
    key = jax.random.PRNGKey(config.seed)
    params = start.params if start is not None else net.init(key, xs[:1], table)
    tx = optax.adam(config.learning_rate)
    opt = tx.init(params)

    @jax.jit
    def step(params, opt, idx):
        def loss_fn(p):
            logits = net.apply(p, xs[idx], table)
            return optax.softmax_cross_entropy_with_integer_labels(logits, ys[idx]).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    rng = np.random.default_rng(config.seed)
    p = None if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
    for _ in range(config.steps):
        idx = rng.choice(len(y), size=min(config.batch_size, len(y)), p=p)
        params, opt, _ = step(params, opt, jnp.asarray(idx))
    return Instructor(params, mean, std, config)


def instructing(folder: Path):
    """A function that puts an env under the instructor saved in `folder` (`robokit train-instructor
    --out`), loaded once: its observations carry the embedding of the instruction the instructor
    chooses, or of an operator's correction. Needs no encoder: the folder keeps its instructions'
    embeddings, corrections arrive embedded."""
    from robokit.language.instructed import Instructed

    folder = Path(folder)
    if not (folder / "instructor.json").exists():
        raise ValueError(f"{folder} holds no instructor: make one with `robokit train-instructor --out`.")
    instructor, texts = Instructor.load(folder)
    table = EmbeddingTable.open(folder / "instructions.npz")
    if any(text not in table for text in texts):
        raise ValueError(f"{folder} lacks its instructions' embeddings: train it again with this robokit.")
    vectors, history = table.embed_all(texts), instructor.config.history

    def instructed(env):
        state_dim = env.observation_space["state"].shape[0]
        if state_dim * history != instructor.mean.shape[0]:
            raise ValueError(
                f"the instructor in {folder} was trained on another task's states "
                f"({instructor.mean.shape[0] // history} values, this env has {state_dim}): train one "
                "on this task's demos."
            )
        return Instructed(env, table, instructor.chooser(texts, vectors), known=tuple(texts))

    return instructed
