"""Draws each training batch from several named replay buffers in fixed proportions (RLPD: 50/50)."""

from __future__ import annotations

import numpy as np

from robokit.data.replay import ReplayBuffer
from robokit.types import Batch

DEMOS = "demos"
"""The buffer whose rows a batch marks (`from_demos`), for losses that treat demos apart."""


class Mixer:
    def __init__(self, buffers: dict[str, ReplayBuffer], ratios: dict[str, float]):
        if set(buffers) != set(ratios):
            raise ValueError(
                f"ratios name {sorted(ratios)} but buffers are {sorted(buffers)}: name each once."
            )
        if any(r < 0 for r in ratios.values()) or sum(ratios.values()) <= 0:
            raise ValueError(f"ratios {ratios} must be non-negative and not all zero.")
        self.buffers = buffers
        total = sum(ratios.values())
        self.ratios = {k: v / total for k, v in ratios.items()}

    def counts(self, n: int) -> dict[str, int]:
        """How many of `n` samples each buffer gives; an empty buffer's share goes to the others."""
        live = {k: r for k, r in self.ratios.items() if len(self.buffers[k]) > 0 and r > 0}
        if not live:
            raise ValueError("every buffer is empty: collect or load data before sampling.")
        total = sum(live.values())
        counts = {k: int(np.floor(n * r / total)) for k, r in live.items()}
        # hand the rounding remainder to the largest shares first
        for k in sorted(live, key=lambda k: -live[k])[: n - sum(counts.values())]:
            counts[k] += 1
        return counts

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        """`n` samples by ratio, shuffled; with a "demos" buffer, `from_demos` (float32, 1 on its rows)."""
        counts = {k: c for k, c in self.counts(n).items() if c > 0}
        batch = _concat([self.buffers[k].sample(c, rng) for k, c in counts.items()])
        if DEMOS in self.buffers:
            batch["from_demos"] = np.concatenate(
                [np.full(c, k == DEMOS, np.float32) for k, c in counts.items()]
            )
        order = rng.permutation(n)  # so minibatches of a UTD scan each see the mixture
        return _take(batch, order)


def _concat(parts: list[Batch]) -> Batch:
    return {k: _merge([p[k] for p in parts]) for k in parts[0]}


def _merge(values):
    if isinstance(values[0], dict):
        return {k: np.concatenate([v[k] for v in values]) for k in values[0]}
    return np.concatenate(values)


def _take(batch: Batch, order: np.ndarray) -> Batch:
    return {
        k: ({kk: vv[order] for kk, vv in v.items()} if isinstance(v, dict) else v[order])
        for k, v in batch.items()
    }
